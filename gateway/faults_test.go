package gateway_test

import (
	"bufio"
	"bytes"
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

	"go.uber.org/goleak"

	"github.com/mcphub/apigateway/breaker"
	"github.com/mcphub/apigateway/gateway"
)

// checkNoLeaks fails t if a goroutine started during t is still running
// once t's cleanups, registered after this call, have run: the gateway's
// servers, upstreams and clients are closed by then. Tests in this package
// do not run in parallel, so no other test's goroutines are counted.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, append(leakOptions, before)...) })
}

// A cutFunc plays a deployment's side of an exchange on c, whose request
// line and headers r has read, and returns when the deployment should
// drop the connection.
type cutFunc func(c net.Conn, br *bufio.Reader, r *http.Request)

// rawUpstream is a deployment that speaks HTTP by hand, so that a test can
// cut the connection at any point of an exchange.
type rawUpstream struct {
	url   string
	conns atomic.Int64 // connections accepted
}

// newRawUpstream serves each connection by reading one request's line and
// headers and handing the connection to serve, which writes what it likes
// and returns; the connection is closed then.
func newRawUpstream(t *testing.T, serve cutFunc) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{url: "http://" + ln.Addr().String()}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.conns.Add(1)
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				r, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				serve(c, br, r)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return u
}

// post sends a request with body through the fixture's gateway as user-1
// and returns the response, its body read to the end, and the error that
// ended the reading (nil for a complete body).
func (f *fixture) post(t *testing.T, path string, body []byte) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest("POST", f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tokenUser1)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	return resp, got, err
}

// An upstream that drops the connection before its response headers are
// complete gets the client a clean 502 problem, and counts against its
// breaker, which opens after ConsecutiveFailures such requests and then
// answers without contacting it.
func TestUpstreamDyingBeforeHeadersAnswers502AndCounts(t *testing.T) {
	cuts := []struct {
		name string
		cut  cutFunc
	}{
		{"after the request", func(net.Conn, *bufio.Reader, *http.Request) {}},
		{"halfway through the request body", func(_ net.Conn, _ *bufio.Reader, r *http.Request) {
			io.CopyN(io.Discard, r.Body, 4<<10)
		}},
		{"halfway through the response headers", func(c net.Conn, _ *bufio.Reader, _ *http.Request) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/pl")
		}},
	}
	for _, tt := range cuts {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			up := newRawUpstream(t, tt.cut)
			f := newFixture(t, gateway.Config{Breakers: tripFast})
			f.store.set(gateway.Deployment{ID: "dep-r", OwnerID: "user-1",
				Status: gateway.StatusRunning, UpstreamURL: up.url})
			body := bytes.Repeat([]byte("x"), 128<<10)

			for i := range 3 {
				if got := f.gw.BreakerState("dep-r"); got != breaker.Closed {
					t.Fatalf("before failure %d: BreakerState = %v, want closed", i+1, got)
				}
				resp, got, err := f.post(t, "/api/gateway/user-1/dep-r/upload", body)
				if err != nil || resp.StatusCode != http.StatusBadGateway {
					t.Fatalf("failure %d: status %d, body error %v; want a complete 502",
						i+1, resp.StatusCode, err)
				}
				p := decodeProblem(t, resp, string(got))
				if !strings.HasSuffix(p.Type, "#upstream-unreachable") {
					t.Errorf("failure %d: problem type %q, want upstream-unreachable", i+1, p.Type)
				}
			}
			if got := f.gw.BreakerState("dep-r"); got != breaker.Open {
				t.Fatalf("after 3 failures: BreakerState = %v, want open", got)
			}
			resp, got, _ := f.post(t, "/api/gateway/user-1/dep-r/upload", body)
			if resp.StatusCode != http.StatusServiceUnavailable ||
				!strings.HasSuffix(decodeProblem(t, resp, string(got)).Type, "#circuit-open") {
				t.Errorf("with the breaker open: status %d, want the circuit-open 503", resp.StatusCode)
			}
			if n := up.conns.Load(); n != 3 {
				t.Errorf("upstream accepted %d connections, want 3: none once the breaker is open", n)
			}
		})
	}
}

// An upstream that drops the connection after its response headers, in
// the middle of a body or of an event stream, gets the client everything
// sent before the cut and then a broken connection, never a response that
// looks complete. The headers arrived, so the breaker counts a success: a
// stream that ends badly says nothing reliable about the deployment's
// health, and must not pause it for its other callers.
func TestUpstreamDyingAfterHeadersCutsTheResponse(t *testing.T) {
	const sent = 64 << 10
	chunk := bytes.Repeat([]byte("y"), sent)
	cuts := []struct {
		name string
		cut  cutFunc
	}{
		{"fixed-length body", func(c net.Conn, _ *bufio.Reader, _ *http.Request) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"+
				"Content-Length: 1048576\r\n\r\n")
			c.Write(chunk)
		}},
		{"chunked body", func(c net.Conn, _ *bufio.Reader, _ *http.Request) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"+
				"Transfer-Encoding: chunked\r\n\r\n")
			fmt.Fprintf(c, "%x\r\n%s\r\n", sent, chunk)
		}},
	}
	for _, tt := range cuts {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			up := newRawUpstream(t, tt.cut)
			f := newFixture(t, gateway.Config{Breakers: tripFast})
			f.store.set(gateway.Deployment{ID: "dep-r", OwnerID: "user-1",
				Status: gateway.StatusRunning, UpstreamURL: up.url})

			for i := range 4 {
				resp, got, err := f.post(t, "/api/gateway/user-1/dep-r/download", nil)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d: status %d, want the upstream's 200", i+1, resp.StatusCode)
				}
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("request %d: reading the body ended with %v, want an unexpected EOF", i+1, err)
				}
				if len(got) != sent {
					t.Errorf("request %d: got %d bytes before the cut, want the %d sent", i+1, len(got), sent)
				}
			}
			if got := f.gw.BreakerState("dep-r"); got != breaker.Closed {
				t.Errorf("after 4 cut responses: BreakerState = %v, want closed", got)
			}
		})
	}

	t.Run("event stream", func(t *testing.T) {
		checkNoLeaks(t)
		cut := make(chan struct{})
		up := newRawUpstream(t, func(c net.Conn, _ *bufio.Reader, _ *http.Request) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"+
				"Transfer-Encoding: chunked\r\n\r\n")
			for i := range 3 {
				event := fmt.Sprintf("id: %d\ndata: event %d\n\n", i, i)
				fmt.Fprintf(c, "%x\r\n%s\r\n", len(event), event)
			}
			<-cut
		})
		f := newFixture(t, gateway.Config{Breakers: tripFast})
		f.store.set(gateway.Deployment{ID: "dep-r", OwnerID: "user-1",
			Status: gateway.StatusRunning, UpstreamURL: up.url})
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/gateway/user-1/dep-r/events", nil)
		req.Header.Set("Authorization", "Bearer "+tokenUser1)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)

		var events []string
		for len(events) < 3 {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended with %v after events %q, want 3 before the cut", err, events)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				events = append(events, strings.TrimSpace(data))
			}
		}
		close(cut)
		rest, err := io.ReadAll(br)

		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("after the cut: read %q, then %v; want an unexpected EOF", rest, err)
		}
		if want := "event 0|event 1|event 2"; strings.Join(events, "|") != want {
			t.Errorf("events before the cut = %q, want %q", events, want)
		}
		if got := f.gw.BreakerState("dep-r"); got != breaker.Closed {
			t.Errorf("after the cut: BreakerState = %v, want closed", got)
		}
	})
}

// A deployment store that fails, or answers slower than LookupTimeout,
// gets every waiting request a 503 within about LookupTimeout, however
// many arrive at once, and requests succeed as soon as the store recovers:
// failed lookups are not cached. With StaleIfError, the deployments
// verified shortly before the outage are served throughout it.
func TestDeploymentStoreOutageUnderLoad(t *testing.T) {
	const (
		timeout  = 200 * time.Millisecond
		ttl      = 50 * time.Millisecond
		requests = 40
		verified = requests / 2          // with StaleIfError, dep-l0 to dep-l19
		bound    = timeout + time.Second // room for a busy, race-instrumented machine
	)
	outages := []struct {
		name string
		// fail answers for the store while it is down.
		fail func(ctx context.Context) (gateway.Deployment, error)
	}{
		{"store errors", func(context.Context) (gateway.Deployment, error) {
			return gateway.Deployment{}, errors.New("pq: connection refused")
		}},
		{"store slower than the timeout", func(ctx context.Context) (gateway.Deployment, error) {
			select {
			case <-time.After(10 * time.Second):
			case <-ctx.Done():
			}
			return gateway.Deployment{}, ctx.Err()
		}},
	}
	for _, tt := range outages {
		for _, stale := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/StaleIfError=%t", tt.name, stale), func(t *testing.T) {
				checkNoLeaks(t)
				var down atomic.Bool
				var f *fixture
				cfg := gateway.Config{LookupTimeout: timeout, CacheTTL: ttl,
					Deployments: gateway.DeploymentStoreFunc(
						func(ctx context.Context, id string) (gateway.Deployment, error) {
							if down.Load() {
								return tt.fail(ctx)
							}
							return f.store.Deployment(ctx, id)
						})}
				if stale {
					cfg.StaleIfError = time.Minute
				}
				f = newFixture(t, cfg)
				for i := range requests {
					f.store.set(gateway.Deployment{ID: fmt.Sprintf("dep-l%d", i), OwnerID: "user-1",
						Status: gateway.StatusRunning, UpstreamURL: f.dep1.URL})
				}
				client := f.srv.Client()
				get := func(i int) (int, time.Duration) {
					url := fmt.Sprintf("%s/api/gateway/user-1/dep-l%d/", f.srv.URL, i)
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("Authorization", "Bearer "+tokenUser1)
					start := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						t.Error(err)
						return 0, 0
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					return resp.StatusCode, time.Since(start)
				}
				for i := range verified {
					if status, _ := get(i); status != http.StatusOK {
						t.Fatalf("dep-l%d before the outage: status %d, want 200", i, status)
					}
				}
				time.Sleep(2 * ttl) // the cache no longer answers for them
				down.Store(true)

				var wg sync.WaitGroup
				for i := range requests {
					want := http.StatusServiceUnavailable
					if stale && i < verified {
						want = http.StatusOK
					}
					wg.Go(func() {
						// Two requests per deployment: one starts the lookup,
						// the other waits on it.
						for range 2 {
							status, took := get(i)
							if status != want || took > bound {
								t.Errorf("dep-l%d during the outage: %d after %v, want %d within %v",
									i, status, took, want, bound)
							}
						}
					})
				}
				wg.Wait()

				down.Store(false)
				if stale {
					time.Sleep(time.Second + ttl) // stale answers are cached for up to a second
				}
				for i := range requests {
					if status, _ := get(i); status != http.StatusOK {
						t.Errorf("dep-l%d once the store is back: status %d, want 200", i, status)
					}
				}
			})
		}
	}
}

// When the client goes away in the middle of its upload or of the
// response, the deployment's request is canceled promptly, and the
// breaker does not blame the deployment.
func TestClientDisconnectCancelsTheUpstreamRequest(t *testing.T) {
	tests := []struct {
		name string
		// request writes a request on c and reads as much of the answer
		// as the case needs before the client hangs up.
		request func(t *testing.T, c net.Conn, path string)
	}{
		{"mid-upload", func(t *testing.T, c net.Conn, path string) {
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\n"+
				"Content-Length: %d\r\n\r\n", path, tokenUser1, 1<<30)
			c.Write(bytes.Repeat([]byte("u"), 256<<10))
		}},
		{"mid-download", func(t *testing.T, c net.Conn, path string) {
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\n\r\n",
				path, tokenUser1)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
				t.Fatalf("reading the first MiB: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			started := make(chan struct{}, 1)
			ended := make(chan time.Time, 1)
			app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer func() { ended <- time.Now() }()
				started <- struct{}{}
				if r.Method == "POST" {
					// Reads until the body breaks off, then waits for the
					// cancellation.
					io.Copy(io.Discard, r.Body)
					<-r.Context().Done()
					return
				}
				// Bounded: 1 GiB at most, if the cancellation never comes.
				buf := bytes.Repeat([]byte("d"), 32<<10)
				for range (1 << 30) / len(buf) {
					if _, err := w.Write(buf); err != nil {
						return
					}
				}
			}))
			t.Cleanup(app.Close)
			f := newFixture(t, gateway.Config{
				Breakers: breaker.Config{Default: breaker.Settings{ConsecutiveFailures: 1}}})
			f.store.set(gateway.Deployment{ID: "dep-c", OwnerID: "user-1",
				Status: gateway.StatusRunning, UpstreamURL: app.URL})

			for i := range 2 {
				c, err := net.Dial("tcp", f.srv.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				tt.request(t, c, "/api/gateway/user-1/dep-c/transfer")
				select {
				case <-started:
				case <-time.After(5 * time.Second):
					t.Fatal("the request did not reach the deployment")
				}
				c.Close()
				closed := time.Now()

				select {
				case at := <-ended:
					t.Logf("run %d: ended %v after the client left", i+1, at.Sub(closed))
					if d := at.Sub(closed); d > time.Second {
						t.Errorf("run %d: the deployment's request ended %v after the client left, want within 1s",
							i+1, d)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("run %d: the deployment's request still runs 5s after the client left", i+1)
				}
			}
			if got := f.gw.BreakerState("dep-c"); got != breaker.Closed {
				t.Errorf("BreakerState = %v, want closed: clients leaving are not the deployment's fault", got)
			}
		})
	}
}

// A store that ignores its context still gets requests a 503 within about
// LookupTimeout, and a store that panics a 500, as a panic anywhere in the
// chain does.
func TestMisbehavingStoreIsCutByTheLookupTimeout(t *testing.T) {
	t.Run("ignores its context", func(t *testing.T) {
		checkNoLeaks(t)
		const timeout = 100 * time.Millisecond
		release := make(chan struct{})
		f := newFixture(t, gateway.Config{LookupTimeout: timeout,
			Deployments: gateway.DeploymentStoreFunc(
				func(context.Context, string) (gateway.Deployment, error) {
					<-release
					return gateway.Deployment{}, gateway.ErrDeploymentNotFound
				})})
		t.Cleanup(func() { close(release) }) // before the leak check: the store's calls end

		client := &http.Client{Timeout: 5 * time.Second}
		t.Cleanup(client.CloseIdleConnections)

		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				url := fmt.Sprintf("%s/api/gateway/user-1/dep-%d/", f.srv.URL, i%3)
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+tokenUser1)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("no answer: %v", err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if took := time.Since(start); resp.StatusCode != http.StatusServiceUnavailable ||
					took > timeout+time.Second {
					t.Errorf("status %d after %v, want 503 within about %v", resp.StatusCode, took, timeout)
				}
				decodeProblem(t, resp, string(body))
			})
		}
		wg.Wait()
	})

	t.Run("panics", func(t *testing.T) {
		checkNoLeaks(t)
		f := newFixture(t, gateway.Config{Deployments: gateway.DeploymentStoreFunc(
			func(context.Context, string) (gateway.Deployment, error) {
				panic("store bug")
			})})

		resp, body := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1)

		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("status %d, want 500", resp.StatusCode)
		}
		if p := decodeProblem(t, resp, body); strings.Contains(p.Detail, "store bug") {
			t.Errorf("detail leaks the panic value: %q", p.Detail)
		}
	})
}
