package limit_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcphub/apigateway/limit"
)

// latencyBound is the most a request may take when the store hangs: the
// store timeout plus room for a slow, race-instrumented test machine.
const latencyBound = 100*time.Millisecond + 400*time.Millisecond

// outcome checks one answer given while the store is failing, under the
// policy in force: fail-closed answers 503 with Retry-After and a problem
// that carries no store text; fail-open passes the request on without
// rate-limit headers. Neither ever answers 500.
func checkFailureAnswer(t *testing.T, failOpen bool, w *http.Response, body string) {
	t.Helper()
	for _, name := range []string{"RateLimit", "RateLimit-Policy", "X-RateLimit-Remaining"} {
		if v := w.Header.Get(name); v != "" {
			t.Errorf("%s: %q sent while the store is failing", name, v)
		}
	}
	if failOpen {
		if w.StatusCode != http.StatusOK {
			t.Errorf("fail-open: got %d, want 200", w.StatusCode)
		}
		return
	}
	if w.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("fail-closed: got %d, want 503", w.StatusCode)
	}
	if got := w.Header.Get("Retry-After"); got != "5" {
		t.Errorf("fail-closed: Retry-After %q, want 5", got)
	}
	if !strings.Contains(body, "#limit-store-unavailable") {
		t.Errorf("fail-closed: body %q is not the limit-store-unavailable problem", body)
	}
	for _, leak := range []string{"secret", "dial", "refused", "redis", "127.0.0.1", "10.1.2.3", "timeout"} {
		if strings.Contains(strings.ToLower(body), leak) {
			t.Errorf("fail-closed: body %q contains store text %q", body, leak)
		}
	}
}

func serveResponse(h http.Handler, r *http.Request) (*http.Response, string, time.Duration) {
	start := time.Now()
	w := serve(h, r)
	took := time.Since(start)
	res := w.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body), took
}

// A failing store gets the configured policy on every request, and
// OnDecision hears of each failure.
func TestStoreFailurePolicy(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		t.Run("FailOpen="+strconv.FormatBool(failOpen), func(t *testing.T) {
			var mu sync.Mutex
			var errs int
			up := &upstream{}
			h := newLimiter(t, limit.Config{
				Store:    failingStore{},
				FailOpen: failOpen,
				OnDecision: func(_ context.Context, d limit.Decision) {
					mu.Lock()
					defer mu.Unlock()
					if d.Outcome == limit.OutcomeError && d.Err != nil {
						errs++
					}
				},
			}).Handler(up)

			for range 20 {
				res, body, _ := serveResponse(h, request("user-1", "dep-1", "192.0.2.1:1000"))
				checkFailureAnswer(t, failOpen, res, body)
			}

			if errs != 20 {
				t.Errorf("OnDecision heard of %d store errors, want 20 (one per request)", errs)
			}
			if want := map[bool]int{false: 0, true: 20}[failOpen]; up.count() != want {
				t.Errorf("deployment reached %d times, want %d", up.count(), want)
			}
		})
	}
}

// A store that never answers adds at most StoreTimeout to a request, for
// all of its counters together.
func TestHungStoreAddsBoundedLatency(t *testing.T) {
	t.Parallel()
	for _, failOpen := range []bool{false, true} {
		t.Run("FailOpen="+strconv.FormatBool(failOpen), func(t *testing.T) {
			l := newLimiter(t, limit.Config{Store: hungStore{}, FailOpen: failOpen})
			h := l.ClientIPHandler(l.Handler(&upstream{}))

			for range 5 {
				res, body, took := serveResponse(h, request("user-1", "dep-1", "192.0.2.1:1000"))
				checkFailureAnswer(t, failOpen, res, body)
				if took > latencyBound {
					t.Errorf("request took %v, want at most %v", took, latencyBound)
				}
			}
		})
	}
}

// limitedRun sends requests as a fresh user until one is refused and
// returns how many passed, or -1 if none was refused within limit+5.
func limitedRun(h http.Handler, user string, n int) int {
	for i := range n + 5 {
		if serve(h, request(user, "dep-"+user, "192.0.2.1:1000")).Code == http.StatusTooManyRequests {
			return i
		}
	}
	return -1
}

// outage drives a Limiter through Redis going away and coming back: the
// policy holds with bounded latency while Redis is down, and
// limiting resumes without a restart once it is back.
func outage(t *testing.T, client redis.UniversalClient, prefix string, stop, start func()) {
	const n = 3
	t.Cleanup(func() {
		// After failed dials go-redis probes the server from a goroutine
		// that sleeps a second between probes and ends at the first probe
		// after the client is closed; wait it out so that the leak check
		// at the end of the package does not see it.
		client.Close()
		time.Sleep(1100 * time.Millisecond)
	})
	for _, failOpen := range []bool{false, true} {
		t.Run("FailOpen="+strconv.FormatBool(failOpen), func(t *testing.T) {
			store, err := limit.NewRedisStore(client, prefix+":"+strconv.FormatBool(failOpen))
			if err != nil {
				t.Fatal(err)
			}
			h := newLimiter(t, limit.Config{
				Store:    store,
				FailOpen: failOpen,
				PerUser:  limit.Rate{Limit: n, Period: time.Minute},
			}).Handler(&upstream{})
			if got := limitedRun(h, "before", n); got != n {
				t.Fatalf("Redis up: %d requests passed before a 429, want %d", got, n)
			}

			stop()
			for range 20 {
				res, body, took := serveResponse(h, request("during", "dep-1", "192.0.2.1:1000"))
				checkFailureAnswer(t, failOpen, res, body)
				if took > latencyBound {
					t.Errorf("Redis down: request took %v, want at most %v", took, latencyBound)
				}
			}

			start()
			var got int
			deadline := time.Now().Add(5 * time.Second)
			for {
				// The client may need a moment to reconnect.
				if got = limitedRun(h, "after-"+time.Now().Format("150405.000"), n); got == n ||
					time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got != n {
				t.Fatalf("Redis back: %d requests passed before a 429, want %d", got, n)
			}
		})
	}
}

func TestRedisOutageMiniredis(t *testing.T) {
	t.Parallel()
	m, client := newMiniredis(t)
	outage(t, client, uniquePrefix(t), m.Close, func() {
		if err := m.Restart(); err != nil {
			t.Fatal(err)
		}
	})
}

// The same outage with a real redis-server, which this test starts on a
// free loopback port, stops (by its process id) and starts again.
func TestRedisOutageRealServer(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed; CI must install it (apt-get install -y redis-server)")
		}
		t.Skip("redis-server is not installed")
	}
	port := freePort(t)
	var cmd *exec.Cmd
	start := func() {
		cmd = exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", t.TempDir())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	start()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			stop()
		}
	})
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port, ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	waitForRedis(t, client)

	outage(t, client, uniquePrefix(t), stop, func() { start(); waitForRedis(t, client) })
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func waitForRedis(t *testing.T, client *redis.Client) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := client.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// blackHole listens on a loopback port, accepts every connection and never
// answers, like a Redis whose process hangs.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// A Redis that accepts connections and never answers adds at most
// StoreTimeout to each request, even with a go-redis client left at its
// defaults, which ignore context deadlines and wait 5s per read.
func TestRedisBlackHoleAddsBoundedLatency(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: blackHole(t)})
	t.Cleanup(func() { client.Close() })
	store, err := limit.NewRedisStore(client, uniquePrefix(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, failOpen := range []bool{false, true} {
		t.Run("FailOpen="+strconv.FormatBool(failOpen), func(t *testing.T) {
			h := newLimiter(t, limit.Config{Store: store, FailOpen: failOpen}).Handler(&upstream{})

			start := time.Now()
			for range 20 {
				res, body, took := serveResponse(h, request("user-1", "dep-1", "192.0.2.1:1000"))
				checkFailureAnswer(t, failOpen, res, body)
				if took > latencyBound {
					t.Errorf("request took %v, want at most %v", took, latencyBound)
				}
			}
			t.Logf("20 requests against a black hole took %v", time.Since(start))
		})
	}
}

// NewRedisStore does not need Redis: a gateway starts during an outage and
// counts once Redis is up.
func TestRedisStoreCreatedWhileRedisDown(t *testing.T) {
	t.Parallel()
	m, client := newMiniredis(t)
	addr := m.Addr()
	m.Close()
	store, err := limit.NewRedisStore(client, uniquePrefix(t))
	if err != nil {
		t.Fatalf("NewRedisStore with Redis down: %v", err)
	}
	rate := limit.Rate{Limit: 1, Period: time.Minute}
	take := func() (limit.Result, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return store.Take(ctx, "k", rate)
	}
	if _, err := take(); err == nil {
		t.Fatal("Take with Redis down: got no error")
	}

	if err := m.StartAddr(addr); err != nil {
		t.Fatal(err)
	}

	// go-redis probes a server it failed to reach once a second.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := take()
		if err == nil {
			if !res.Allowed {
				t.Fatalf("first Take once Redis is up: got %+v, want allowed", res)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Take once Redis is up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
