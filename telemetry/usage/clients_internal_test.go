package usage

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// The distinct-client count is exact for up to 16 clients, and within
// three standard errors (28%) for more. The test fixes the hash
// key, which a store draws at random, so that its result is the same on
// every run; the test runs with several keys.
func TestDistinctClientsApproximate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		clients int
		within  float64 // relative error allowed
	}{
		{0, 0}, {1, 0}, {2, 0}, {5, 0}, {16, 0},
		{17, 0.28}, {50, 0.28}, {300, 0.28}, {1000, 0.28}, {5000, 0.28},
	}
	keys := []hashKey{{1, 2}, {0x9e3779b97f4a7c15, 7}, {42, 0xdeadbeef}}
	var sumSquares float64
	var n int
	for _, tt := range tests {
		for _, key := range keys {
			t.Run(fmt.Sprintf("%d clients, key %x", tt.clients, key[0]), func(t *testing.T) {
				s := newTestStore(t)
				s.key = key
				for i := range tt.clients {
					ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
					// Each client sends three requests.
					for range 3 {
						s.Record(Event{UserID: "u1", DeploymentID: "d1", ClientIP: ip})
					}
				}

				sum, _ := s.Deployment("d1")

				want := int64(tt.clients)
				if e := math.Abs(float64(sum.Clients-want)) / max(float64(want), 1); e > tt.within {
					t.Errorf("clients: got %d, want %d within %.0f%%", sum.Clients, want, 100*tt.within)
				}
				if tt.clients > 16 {
					e := float64(sum.Clients-want) / float64(want)
					sumSquares += e * e
					n++
				}
			})
		}
	}
	// The observed error matches the documented standard error of 9%.
	if rms := math.Sqrt(sumSquares / float64(n)); rms > 0.15 {
		t.Errorf("root mean square error: got %.1f%%, want about 9%%", 100*rms)
	}
}

// The clients of a user are those of all their deployments, each counted
// once.
func TestDistinctClientsOfUser(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	s.key = hashKey{3, 4}
	for i := range 40 {
		ip := fmt.Sprintf("192.0.2.%d", i)
		s.Record(Event{UserID: "u1", DeploymentID: "d1", ClientIP: ip})
		if i%2 == 0 {
			s.Record(Event{UserID: "u1", DeploymentID: "d2", ClientIP: ip})
		}
	}

	user, _ := s.User("u1")
	d2, _ := s.Deployment("d2")

	if user.Clients < 38 || user.Clients > 42 {
		t.Errorf("clients of u1: got %d, want about 40", user.Clients)
	}
	if d2.Clients < 19 || d2.Clients > 21 {
		t.Errorf("clients of d2: got %d, want about 20", d2.Clients)
	}
}

// While each span saw at most 16 clients, the window's count is exact,
// however many spans it merges.
func TestDistinctClientsExactAcrossSpans(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s, err := New(Config{Now: func() time.Time { return now }}) // spans of 10 minutes
	if err != nil {
		t.Fatal(err)
	}
	for span := range 6 {
		// Ten clients a span: five seen before, five new.
		for i := range 10 {
			ip := fmt.Sprintf("192.0.2.%d", span*5+i)
			s.Record(Event{UserID: "u1", DeploymentID: "d1", ClientIP: ip})
		}
		now = now.Add(10 * time.Minute)
	}
	now = now.Add(-time.Minute) // the window holds all six spans

	sum, _ := s.Deployment("d1")

	if sum.Clients != 35 {
		t.Errorf("clients: got %d, want 35", sum.Clients)
	}
}

// Client addresses are hashed with a key of the store's own: another key
// hashes the same address differently, so the sketches of one store say
// nothing to anyone without its key.
func TestClientHashIsKeyed(t *testing.T) {
	t.Parallel()
	a, b := newHashKey(), newHashKey()
	if a == b {
		t.Fatalf("two keys drawn alike: %x", a)
	}

	for _, addr := range []string{"192.0.2.1", "2001:db8::1"} {
		first, again := a.hash(addr), a.hash(strings.Clone(addr))
		if first != again {
			t.Errorf("hash of %s changes under one key", addr)
		}
		if first == b.hash(addr) {
			t.Errorf("hash of %s is the same under two keys", addr)
		}
	}
}

// newTestStore returns a store with a fixed clock.
func newTestStore(t *testing.T) *Store {
	t.Helper()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s, err := New(Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
