package breaker_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcphub/apigateway/breaker"
)

// One deployment's open breaker does not block another deployment, of the
// same user or another.
func TestDeploymentsDoNotShareBreakers(t *testing.T) {
	t.Parallel()
	failing, healthy := status(http.StatusBadGateway), status(http.StatusOK)
	byKey := &fakeUpstream{respond: func(r *http.Request) (*http.Response, error) {
		if key, _ := breaker.FromContext(r.Context()); key == "dep-1" {
			return failing.RoundTrip(r)
		}
		return healthy.RoundTrip(r)
	}}
	b := newBreakers(t, breaker.Config{})
	rt := b.RoundTripper(byKey)

	sendN(t, rt, "dep-1", 5)

	mustRefuse(t, rt, "dep-1", byKey)
	for _, key := range []string{"dep-4", "dep-2"} {
		resp, err := send(t, rt, key)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("request for %s: got %v, %v; want 200", key, resp, err)
		}
		if got := b.State(key); got != breaker.Closed {
			t.Errorf("state of %s: got %v, want closed", key, got)
		}
	}
}

// Reset replaces an open breaker: the next request reaches the new
// instance, the breaker is built with the settings For returns then, and
// OnStateChange hears that the key is closed again.
func TestResetReplacesBreaker(t *testing.T) {
	t.Parallel()
	var rec recorder
	strict := 1
	b := newBreakers(t, breaker.Config{
		For: func(key string) (breaker.Settings, bool) {
			return breaker.Settings{ConsecutiveFailures: strict}, true
		},
		OnStateChange: rec.hook,
	})
	sw := &switchable{next: status(http.StatusServiceUnavailable)}
	rt := b.RoundTripper(sw)
	send(t, rt, "dep-1")
	redeployed := status(http.StatusOK)
	sw.set(redeployed)
	mustRefuse(t, rt, "dep-1", redeployed)
	strict = 2

	b.Reset("dep-1")

	if got := b.State("dep-1"); got != breaker.Closed {
		t.Errorf("state after Reset: got %v, want closed", got)
	}
	mustPass(t, rt, "dep-1", redeployed)
	want := []transition{
		{"dep-1", breaker.Closed, breaker.Open},
		{"dep-1", breaker.Open, breaker.Closed},
	}
	if diff := cmp.Diff(want, rec.transitions()); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
	sw.set(status(http.StatusServiceUnavailable))
	send(t, rt, "dep-1")
	if got := b.State("dep-1"); got != breaker.Closed {
		t.Errorf("one failure with the new settings (2 in a row): got %v, want closed", got)
	}
	b.Reset("dep-unknown") // no breaker: nothing happens
}

// The registry never holds more than MaxBreakers, however many keys see
// traffic, and its memory stays flat as keys come and go. Not parallel,
// so that other tests do not disturb the heap figures.
func TestRegistryIsBounded(t *testing.T) {
	const limit, keys = 10_000, 60_000
	before := heapInUse()
	b := newBreakers(t, breaker.Config{}) // MaxBreakers: 10,000
	rt := b.RoundTripper(status(http.StatusOK))

	heap := map[int]uint64{}
	for i := 1; i <= keys; i++ {
		send(t, rt, fmt.Sprintf("dep-%d", i))
		if i%1000 == 0 {
			if n := b.Len(); n > limit {
				t.Fatalf("after %d keys: Len %d, want at most %d", i, n, limit)
			}
		}
		if i%10_000 == 0 {
			heap[i] = heapInUse()
		}
	}

	if n := b.Len(); n != limit {
		t.Errorf("Len after %d keys: got %d, want %d", keys, n, limit)
	}
	// Once warm, replacing the registry's contents three more times must
	// not grow the heap by even half of what the first 10,000 took.
	full := int64(heap[10_000]) - int64(before)
	if growth := int64(heap[60_000]) - int64(heap[30_000]); growth > full/2 {
		t.Errorf("heap grew by %d bytes from 30,000 to 60,000 keys; want under %d", growth, full/2)
	}
	t.Logf("heap in use: %d before, %v after n keys; %d bytes per breaker",
		before, heap, full/limit)
	runtime.KeepAlive(b)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// Breakers no request used for IdleTimeout are dropped.
func TestIdleBreakersAreDropped(t *testing.T) {
	t.Parallel()
	b := newBreakers(t, breaker.Config{
		IdleTimeout: 50 * time.Millisecond,
		Default: breaker.Settings{
			Window: 50 * time.Millisecond, OpenDelay: 50 * time.Millisecond},
	})
	rt := b.RoundTripper(status(http.StatusOK))
	for i := range 100 {
		send(t, rt, fmt.Sprintf("dep-%d", i))
	}

	deadline := time.Now().Add(5 * time.Second)
	for b.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Len 5s after the last request: got %d, want 0", b.Len())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A breaker dropped while open is reported as closed: the key's next
// breaker starts closed.
func TestDroppedOpenBreakerReportsClosed(t *testing.T) {
	t.Parallel()
	var rec recorder
	b := newBreakers(t, breaker.Config{
		IdleTimeout: 10 * time.Millisecond,
		Default: breaker.Settings{
			Window: 10 * time.Millisecond, ConsecutiveFailures: 1, OpenDelay: 10 * time.Millisecond},
		OnStateChange: rec.hook,
	})
	send(t, b.RoundTripper(status(http.StatusBadGateway)), "dep-1")

	deadline := time.Now().Add(5 * time.Second)
	for b.Len() != 0 || len(rec.transitions()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("5s later: Len %d, transitions %v", b.Len(), rec.transitions())
		}
		time.Sleep(20 * time.Millisecond)
	}

	want := []transition{
		{"dep-1", breaker.Closed, breaker.Open},
		{"dep-1", breaker.Open, breaker.Closed},
	}
	if diff := cmp.Diff(want, rec.transitions()); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
}

// An idle open breaker is kept for its whole open delay, even past
// IdleTimeout: dropping it would let requests through early.
func TestIdleOpenBreakerIsKeptForItsDelay(t *testing.T) {
	t.Parallel()
	b := newBreakers(t, breaker.Config{
		IdleTimeout: 10 * time.Millisecond,
		Default: breaker.Settings{
			Window: 10 * time.Millisecond, ConsecutiveFailures: 1, OpenDelay: 3 * time.Second},
	})
	up := status(http.StatusBadGateway)
	rt := b.RoundTripper(up)
	send(t, rt, "dep-1")

	time.Sleep(300 * time.Millisecond)

	if got := b.State("dep-1"); got != breaker.Open {
		t.Errorf("state 300ms after tripping, idle: got %v, want open", got)
	}
	mustRefuse(t, rt, "dep-1", up)
}

// For gives single deployments their own settings; zero fields come from
// Default, and settings New would refuse fall back to Default, with a
// warning.
func TestPerDeploymentSettings(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	b := newBreakers(t, breaker.Config{
		Default: breaker.Settings{ConsecutiveFailures: 4},
		For: func(key string) (breaker.Settings, bool) {
			switch key {
			case "dep-strict":
				return breaker.Settings{ConsecutiveFailures: 2}, true
			case "dep-bad":
				return breaker.Settings{FailureRatio: 2}, true
			}
			return breaker.Settings{}, false
		},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	rt := b.RoundTripper(status(http.StatusBadGateway))
	tests := []struct {
		key      string
		failures int
	}{
		{"dep-strict", 2},
		{"dep-default", 4},
		{"dep-bad", 4},
	}
	for _, tt := range tests {
		sendN(t, rt, tt.key, tt.failures-1)
		if got := b.State(tt.key); got != breaker.Closed {
			t.Errorf("%s after %d failures: got %v, want closed", tt.key, tt.failures-1, got)
		}
		send(t, rt, tt.key)
		if got := b.State(tt.key); got != breaker.Open {
			t.Errorf("%s after %d failures: got %v, want open", tt.key, tt.failures, got)
		}
	}
	if log := logs.String(); !strings.Contains(log, "key=dep-bad") ||
		!strings.Contains(log, "FailureRatio") {
		t.Errorf("log: got %q, want a warning about dep-bad's FailureRatio", logs.String())
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  breaker.Config
	}{
		{"ratio over 1", breaker.Config{Default: breaker.Settings{FailureRatio: 1.5}}},
		{"both rules off", breaker.Config{Default: breaker.Settings{
			FailureRatio: -1, ConsecutiveFailures: -1}}},
		{"negative MinRequests", breaker.Config{Default: breaker.Settings{MinRequests: -1}}},
		{"short window", breaker.Config{Default: breaker.Settings{Window: time.Millisecond}}},
		{"negative delay", breaker.Config{Default: breaker.Settings{OpenDelay: -time.Second}}},
		{"too many trials", breaker.Config{Default: breaker.Settings{HalfOpenRequests: 1 << 20}}},
		{"too long a streak", trips(1<<20, 0)},
		{"negative MaxBreakers", breaker.Config{MaxBreakers: -1}},
		{"negative IdleTimeout", breaker.Config{IdleTimeout: -time.Second}},
	}
	for _, tt := range tests {
		if _, err := breaker.New(tt.cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", tt.name)
		}
	}
	if _, err := breaker.New(breaker.Config{}); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}
