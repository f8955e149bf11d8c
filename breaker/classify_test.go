package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/apigateway/breaker"
)

// oneStrike trips on the first counted failure, so that any outcome
// wrongly counted shows at once.
var oneStrike = breaker.Config{Default: breaker.Settings{ConsecutiveFailures: 1, MinRequests: 1}}

// A deployment's own 4xx answers are successes: 10,000 of them leave the
// breaker closed and the next request reaches the deployment.
func TestClientErrorsDoNotTrip(t *testing.T) {
	t.Parallel()
	codes := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound,
		http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests}
	var n atomic.Int64
	up := &fakeUpstream{respond: func(r *http.Request) (*http.Response, error) {
		return answer(r, codes[int(n.Add(1))%len(codes)]), nil
	}}
	b := newBreakers(t, oneStrike)
	rt := b.RoundTripper(up)

	sendN(t, rt, "dep-1", 10_000)

	if got := b.State("dep-1"); got != breaker.Closed {
		t.Fatalf("after 10,000 client errors: got %v, want closed", got)
	}
	mustPass(t, rt, "dep-1", up)
}

// Requests whose client goes away before the deployment answers do not
// count: 10,000 of them leave the breaker closed.
func TestClientCancelsDoNotTrip(t *testing.T) {
	t.Parallel()
	slow := &fakeUpstream{respond: func(r *http.Request) (*http.Response, error) {
		select {
		case <-r.Context().Done():
			return nil, fmt.Errorf("reading response: %w", r.Context().Err())
		case <-time.After(5 * time.Second):
			return answer(r, http.StatusOK), nil
		}
	}}
	b := newBreakers(t, oneStrike)
	rt := b.RoundTripper(slow)

	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			for range 100 {
				err := sendCanceled(t, rt, "dep-1", time.Millisecond)
				if !errors.Is(err, context.Canceled) {
					t.Errorf("canceled request: got %v, want context.Canceled", err)
					return
				}
			}
		})
	}
	wg.Wait()

	if got := b.State("dep-1"); got != breaker.Closed {
		t.Fatalf("after 10,000 client cancels: got %v, want closed", got)
	}
	mustPass(t, rt, "dep-1", blockingDone(slow))
}

// The same over real HTTP: the deployment sleeps 5s and its clients abort
// once it has seen every request.
func TestClientCancelsOverHTTPDoNotTrip(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	upstream := hangingServer(t, &calls)
	b := newBreakers(t, oneStrike)
	rt := b.RoundTripper(newTransport(t, 0))

	ctx, cancel := context.WithCancel(breaker.NewContext(context.Background(), "dep-1"))
	defer cancel()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			r, _ := http.NewRequestWithContext(ctx, http.MethodGet, upstream.URL+"/slow", nil)
			if _, err := rt.RoundTrip(r); err == nil {
				t.Error("aborted request: got a response, want an error")
			}
		})
	}
	for deadline := time.Now().Add(10 * time.Second); calls.Load() < 50 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := calls.Load(); got != 50 {
		t.Errorf("requests the deployment saw before the abort: got %d, want 50", got)
	}
	cancel()
	wg.Wait()

	if got := b.State("dep-1"); got != breaker.Closed {
		t.Errorf("after 50 aborted requests: got %v, want closed", got)
	}
}

// Upstream faults count: K of them open the breaker, after which the
// deployment sees no more requests.
func TestUpstreamFaultsTrip(t *testing.T) {
	t.Parallel()
	const k = 3
	tests := []struct {
		name string
		// setup returns the transport and URL to send to, and the count
		// of requests the deployment saw.
		setup func(t *testing.T) (rt http.RoundTripper, url string, calls counter)
		// deadline, when set, bounds each request, as the gateway's
		// upstream timeout does.
		deadline time.Duration
	}{
		{name: "502", setup: statusServer(http.StatusBadGateway)},
		{name: "503", setup: statusServer(http.StatusServiceUnavailable)},
		{name: "504", setup: statusServer(http.StatusGatewayTimeout)},
		{name: "connection refused", setup: func(t *testing.T) (http.RoundTripper, string, counter) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			return newTransport(t, 0), "http://" + addr + "/", func() int64 { return 0 }
		}},
		{name: "response header timeout", setup: func(t *testing.T) (http.RoundTripper, string, counter) {
			var calls atomic.Int64
			s := hangingServer(t, &calls)
			return newTransport(t, 50*time.Millisecond), s.URL + "/hang", calls.Load
		}},
		{name: "request deadline", deadline: 50 * time.Millisecond,
			setup: func(t *testing.T) (http.RoundTripper, string, counter) {
				var calls atomic.Int64
				s := hangingServer(t, &calls)
				return newTransport(t, 0), s.URL + "/hang", calls.Load
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next, url, calls := tt.setup(t)
			b := newBreakers(t, breaker.Config{Default: breaker.Settings{ConsecutiveFailures: k}})
			rt := b.RoundTripper(next)
			send := func() (*http.Response, error) {
				ctx := breaker.NewContext(context.Background(), "dep-1")
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				r, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := rt.RoundTrip(r)
				if resp != nil {
					resp.Body.Close()
				}
				return resp, err
			}

			for i := range k {
				if _, err := send(); errors.Is(err, breaker.ErrOpen) {
					t.Fatalf("request %d of %d: refused too early", i+1, k)
				}
			}
			seen := calls()
			_, err := send()

			var open *breaker.OpenError
			if !errors.As(err, &open) || open.RetryAfter <= 0 {
				t.Fatalf("request after %d faults: got %v, want an *OpenError with RetryAfter",
					k, err)
			}
			if got := calls(); got != seen {
				t.Errorf("deployment requests: %d before, %d after; want no change", seen, got)
			}
		})
	}
}

// An upstream 500 is not a failure by default, and is when IsFailure says
// so.
func TestUpstream500Policy(t *testing.T) {
	t.Parallel()
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		up := status(http.StatusInternalServerError)
		b := newBreakers(t, oneStrike)
		rt := b.RoundTripper(up)

		sendN(t, rt, "dep-1", 100)

		if got := b.State("dep-1"); got != breaker.Closed {
			t.Errorf("after 100 answers of 500: got %v, want closed", got)
		}
	})
	t.Run("IsFailure counts 500", func(t *testing.T) {
		t.Parallel()
		up := status(http.StatusInternalServerError)
		cfg := oneStrike
		cfg.IsFailure = func(resp *http.Response, err error) bool {
			return breaker.DefaultIsFailure(resp, err) ||
				resp.StatusCode == http.StatusInternalServerError
		}
		b := newBreakers(t, cfg)
		rt := b.RoundTripper(up)

		send(t, rt, "dep-1")

		if got := b.State("dep-1"); got != breaker.Open {
			t.Errorf("after an answer of 500: got %v, want open", got)
		}
	})
}

// A request body that cannot be read (the client's upload broke off, or
// a size limit cut it) is the client's fault, not the upstream's.
func TestRequestBodyFailuresDoNotTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body func() io.ReadCloser
	}{
		{"upload broken off", func() io.ReadCloser {
			return io.NopCloser(io.MultiReader(strings.NewReader("partial"),
				errReader{io.ErrUnexpectedEOF}))
		}},
		{"body size limit", func() io.ReadCloser {
			big := io.NopCloser(strings.NewReader(strings.Repeat("x", 1<<20)))
			return http.MaxBytesReader(nil, big, 1<<10)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				io.Copy(io.Discard, r.Body)
			}))
			t.Cleanup(upstream.Close)
			b := newBreakers(t, oneStrike)
			rt := b.RoundTripper(newTransport(t, 0))

			for range 5 {
				ctx := breaker.NewContext(context.Background(), "dep-1")
				r, _ := http.NewRequestWithContext(ctx, http.MethodPost, upstream.URL, tt.body())
				resp, err := rt.RoundTrip(r)
				if err == nil {
					resp.Body.Close()
					t.Fatal("request with a broken body: got a response, want an error")
				}
			}

			if got := b.State("dep-1"); got != breaker.Closed {
				t.Errorf("after 5 broken request bodies: got %v, want closed", got)
			}
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// A failure the breaker counts is still returned to the caller as the
// upstream sent it, so the gateway relays the deployment's own 503.
func TestCountedFailureIsReturnedUnchanged(t *testing.T) {
	t.Parallel()
	sent := &http.Response{
		StatusCode: http.StatusServiceUnavailable,
		Header:     http.Header{"Retry-After": {"7"}},
		Body:       io.NopCloser(strings.NewReader("down for maintenance")),
	}
	up := &fakeUpstream{respond: func(*http.Request) (*http.Response, error) { return sent, nil }}
	b := newBreakers(t, oneStrike)

	resp, err := b.RoundTripper(up).RoundTrip(request("dep-1"))

	if err != nil || resp != sent {
		t.Fatalf("got %v, %v; want the upstream's response itself", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "down for maintenance" || resp.Header.Get("Retry-After") != "7" {
		t.Errorf("body %q, Retry-After %q; want the upstream's",
			body, resp.Header.Get("Retry-After"))
	}
	if got := b.State("dep-1"); got != breaker.Open {
		t.Errorf("state: got %v, want open", got)
	}
}

// A transport that panics leaves no trial permit held.
func TestPanickingTransportHoldsNoPermit(t *testing.T) {
	t.Parallel()
	const delay = 50 * time.Millisecond
	sw := &switchable{next: status(http.StatusBadGateway)}
	b := newBreakers(t, trips(1, delay))
	rt := b.RoundTripper(sw)
	send(t, rt, "dep-1")
	sw.set(&fakeUpstream{respond: func(*http.Request) (*http.Response, error) {
		panic("transport bug")
	}})
	time.Sleep(delay + 20*time.Millisecond)

	func() {
		defer func() { recover() }()
		rt.RoundTrip(request("dep-1"))
	}()
	healthy := status(http.StatusOK)
	sw.set(healthy)
	time.Sleep(delay + 20*time.Millisecond)

	mustPass(t, rt, "dep-1", healthy)
}

// A counter reports how many requests a deployment saw.
type counter func() int64

// statusServer returns a setup for an httptest deployment answering code.
func statusServer(code int) func(t *testing.T) (http.RoundTripper, string, counter) {
	return func(t *testing.T) (http.RoundTripper, string, counter) {
		var calls atomic.Int64
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(code)
		}))
		t.Cleanup(s.Close)
		return newTransport(t, 0), s.URL + "/", calls.Load
	}
}

// hangingServer returns an httptest deployment that sends nothing until
// its client goes away or the test ends, counting requests in calls.
func hangingServer(t *testing.T, calls *atomic.Int64) *httptest.Server {
	stop := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-r.Context().Done():
		case <-stop:
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(stop) })
	return s
}

// newTransport returns a transport of the test's own, that waits at most
// headerTimeout for response headers (zero: no limit).
func newTransport(t testing.TB, headerTimeout time.Duration) *http.Transport {
	tr := &http.Transport{ResponseHeaderTimeout: headerTimeout}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}
