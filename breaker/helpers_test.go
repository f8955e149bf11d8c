package breaker_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/apigateway/breaker"
)

// fakeUpstream is an in-process transport that counts the requests that
// reach it and answers each with respond (200 when nil).
type fakeUpstream struct {
	calls   atomic.Int64
	respond func(r *http.Request) (*http.Response, error)
}

func (f *fakeUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	f.calls.Add(1)
	if f.respond == nil {
		return answer(r, http.StatusOK), nil
	}
	return f.respond(r)
}

// status returns a fakeUpstream that answers every request with code.
func status(code int) *fakeUpstream {
	return &fakeUpstream{respond: func(r *http.Request) (*http.Response, error) {
		return answer(r, code), nil
	}}
}

// answer returns a small response with code, closing r's body as a
// transport does.
func answer(r *http.Request, code int) *http.Response {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: code,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"text/plain"}},
		Body:    io.NopCloser(strings.NewReader(http.StatusText(code))),
		Request: r,
	}
}

// switchable is a transport whose behaviour a test changes as it goes.
type switchable struct {
	mu   sync.Mutex
	next http.RoundTripper
}

func (s *switchable) set(next http.RoundTripper) {
	s.mu.Lock()
	s.next = next
	s.mu.Unlock()
}

func (s *switchable) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	next := s.next
	s.mu.Unlock()
	return next.RoundTrip(r)
}

// trips returns a Config that trips after n failures in a row and stays
// open for delay.
func trips(n int, delay time.Duration) breaker.Config {
	return breaker.Config{Default: breaker.Settings{ConsecutiveFailures: n, OpenDelay: delay}}
}

// newBreakers returns Breakers for cfg, failing the test on error.
func newBreakers(t testing.TB, cfg breaker.Config) *breaker.Breakers {
	t.Helper()
	b, err := breaker.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// request returns a GET for the upstream guarded by key's breaker.
func request(key string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://upstream.invalid/path", nil)
	return r.WithContext(breaker.NewContext(context.Background(), key))
}

// send sends a request for key through rt, closing any response body.
func send(t testing.TB, rt http.RoundTripper, key string) (*http.Response, error) {
	t.Helper()
	resp, err := rt.RoundTrip(request(key))
	if resp != nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// sendCanceled sends a request for key whose client goes away after
// wait, and returns the transport's error.
func sendCanceled(t testing.TB, rt http.RoundTripper, key string, wait time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithCancel(breaker.NewContext(context.Background(), key))
	defer cancel()
	time.AfterFunc(wait, cancel)
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://upstream.invalid/slow", nil)
	resp, err := rt.RoundTrip(r)
	if resp != nil {
		resp.Body.Close()
	}
	return err
}

// sendN sends n requests for key through rt.
func sendN(t testing.TB, rt http.RoundTripper, key string, n int) {
	t.Helper()
	for range n {
		send(t, rt, key)
	}
}

// mustRefuse checks that a request for key is refused by an open breaker,
// without reaching up, and returns the error.
func mustRefuse(t *testing.T, rt http.RoundTripper, key string,
	up *fakeUpstream) *breaker.OpenError {
	t.Helper()
	before := up.calls.Load()
	resp, err := send(t, rt, key)
	var open *breaker.OpenError
	if resp != nil || !errors.As(err, &open) || !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("request for %s: got %v, %v; want an *OpenError wrapping ErrOpen", key, resp, err)
	}
	if open.Key != key {
		t.Errorf("OpenError.Key: got %q, want %q", open.Key, key)
	}
	if got := up.calls.Load() - before; got != 0 {
		t.Errorf("upstream calls while open: got %d, want 0", got)
	}
	return open
}

// mustPass checks that a request for key reaches up.
func mustPass(t *testing.T, rt http.RoundTripper, key string, up *fakeUpstream) {
	t.Helper()
	before := up.calls.Load()
	if _, err := send(t, rt, key); errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("request for %s: got %v, want it to reach the upstream", key, err)
	}
	if got := up.calls.Load() - before; got != 1 {
		t.Fatalf("upstream calls for one request to %s: got %d, want 1", key, got)
	}
}

// transition is one call of Config.OnStateChange.
type transition struct {
	Key      string
	From, To breaker.State
}

// recorder collects OnStateChange calls.
type recorder struct {
	mu  sync.Mutex
	got []transition
}

func (rec *recorder) hook(key string, from, to breaker.State) {
	rec.mu.Lock()
	rec.got = append(rec.got, transition{key, from, to})
	rec.mu.Unlock()
}

func (rec *recorder) transitions() []transition {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]transition(nil), rec.got...)
}
