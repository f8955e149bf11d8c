package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/gateway"
	"github.com/mcphub/apigateway/limit"
)

// redisServer is a redis-server process of the test's own, on a free
// loopback port, that the test can kill and start again.
type redisServer struct {
	t    *testing.T
	bin  string
	port string
	dir  string
	cmd  *exec.Cmd
}

// startRedisServer starts a redis-server for t and stops it when t ends.
// Without redis-server installed the test is skipped, or fails in CI
// (CI=true), which must install it.
func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed; CI must install it (apt-get install -y redis-server)")
		}
		t.Skip("redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	s := &redisServer{t: t, bin: bin, port: port, dir: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + s.port }

// start runs the server and waits until it answers.
func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "--port", s.port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	client := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
	defer client.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := client.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %s did not start: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server, as a crash would, and waits for it to exit.
func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// answer is one response the load in TestRedisOutageUnderLoad got.
type answer struct {
	start, end  time.Time
	status      int
	retryAfter  string
	problemType string
}

// Redis going away while requests flow through the gateway, and coming
// back, keeps the configured policy for every request answered while it
// is down (fail-closed: 503 limit-store-unavailable with Retry-After;
// fail-open: the request passes), never answers 500, and counts again,
// without a restart, once Redis is back.
func TestRedisOutageUnderLoad(t *testing.T) {
	const (
		perUser = 5
		workers = 4
		bound   = time.Second // StoreTimeout plus room for a busy, race-instrumented machine
	)
	rs := startRedisServer(t)
	client := redis.NewClient(&redis.Options{Addr: rs.addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })

	for _, failOpen := range []bool{false, true} {
		t.Run("FailOpen="+strconv.FormatBool(failOpen), func(t *testing.T) {
			checkNoLeaks(t)
			app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "ok")
			}))
			t.Cleanup(app.Close)
			// Any token is a user of that name, who owns the deployment
			// "d-" + name, so that each phase can start with fresh counters.
			verifier, err := auth.NewBearerVerifier(
				func(_ context.Context, token string) (auth.Identity, error) {
					return auth.Identity{UserID: token}, nil
				})
			if err != nil {
				t.Fatal(err)
			}
			store := gateway.DeploymentStoreFunc(
				func(_ context.Context, id string) (gateway.Deployment, error) {
					user, ok := strings.CutPrefix(id, "d-")
					if !ok {
						return gateway.Deployment{}, gateway.ErrDeploymentNotFound
					}
					return gateway.Deployment{ID: id, OwnerID: user,
						Status: gateway.StatusRunning, UpstreamURL: app.URL}, nil
				})
			limits, err := limit.NewRedisStore(client, fmt.Sprintf("gw-outage-%d", time.Now().UnixNano()))
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, gateway.Config{Verifier: verifier, Deployments: store,
				Limits: limit.Config{
					Store:         limits,
					FailOpen:      failOpen,
					PerUser:       limit.Rate{Limit: perUser, Period: time.Minute},
					PerDeployment: limit.Rate{Limit: 1_000_000, Period: time.Minute},
				}})
			httpClient := f.srv.Client()
			send := func(user string) answer {
				req, _ := http.NewRequest("GET", f.srv.URL+"/api/gateway/"+user+"/d-"+user+"/", nil)
				req.Header.Set("Authorization", "Bearer "+user)
				a := answer{start: time.Now()}
				resp, err := httpClient.Do(req)
				if err != nil {
					t.Errorf("%s: %v", user, err)
					return a
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				a.end, a.status, a.retryAfter = time.Now(), resp.StatusCode, resp.Header.Get("Retry-After")
				var p problemBody
				if json.Unmarshal(body, &p) == nil {
					a.problemType = p.Type
				}
				return a
			}
			// passedBeforeLimit sends requests as a new user until one is
			// refused, and returns how many passed.
			passedBeforeLimit := func(user string) int {
				for i := range perUser + 5 {
					if send(user).status == http.StatusTooManyRequests {
						return i
					}
				}
				return -1
			}
			if got := passedBeforeLimit("before"); got != perUser {
				t.Fatalf("Redis up: %d requests passed before a 429, want %d", got, perUser)
			}

			// The load: each worker as its own user, so it meets its limit
			// and keeps sending.
			stop := make(chan struct{})
			var mu sync.Mutex
			var answers []answer
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					user := fmt.Sprintf("load%d", w)
					for range 20_000 {
						select {
						case <-stop:
							return
						default:
						}
						a := send(user)
						mu.Lock()
						answers = append(answers, a)
						mu.Unlock()
					}
				})
			}
			time.Sleep(200 * time.Millisecond)
			rs.stop()
			down := time.Now()
			time.Sleep(500 * time.Millisecond)
			up := time.Now()
			rs.start()

			var got int
			deadline := time.Now().Add(5 * time.Second)
			for i := 0; ; i++ {
				// go-redis may need a moment to reconnect.
				if got = passedBeforeLimit(fmt.Sprintf("after%d", i)); got == perUser ||
					time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			close(stop)
			wg.Wait()

			if got != perUser {
				t.Errorf("Redis back: %d requests passed before a 429, want %d", got, perUser)
			}
			var during int
			for _, a := range answers {
				switch a.status {
				case http.StatusOK, http.StatusTooManyRequests, http.StatusServiceUnavailable:
				default:
					t.Fatalf("answer %d at %v, want only 200, 429 or 503", a.status, a.start.Sub(down))
				}
				if a.start.Before(down) || a.end.After(up) {
					continue
				}
				during++
				if took := a.end.Sub(a.start); took > bound {
					t.Errorf("Redis down: answered after %v, want within %v", took, bound)
				}
				switch {
				case failOpen && a.status != http.StatusOK:
					t.Errorf("fail-open, Redis down: status %d, want 200", a.status)
				case !failOpen && (a.status != http.StatusServiceUnavailable || a.retryAfter == "" ||
					!strings.HasSuffix(a.problemType, "#limit-store-unavailable")):
					t.Errorf("fail-closed, Redis down: status %d, Retry-After %q, type %q; "+
						"want 503 limit-store-unavailable with Retry-After", a.status, a.retryAfter, a.problemType)
				}
			}
			if during < workers {
				t.Errorf("only %d requests were answered while Redis was down, want at least %d",
					during, workers)
			}
			t.Logf("%d requests, %d of them while Redis was down", len(answers), during)
		})
	}
}
