package usage_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcphub/apigateway/telemetry/usage"
)

// Routes and countries are ranked by requests; beyond MaxKeys distinct
// keys, requests count as other, and requests without a key nowhere.
func TestTopKeysWithOther(t *testing.T) {
	t.Parallel()
	s := newStore(t, usage.Config{MaxKeys: 3}, newClock())
	requests := []struct {
		route, country string
		n              int
	}{
		{"/a", "DE", 1},
		{"/b", "FR", 5},
		{"/c", "DE", 3},
		{"/d", "US", 2}, // a fourth route and a third country
		{"/e", "JP", 4}, // a fifth route and a fourth country
		{"/b", "", 1},   // no country
		{"", "FR", 1},   // no route
	}
	for _, r := range requests {
		for range r.n {
			s.Record(with(request(), func(e *usage.Event) { e.Route, e.Country = r.route, r.country }))
		}
	}

	sum := mustSummary(t, s.Deployment, "d1")

	wantRoutes := usage.Top{
		Keys:  []usage.Count{{"/b", 6}, {"/c", 3}, {"/a", 1}},
		Other: 6,
	}
	if diff := cmp.Diff(wantRoutes, sum.Routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	wantCountries := usage.Top{
		Keys:  []usage.Count{{"FR", 6}, {"DE", 4}, {"US", 2}},
		Other: 4,
	}
	if diff := cmp.Diff(wantCountries, sum.Countries); diff != "" {
		t.Errorf("countries (-want +got):\n%s", diff)
	}
	if user := mustSummary(t, s.User, "u1"); !cmp.Equal(user.Routes, sum.Routes) {
		t.Errorf("user routes: got %+v, want %+v", user.Routes, sum.Routes)
	}
}

// A key without requests for a whole window makes room for a new one.
func TestIdleKeysMakeRoom(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newStore(t, usage.Config{Buckets: 6, MaxKeys: 2}, clk) // spans of one minute
	record := func(route string) {
		s.Record(with(request(), func(e *usage.Event) { e.Route = route }))
	}
	record("/a")
	record("/b")
	clk.Advance(3 * time.Minute)
	record("/b")
	record("/c") // no room: /a is in the window

	clk.Advance(3 * time.Minute) // /a leaves the window, /b and /c stay
	record("/d")                 // takes the place of /a
	record("/e")                 // no room

	got := mustSummary(t, s.Deployment, "d1").Routes
	want := usage.Top{Keys: []usage.Count{{"/b", 1}, {"/d", 1}}, Other: 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}

// Long keys are cut to 64 bytes, at the start of a character.
func TestLongKeysAreCut(t *testing.T) {
	t.Parallel()
	s := newStore(t, usage.Config{}, newClock())
	route := "/" + strings.Repeat("é", 40) // 81 bytes

	s.Record(with(request(), func(e *usage.Event) { e.Route = route }))

	got := mustSummary(t, s.Deployment, "d1").Routes.Keys
	want := []usage.Count{{"/" + strings.Repeat("é", 31), 1}} // 63 bytes
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}
