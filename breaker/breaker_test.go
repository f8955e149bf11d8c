package breaker_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcphub/apigateway/breaker"
)

// Each trip rule opens the breaker on its own, and an open breaker refuses
// requests without contacting the upstream.
func TestTrips(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		settings breaker.Settings
		failures int // failures in a row that trip it
	}{
		{"consecutive failures, ratio rule on", breaker.Settings{ConsecutiveFailures: 3}, 3},
		{"consecutive failures alone",
			breaker.Settings{ConsecutiveFailures: 3, FailureRatio: -1}, 3},
		{"defaults: 5 in a row", breaker.Settings{}, 5},
		{"failure ratio alone",
			breaker.Settings{FailureRatio: 0.5, MinRequests: 4, ConsecutiveFailures: -1}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := status(http.StatusServiceUnavailable)
			b := newBreakers(t, breaker.Config{Default: tt.settings})
			rt := b.RoundTripper(up)

			sendN(t, rt, "dep-1", tt.failures-1)
			if got := b.State("dep-1"); got != breaker.Closed {
				t.Fatalf("after %d failures: got %v, want closed", tt.failures-1, got)
			}
			send(t, rt, "dep-1")

			if got := b.State("dep-1"); got != breaker.Open {
				t.Fatalf("after %d failures: got %v, want open", tt.failures, got)
			}
			for range 20 {
				mustRefuse(t, rt, "dep-1", up)
			}
			if got := up.calls.Load(); got != int64(tt.failures) {
				t.Errorf("upstream calls: got %d, want %d", got, tt.failures)
			}
		})
	}
}

// The ratio rule trips on a mix of failures and successes that the
// consecutive rule would never see, once the window holds MinRequests.
func TestTripsOnFailureRatio(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	up := &fakeUpstream{respond: func(r *http.Request) (*http.Response, error) {
		if n.Add(1)%2 == 0 {
			return answer(r, http.StatusBadGateway), nil
		}
		return answer(r, http.StatusOK), nil
	}}
	b := newBreakers(t, breaker.Config{Default: breaker.Settings{
		FailureRatio: 0.5, MinRequests: 10, ConsecutiveFailures: 3}})
	rt := b.RoundTripper(up)

	sendN(t, rt, "dep-1", 9)
	if got := b.State("dep-1"); got != breaker.Closed {
		t.Fatalf("after 9 requests, 4 failed: got %v, want closed", got)
	}
	send(t, rt, "dep-1")

	if got := b.State("dep-1"); got != breaker.Open {
		t.Fatalf("after 10 requests, 5 failed: got %v, want open", got)
	}
}

// The request body of a refused request is closed, as the RoundTripper
// contract requires.
func TestRefusedRequestBodyIsClosed(t *testing.T) {
	t.Parallel()
	b := newBreakers(t, breaker.Config{Default: breaker.Settings{ConsecutiveFailures: 1}})
	rt := b.RoundTripper(status(http.StatusBadGateway))
	send(t, rt, "dep-1")
	body := &closeCounter{Reader: strings.NewReader("payload")}
	r := request("dep-1")
	r.Body = body

	_, err := rt.RoundTrip(r)

	if !errors.Is(err, breaker.ErrOpen) || body.closed.Load() != 1 {
		t.Errorf("got %v and %d closes; want ErrOpen and 1", err, body.closed.Load())
	}
}

type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error {
	c.closed.Add(1)
	return nil
}

// RetryAfter is the time left of the open delay.
func TestRetryAfterIsRemainingDelay(t *testing.T) {
	t.Parallel()
	const delay = 2 * time.Second
	up := status(http.StatusGatewayTimeout)
	b := newBreakers(t, trips(1, delay))
	rt := b.RoundTripper(up)

	beforeTrip := time.Now()
	send(t, rt, "dep-1")
	afterTrip := time.Now()
	time.Sleep(300 * time.Millisecond)
	beforeAsk := time.Now()
	open := mustRefuse(t, rt, "dep-1", up)
	afterAsk := time.Now()

	// The breaker opened between beforeTrip and afterTrip, and measured
	// its remaining delay between beforeAsk and afterAsk.
	lo, hi := delay-afterAsk.Sub(beforeTrip), delay-beforeAsk.Sub(afterTrip)
	if open.RetryAfter < lo || open.RetryAfter > hi {
		t.Errorf("RetryAfter: got %v, want between %v and %v", open.RetryAfter, lo, hi)
	}
}

// A half-open breaker lets HalfOpenRequests trial requests through at a
// time and refuses the others, with a zero RetryAfter, until the trials
// end; then it closes.
func TestHalfOpenLetsBoundedTrialsThrough(t *testing.T) {
	t.Parallel()
	const delay = 100 * time.Millisecond
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(2)
	blocking := &fakeUpstream{respond: func(r *http.Request) (*http.Response, error) {
		arrived.Done()
		<-release
		return answer(r, http.StatusOK), nil
	}}
	sw := &switchable{next: status(http.StatusServiceUnavailable)}
	b := newBreakers(t, breaker.Config{Default: breaker.Settings{
		ConsecutiveFailures: 2, OpenDelay: delay, HalfOpenRequests: 2}})
	rt := b.RoundTripper(sw)
	sendN(t, rt, "dep-1", 2)
	sw.set(blocking)
	time.Sleep(delay + 20*time.Millisecond)

	var refused atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := send(t, rt, "dep-1"); err != nil {
				t.Errorf("trial request: %v", err)
			}
		})
	}
	arrived.Wait()
	for range 10 {
		var open *breaker.OpenError
		if _, err := send(t, rt, "dep-1"); errors.As(err, &open) && open.RetryAfter == 0 {
			refused.Add(1)
		}
	}
	state := b.State("dep-1")
	close(release)
	wg.Wait()

	if got := blocking.calls.Load(); got != 2 {
		t.Errorf("trial requests that reached the upstream: got %d, want 2", got)
	}
	if got := refused.Load(); got != 10 {
		t.Errorf("requests refused with RetryAfter 0 during the trials: got %d, want 10", got)
	}
	if state != breaker.HalfOpen {
		t.Errorf("state during the trials: got %v, want half-open", state)
	}
	if got := b.State("dep-1"); got != breaker.Closed {
		t.Errorf("after two successful trials: got %v, want closed", got)
	}
	mustPass(t, rt, "dep-1", blockingDone(blocking))
}

// blockingDone returns a plain 200 upstream that shares calls with f, for
// the checks that follow a test with a blocking upstream.
func blockingDone(f *fakeUpstream) *fakeUpstream {
	f.respond = nil
	return f
}

// After its delay, the breaker closes if the trial succeeds and reopens,
// for another full delay, if it fails.
func TestHalfOpenOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		trial int
		want  breaker.State
	}{
		{"success closes", http.StatusOK, breaker.Closed},
		{"client error closes", http.StatusNotFound, breaker.Closed},
		{"failure reopens", http.StatusBadGateway, breaker.Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const delay = 100 * time.Millisecond
			sw := &switchable{next: status(http.StatusServiceUnavailable)}
			b := newBreakers(t, trips(2, delay))
			rt := b.RoundTripper(sw)
			sendN(t, rt, "dep-1", 2)
			trial := status(tt.trial)
			sw.set(trial)
			time.Sleep(delay + 20*time.Millisecond)

			mustPass(t, rt, "dep-1", trial)

			if got := b.State("dep-1"); got != tt.want {
				t.Fatalf("after the trial: got %v, want %v", got, tt.want)
			}
			if tt.want == breaker.Closed {
				mustPass(t, rt, "dep-1", trial)
				return
			}
			open := mustRefuse(t, rt, "dep-1", trial)
			if open.RetryAfter < delay-30*time.Millisecond {
				t.Errorf("RetryAfter after reopening: got %v, want about %v",
					open.RetryAfter, delay)
			}
		})
	}
}

// A trial request whose client goes away holds its permit no longer: the
// breaker reopens and tries again after its delay, rather than refusing
// every request for good.
func TestHalfOpenTrialCanceledByClient(t *testing.T) {
	t.Parallel()
	const delay = 100 * time.Millisecond
	sw := &switchable{next: status(http.StatusServiceUnavailable)}
	b := newBreakers(t, trips(1, delay))
	rt := b.RoundTripper(sw)
	send(t, rt, "dep-1")
	sw.set(&fakeUpstream{respond: func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}})
	time.Sleep(delay + 20*time.Millisecond)

	sendCanceled(t, rt, "dep-1", 10*time.Millisecond)

	if got := b.State("dep-1"); got != breaker.Open {
		t.Fatalf("after the trial's client went away: got %v, want open", got)
	}
	healthy := status(http.StatusOK)
	sw.set(healthy)
	time.Sleep(delay + 20*time.Millisecond)
	mustPass(t, rt, "dep-1", healthy)
	if got := b.State("dep-1"); got != breaker.Closed {
		t.Errorf("after the next trial succeeded: got %v, want closed", got)
	}
}

// OnStateChange hears the whole cycle, in order, with the key.
func TestOnStateChangeSeesCycle(t *testing.T) {
	t.Parallel()
	const delay = 100 * time.Millisecond
	var rec recorder
	sw := &switchable{next: status(http.StatusServiceUnavailable)}
	b := newBreakers(t, breaker.Config{
		Default:       breaker.Settings{ConsecutiveFailures: 2, OpenDelay: delay},
		OnStateChange: rec.hook,
	})
	rt := b.RoundTripper(sw)

	sendN(t, rt, "dep-1", 2)
	sw.set(status(http.StatusOK))
	time.Sleep(delay + 20*time.Millisecond)
	send(t, rt, "dep-1")

	want := []transition{
		{"dep-1", breaker.Closed, breaker.Open},
		{"dep-1", breaker.Open, breaker.HalfOpen},
		{"dep-1", breaker.HalfOpen, breaker.Closed},
	}
	if diff := cmp.Diff(want, rec.transitions()); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
}

// OnStateChange may call back into Breakers, even Reset for its own key,
// without deadlock.
func TestOnStateChangeMayCallBack(t *testing.T) {
	t.Parallel()
	var b *breaker.Breakers
	var rec recorder
	b = newBreakers(t, breaker.Config{
		Default: breaker.Settings{ConsecutiveFailures: 1},
		OnStateChange: func(key string, from, to breaker.State) {
			rec.hook(key, from, to)
			if to == breaker.Open && b.State(key) == breaker.Open {
				b.Reset(key)
			}
		},
	})
	up := status(http.StatusBadGateway)
	rt := b.RoundTripper(up)

	done := make(chan struct{})
	go func() {
		send(t, rt, "dep-1")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("request did not return: deadlock in OnStateChange")
	}

	want := []transition{
		{"dep-1", breaker.Closed, breaker.Open},
		{"dep-1", breaker.Open, breaker.Closed},
	}
	if diff := cmp.Diff(want, rec.transitions()); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
	mustPass(t, rt, "dep-1", up)
}

func TestStateString(t *testing.T) {
	t.Parallel()
	for s, want := range map[breaker.State]string{
		breaker.Closed: "closed", breaker.Open: "open", breaker.HalfOpen: "half-open", 7: "unknown",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String(): got %q, want %q", int(s), got, want)
		}
	}
}
