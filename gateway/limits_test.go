package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/mcphub/apigateway/gateway"
	"github.com/mcphub/apigateway/limit"
)

func TestUserBurstIsLimitedWithoutAffectingOthers(t *testing.T) {
	f := newFixture(t, gateway.Config{Limits: limit.Config{
		PerUser:       limit.Rate{Limit: 3, Period: time.Minute},
		PerDeployment: limit.Rate{Limit: 100, Period: time.Minute},
	}})
	for i := range 3 {
		resp, _ := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status = %d, want 200", i+1, resp.StatusCode)
		}
		if got, want := resp.Header.Get("X-RateLimit-Remaining"), strconv.Itoa(2-i); got != want {
			t.Errorf("request %d: X-RateLimit-Remaining = %q, want %q", i+1, got, want)
		}
	}
	resp, body := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th request: status = %d, want 429", resp.StatusCode)
	}
	decodeProblem(t, resp, body)
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 60 {
		t.Errorf("Retry-After = %q, want 1..60 seconds", resp.Header.Get("Retry-After"))
	}
	if got := resp.Header.Get("X-RateLimit-Reset"); got != resp.Header.Get("Retry-After") {
		t.Errorf("X-RateLimit-Reset = %q, want it equal to Retry-After %q", got, resp.Header.Get("Retry-After"))
	}
	for _, h := range []string{"RateLimit", "RateLimit-Policy", "X-RateLimit-Limit"} {
		if len(resp.Header.Values(h)) != 1 {
			t.Errorf("%s = %q, want one value", h, resp.Header.Values(h))
		}
	}
	if n := f.dep1.hits.Load(); n != 3 {
		t.Errorf("upstream saw %d requests, want 3: a refused request must not reach it", n)
	}

	if resp, _ := f.get(t, "/api/gateway/user-2/dep-2/", tokenUser2); resp.StatusCode != 200 {
		t.Errorf("user-2 after user-1's burst: status = %d, want 200", resp.StatusCode)
	}
}

// Callers who fail authentication or ownership cannot spend the budget of
// the user or deployment they name: counters are charged only after both
// checks pass.
func TestRefusedCallersDoNotSpendTheVictimsBudget(t *testing.T) {
	f := newFixture(t, gateway.Config{Limits: limit.Config{
		PerUser:       limit.Rate{Limit: 2, Period: time.Minute},
		PerDeployment: limit.Rate{Limit: 2, Period: time.Minute},
	}})
	for range 10 {
		f.get(t, "/api/gateway/user-1/dep-1/", "")
		f.get(t, "/api/gateway/user-1/dep-1/", "wrong")
		f.get(t, "/api/gateway/user-1/dep-1/", tokenUser2)
	}
	if resp, _ := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1); resp.StatusCode != 200 {
		t.Errorf("owner after the flood: status = %d, want 200", resp.StatusCode)
	}
}

func TestDeploymentRateOverridesTheDefault(t *testing.T) {
	f := newFixture(t, gateway.Config{Limits: limit.Config{
		PerUser:       limit.Rate{Limit: 100, Period: time.Minute},
		PerDeployment: limit.Rate{Limit: 100, Period: time.Minute},
	}})
	d, _ := f.store.Deployment(context.Background(), "dep-1")
	d.Rate = limit.Rate{Limit: 1, Period: time.Minute}
	f.store.set(d)

	f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1)
	if resp, _ := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("second request under a rate of 1: status = %d, want 429", resp.StatusCode)
	}
}

func TestClientIPLimitRunsBeforeAuthentication(t *testing.T) {
	f := newFixture(t, gateway.Config{Limits: limit.Config{
		PerClientIP: limit.Rate{Limit: 3, Period: time.Minute},
	}})
	var last int
	for range 4 {
		resp, _ := f.get(t, "/api/gateway/user-1/dep-1/", "wrong")
		last = resp.StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("4th request with bad credentials from one address: status = %d, want 429", last)
	}
}

func TestLimitStoreOutageFailsClosedWith503(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	store, err := limit.NewRedisStore(client, "gw-test")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, gateway.Config{Limits: limit.Config{Store: store}})
	if resp, _ := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1); resp.StatusCode != 200 {
		t.Fatalf("with Redis up: status = %d, want 200", resp.StatusCode)
	}
	mr.Close()
	resp, body := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("with Redis down: status = %d, Retry-After %q; want 503 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	decodeProblem(t, resp, body)
}

// Two gateway replicas sharing one Redis enforce one combined limit per
// user.
func TestReplicasShareOneLimitThroughRedis(t *testing.T) {
	for name, client := range map[string]*redis.Client{
		"miniredis": miniredisClient(t),
		"redis":     realRedisClient(t),
	} {
		if client == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			prefix := fmt.Sprintf("gw-test-%d", time.Now().UnixNano())
			newReplica := func() *fixture {
				store, err := limit.NewRedisStore(client, prefix)
				if err != nil {
					t.Fatal(err)
				}
				return newFixture(t, gateway.Config{Limits: limit.Config{
					Store:         store,
					PerUser:       limit.Rate{Limit: 4, Period: time.Minute},
					PerDeployment: limit.Rate{Limit: 100, Period: time.Minute},
				}})
			}
			a, b := newReplica(), newReplica()

			var passed, limited int
			for i := range 8 {
				replica := a
				if i%2 == 1 {
					replica = b
				}
				resp, _ := replica.get(t, "/api/gateway/user-1/dep-1/", tokenUser1)
				switch resp.StatusCode {
				case 200:
					passed++
				case http.StatusTooManyRequests:
					limited++
				default:
					t.Errorf("request %d: status = %d", i+1, resp.StatusCode)
				}
			}
			if passed != 4 || limited != 4 {
				t.Errorf("across two replicas: %d passed and %d limited, want 4 and 4", passed, limited)
			}
		})
	}
}

func miniredisClient(t *testing.T) *redis.Client {
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// realRedisClient returns a client of the server named by
// APIGATEWAY_REDIS_URL, nil when it is unset outside CI; in CI (CI=true)
// a missing server fails the test instead of skipping it.
func realRedisClient(t *testing.T) *redis.Client {
	t.Helper()
	url := os.Getenv("APIGATEWAY_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("APIGATEWAY_REDIS_URL is not set; CI must run against a real redis-server")
		}
		t.Log("APIGATEWAY_REDIS_URL is not set; skipping the real Redis case")
		return nil
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("APIGATEWAY_REDIS_URL: %v", err)
	}
	opt.ContextTimeoutEnabled = true
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// Limits.ToolRate counts MCP tools/call requests per deployment and tool,
// whether the tool is named in the body or in the Mcp-Name header; other
// tools and other requests to the deployment are not held back.
func TestToolRateLimitsOneToolOfADeployment(t *testing.T) {
	f := newFixture(t, gateway.Config{Limits: limit.Config{
		ToolRate: func(_ context.Context, deployment, tool string) (limit.Rate, bool) {
			return limit.Rate{Limit: 2, Period: time.Minute}, deployment == "dep-1" && tool == "search"
		},
	}})
	call := func(tool string, header bool) int {
		t.Helper()
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `"}}`
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/gateway/user-1/dep-1/mcp", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokenUser1)
		req.Header.Set("Content-Type", "application/json")
		if header {
			req.Header.Set("Mcp-Method", "tools/call")
			req.Header.Set("Mcp-Name", tool)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	got := []int{call("search", false), call("search", true), call("search", false), call("add", false)}
	plain, _ := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1)

	if want := []int{200, 200, 429, 200}; !slices.Equal(got, want) {
		t.Errorf("statuses of search, search (headers), search, add = %v, want %v", got, want)
	}
	if plain.StatusCode != http.StatusOK {
		t.Errorf("plain request after the tool's limit: %d, want 200", plain.StatusCode)
	}
}

// The tool a per-tool limit counts is the one the MCP server will run: a
// client cannot dodge the limit with escapes, repeated members or headers
// that disagree with the body, and the body still reaches the upstream
// byte for byte.
func TestToolRateCountsTheToolTheServerRuns(t *testing.T) {
	const call = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}`
	tests := []struct {
		name        string
		contentType string // "" means application/json
		header      map[string]string
		body        string
		counted     bool // against slow's limit
	}{
		{name: "plain", body: call, counted: true},
		{name: "escaped name", counted: true,
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sl\u006fw"}}`},
		{name: "name given twice", counted: true,
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","name":"slow"}}`},
		{name: "Mcp-Method lies", counted: true, body: call,
			header: map[string]string{"Mcp-Method": "ping"}},
		{name: "Mcp-Name lies", counted: true, body: call,
			header: map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "add"}},
		{name: "escaped method", counted: true,
			body: `{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"slow"}}`},
		{name: "headers, body not JSON", counted: true, contentType: "text/plain", body: "slow",
			header: map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "slow"}},
		{name: "headers name slow, body calls add",
			body:   `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add"}}`,
			header: map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "slow"}},
		{name: "junk", body: "\x00{{ slow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 4)
			mcp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("upstream reading the body: %v", err)
				}
				got <- string(b)
			}))
			t.Cleanup(mcp.Close)
			f := newFixture(t, gateway.Config{Limits: limit.Config{
				ToolRate: func(_ context.Context, deployment, tool string) (limit.Rate, bool) {
					return limit.Rate{Limit: 1, Period: time.Minute}, deployment == "dep-mcp" && tool == "slow"
				},
			}})
			f.store.mu.Lock()
			f.store.deps["dep-mcp"] = gateway.Deployment{ID: "dep-mcp", OwnerID: "user-1",
				Status: gateway.StatusRunning, UpstreamURL: mcp.URL}
			f.store.mu.Unlock()
			send := func(ct, body string, header map[string]string) int {
				t.Helper()
				req, err := http.NewRequest("POST", f.srv.URL+"/api/gateway/user-1/dep-mcp/mcp",
					strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+tokenUser1)
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
				for k, v := range header {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}

			first := send(tt.contentType, tt.body, tt.header)
			upstreamGot := <-got
			then := send("", call, nil) // slow's one call, unless the first took it

			if first != http.StatusOK {
				t.Fatalf("first request: status %d, want 200", first)
			}
			if upstreamGot != tt.body {
				t.Errorf("upstream got body %q, want %q", upstreamGot, tt.body)
			}
			want := http.StatusOK
			if tt.counted {
				want = http.StatusTooManyRequests
			}
			if then != want {
				t.Errorf("a plain call of slow after it: status %d, want %d", then, want)
			}
		})
	}
}
