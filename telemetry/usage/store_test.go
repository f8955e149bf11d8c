package usage_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcphub/apigateway/telemetry/usage"
)

// Requests and bytes count for the deployment they were for and for its
// user, who sees all their deployments together.
func TestCountsPerDeploymentAndUser(t *testing.T) {
	t.Parallel()
	s := newStore(t, usage.Config{}, newClock())
	events := []usage.Event{
		{UserID: "u1", DeploymentID: "d1", Status: 200, BytesIn: 10, BytesOut: 100},
		{UserID: "u1", DeploymentID: "d1", Status: 200, BytesIn: 20, BytesOut: 200},
		{UserID: "u1", DeploymentID: "d2", Status: 200, BytesIn: 40, BytesOut: 400},
		{UserID: "u2", DeploymentID: "d3", Status: 200, BytesIn: 80, BytesOut: 800},
	}

	for _, e := range events {
		s.Record(e)
	}

	type totals struct {
		UserID            string
		Requests          int64
		BytesIn, BytesOut int64
	}
	tests := []struct {
		name string
		get  func(string) (usage.Summary, bool)
		id   string
		want totals
	}{
		{"deployment d1", s.Deployment, "d1", totals{"u1", 2, 30, 300}},
		{"deployment d2", s.Deployment, "d2", totals{"u1", 1, 40, 400}},
		{"deployment d3", s.Deployment, "d3", totals{"u2", 1, 80, 800}},
		{"user u1", s.User, "u1", totals{"", 3, 70, 700}},
		{"user u2", s.User, "u2", totals{"", 1, 80, 800}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum := mustSummary(t, tt.get, tt.id)
			got := totals{sum.UserID, sum.Requests, sum.BytesIn, sum.BytesOut}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("totals (-want +got):\n%s", diff)
			}
			if sum.ID != tt.id {
				t.Errorf("ID: got %q, want %q", sum.ID, tt.id)
			}
		})
	}
}

// Errors count by class: 4xx and 5xx, nothing else.
func TestErrorsByClass(t *testing.T) {
	t.Parallel()
	s := newStore(t, usage.Config{}, newClock())

	for _, status := range []int{0, 101, 200, 204, 301, 399, 400, 404, 429, 499, 500, 502, 599, 600} {
		s.Record(with(request(), func(e *usage.Event) { e.Status = status }))
	}

	sum := mustSummary(t, s.Deployment, "d1")
	if sum.Requests != 14 || sum.Errors4xx != 4 || sum.Errors5xx != 3 {
		t.Errorf("requests, 4xx, 5xx: got %d, %d, %d; want 14, 4, 3",
			sum.Requests, sum.Errors4xx, sum.Errors5xx)
	}
}

// Only authenticated, authorized requests are counted: an event without a
// user or a deployment, or with an id no gateway accepts, is dropped.
func TestEventsWithoutIDsAreIgnored(t *testing.T) {
	t.Parallel()
	s := newStore(t, usage.Config{}, newClock())
	long := strings.Repeat("x", 129)

	for _, e := range []usage.Event{
		{DeploymentID: "d1", Status: 200},
		{UserID: "u1", Status: 200},
		{Status: 200},
		{UserID: long, DeploymentID: "d1"},
		{UserID: "u1", DeploymentID: long},
	} {
		s.Record(e)
	}

	for _, id := range []string{"u1", long} {
		if sum, ok := s.User(id); ok || sum.Requests != 0 {
			t.Errorf("User(%.10s): got %d requests, %v; want 0, false", id, sum.Requests, ok)
		}
	}
	for _, id := range []string{"d1", long} {
		if sum, ok := s.Deployment(id); ok || sum.Requests != 0 {
			t.Errorf("Deployment(%.10s): got %d requests, %v; want 0, false", id, sum.Requests, ok)
		}
	}
	if users, deployments := s.Len(); users != 0 || deployments != 0 {
		t.Errorf("Len: got %d users, %d deployments; want none", users, deployments)
	}
}

// An id the store has never seen gets an empty summary with the window,
// so that a chart can draw it.
func TestUnknownIDHasEmptySummary(t *testing.T) {
	t.Parallel()
	s := newStore(t, usage.Config{Buckets: 3}, newClock())

	sum, ok := s.Deployment("nobody")

	if ok {
		t.Error("ok: got true, want false")
	}
	want := usage.Summary{
		ID:           "nobody",
		Start:        start.Add(-2 * time.Minute),
		End:          start.Add(time.Minute),
		DetailsStart: start.Add(-2 * time.Minute),
		Countries:    usage.Top{Keys: []usage.Count{}},
		Routes:       usage.Top{Keys: []usage.Count{}},
		Series: []usage.Point{
			{Start: start.Add(-2 * time.Minute)},
			{Start: start.Add(-time.Minute)},
			{Start: start},
		},
	}
	if diff := cmp.Diff(want, sum); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}

// An event stamped in the past counts in its bucket while that is in the
// window; one stamped in the future counts now, so that a skewed clock
// cannot push the window ahead.
func TestEventTimes(t *testing.T) {
	t.Parallel()
	clk := newClock()
	clk.Advance(30 * time.Minute)
	s := newStore(t, usage.Config{Buckets: 60}, clk)
	now := clk.Now()

	for _, at := range []time.Time{
		now,
		now.Add(-5 * time.Minute),
		now.Add(-59 * time.Minute),
		now.Add(-60 * time.Minute), // out of the window
		now.Add(time.Hour),         // counts now
		{},                         // now
	} {
		s.Record(with(request(), func(e *usage.Event) { e.Time = at }))
	}

	sum := mustSummary(t, s.Deployment, "d1")
	got := map[time.Time]int64{}
	for _, p := range sum.Series {
		if p.Requests > 0 {
			got[p.Start] = p.Requests
		}
	}
	want := map[time.Time]int64{now: 3, now.Add(-5 * time.Minute): 1, now.Add(-59 * time.Minute): 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests by bucket (-want +got):\n%s", diff)
	}
	if sum.Requests != 5 {
		t.Errorf("requests: got %d, want 5", sum.Requests)
	}
}

// UserDeployments lists the user's own deployments with requests in the
// window, by id, and no one else's.
func TestUserDeployments(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newStore(t, usage.Config{}, clk)
	for _, e := range []usage.Event{
		{UserID: "u1", DeploymentID: "d2"},
		{UserID: "u1", DeploymentID: "d1"},
		{UserID: "u2", DeploymentID: "d3"},
		{UserID: "u1", DeploymentID: "old", Time: start.Add(-30 * time.Minute)},
	} {
		s.Record(e)
	}
	clk.Advance(45 * time.Minute) // "old" leaves the window

	got := []string{}
	for _, sum := range s.UserDeployments("u1") {
		got = append(got, sum.ID)
	}

	if diff := cmp.Diff([]string{"d1", "d2"}, got); diff != "" {
		t.Errorf("deployments of u1 (-want +got):\n%s", diff)
	}
	if got := s.UserDeployments("nobody"); len(got) != 0 {
		t.Errorf("deployments of nobody: got %d, want none", len(got))
	}
}

// The store never gives back a client's address, not even in JSON.
func TestClientAddressesAreNeverReturned(t *testing.T) {
	t.Parallel()
	s := newStore(t, usage.Config{}, newClock())
	addrs := []string{"192.0.2.1", "2001:db8::7", "198.51.100.23"}
	for _, addr := range addrs {
		s.Record(with(request(), func(e *usage.Event) { e.ClientIP = addr }))
	}

	user, _ := s.User("u1")
	deployment, _ := s.Deployment("d1")
	out, err := json.Marshal([]usage.Summary{user, deployment})
	if err != nil {
		t.Fatal(err)
	}

	for _, addr := range addrs {
		if strings.Contains(string(out), addr) {
			t.Errorf("summary JSON holds %s: %s", addr, out)
		}
	}
	if deployment.Clients != 3 {
		t.Errorf("clients: got %d, want 3", deployment.Clients)
	}
}

// New refuses what it cannot honour, and the zero Config works.
func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     usage.Config
		wantErr string
	}{
		{"zero", usage.Config{}, ""},
		{"all set", usage.Config{Bucket: time.Second, Buckets: 1440, MaxUsers: 1,
			MaxDeployments: 1, MaxKeys: 256}, ""},
		{"negative bucket", usage.Config{Bucket: -time.Minute}, "Config.Bucket"},
		{"short bucket", usage.Config{Bucket: time.Millisecond}, "Config.Bucket"},
		{"negative buckets", usage.Config{Buckets: -1}, "Config.Buckets"},
		{"too many buckets", usage.Config{Buckets: 1441}, "Config.Buckets"},
		{"negative users", usage.Config{MaxUsers: -1}, "Config.MaxUsers"},
		{"negative deployments", usage.Config{MaxDeployments: -1}, "Config.MaxDeployments"},
		{"negative keys", usage.Config{MaxKeys: -1}, "Config.MaxKeys"},
		{"too many keys", usage.Config{MaxKeys: 257}, "Config.MaxKeys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := usage.New(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("New: got %v, want no error", err)
			case tt.wantErr == "" && s == nil:
				t.Error("New: got a nil store")
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("New: got %v, want an error about %s", err, tt.wantErr)
			}
		})
	}
}
