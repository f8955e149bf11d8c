package usage_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcphub/apigateway/telemetry/usage"
)

// Requests count in the bucket they finish in; as time passes, the window
// moves on by whole buckets and old buckets leave it.
func TestBucketsRollOver(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newStore(t, usage.Config{Bucket: time.Minute, Buckets: 3}, clk)

	// One request in the first minute, two in the second, four in the
	// third, eight in the fourth.
	for minute, n := range []int{1, 2, 4, 8} {
		for range n {
			s.Record(with(request(), func(e *usage.Event) { e.BytesOut = 10 }))
		}
		if minute < 3 {
			clk.Advance(time.Minute)
		}
	}
	clk.Advance(59 * time.Second) // still in the fourth minute

	sum := mustSummary(t, s.Deployment, "d1")
	want := []usage.Point{
		{Start: start.Add(1 * time.Minute), Requests: 2, BytesOut: 20},
		{Start: start.Add(2 * time.Minute), Requests: 4, BytesOut: 40},
		{Start: start.Add(3 * time.Minute), Requests: 8, BytesOut: 80},
	}
	if diff := cmp.Diff(want, sum.Series); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
	if sum.Requests != 14 || sum.BytesOut != 140 {
		t.Errorf("totals: got %d requests, %d bytes; want 14, 140", sum.Requests, sum.BytesOut)
	}
	if !sum.Start.Equal(start.Add(time.Minute)) || !sum.End.Equal(start.Add(4*time.Minute)) {
		t.Errorf("window: got %v to %v, want %v to %v",
			sum.Start, sum.End, start.Add(time.Minute), start.Add(4*time.Minute))
	}

	// Two minutes later only the fourth minute is left; three minutes
	// later nothing is.
	clk.Advance(2 * time.Minute)
	if sum := mustSummary(t, s.User, "u1"); sum.Requests != 8 {
		t.Errorf("requests two minutes on: got %d, want 8", sum.Requests)
	}
	clk.Advance(time.Minute)
	if sum, ok := s.User("u1"); ok || sum.Requests != 0 {
		t.Errorf("three minutes on: got %d requests, %v; want 0, false", sum.Requests, ok)
	}
}

// A store that keeps recording over many windows keeps only the last one.
func TestOldBucketsDropOutOverManyWindows(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newStore(t, usage.Config{Buckets: 5}, clk)

	for range 50 {
		s.Record(request())
		s.Record(request())
		clk.Advance(time.Minute)
	}

	sum := mustSummary(t, s.Deployment, "d1")
	// The current minute has none yet.
	if sum.Requests != 8 {
		t.Errorf("requests: got %d, want 8", sum.Requests)
	}
	for i, p := range sum.Series {
		want := int64(2)
		if i == len(sum.Series)-1 {
			want = 0
		}
		if p.Requests != want {
			t.Errorf("series[%d]: got %d requests, want %d", i, p.Requests, want)
		}
	}
}

// Latency, clients, routes and countries are kept per span of a sixth of
// the window, and leave with their span: they may cover up to one span
// before the window, never more.
func TestDetailsLeaveWithTheirSpan(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newStore(t, usage.Config{Buckets: 60}, clk) // spans of 10 minutes
	s.Record(usage.Event{UserID: "u1", DeploymentID: "d1", Route: "/old", Country: "DE",
		ClientIP: "192.0.2.1", Duration: time.Second})
	clk.Advance(5 * time.Minute)
	s.Record(usage.Event{UserID: "u1", DeploymentID: "d1", Route: "/new", Country: "FR",
		ClientIP: "192.0.2.2", Duration: time.Millisecond})

	// 61 minutes after the first request the window starts at 12:02: the
	// first request has left it, but its span (12:00 to 12:10) overlaps
	// it.
	clk.Advance(56 * time.Minute)
	sum := mustSummary(t, s.Deployment, "d1")
	if sum.Requests != 1 {
		t.Errorf("requests: got %d, want 1", sum.Requests)
	}
	if !sum.DetailsStart.Equal(start) {
		t.Errorf("details start: got %v, want %v", sum.DetailsStart, start)
	}
	if got := routeKeys(sum.Routes); !cmp.Equal(got, []string{"/new", "/old"}) {
		t.Errorf("routes with the old span: got %v", got)
	}
	if sum.Clients != 2 {
		t.Errorf("clients with the old span: got %d, want 2", sum.Clients)
	}

	// At 13:10 the window starts at 12:11, after the span of both.
	clk.Advance(9 * time.Minute)
	if sum, ok := s.Deployment("d1"); ok || len(sum.Routes.Keys) != 0 ||
		len(sum.Countries.Keys) != 0 || sum.Clients != 0 || sum.Latency != (usage.Latency{}) {
		t.Errorf("after the span: got ok %v and details %+v", ok, sum)
	}
}

// routeKeys returns the keys of top, sorted by key.
func routeKeys(top usage.Top) []string {
	keys := []string{}
	for _, c := range top.Keys {
		keys = append(keys, c.Key)
	}
	slices.Sort(keys)
	return keys
}
