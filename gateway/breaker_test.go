package gateway_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/apigateway/breaker"
	"github.com/mcphub/apigateway/gateway"
	"github.com/mcphub/apigateway/limit"
)

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

var tripFast = breaker.Config{Default: breaker.Settings{ConsecutiveFailures: 3, OpenDelay: time.Minute}}

func TestFailingDeploymentIsPausedWhileOthersServe(t *testing.T) {
	f := newFixture(t, gateway.Config{Breakers: tripFast})
	f.store.set(gateway.Deployment{ID: "dep-9", OwnerID: "user-1", Status: gateway.StatusRunning,
		UpstreamURL: closedPort(t)})

	for i := range 3 {
		if resp, _ := f.get(t, "/api/gateway/user-1/dep-9/", tokenUser1); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("failure %d: status = %d, want 502", i+1, resp.StatusCode)
		}
	}
	resp, body := f.get(t, "/api/gateway/user-1/dep-9/", tokenUser1)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after 3 failures: status = %d, want 503", resp.StatusCode)
	}
	p := decodeProblem(t, resp, body)
	if !strings.HasSuffix(p.Type, "#circuit-open") {
		t.Errorf("problem type = %q, want the circuit-open type", p.Type)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 50 || s > 60 {
		t.Errorf("Retry-After = %q, want the remaining open delay, about 60", resp.Header.Get("Retry-After"))
	}
	if got := f.gw.BreakerState("dep-9"); got != breaker.Open {
		t.Errorf("BreakerState = %v, want open", got)
	}

	for _, path := range []string{"/api/gateway/user-1/dep-1/"} {
		if resp, _ := f.get(t, path, tokenUser1); resp.StatusCode != 200 {
			t.Errorf("%s while dep-9 is paused: status = %d, want 200", path, resp.StatusCode)
		}
	}
	if resp, _ := f.get(t, "/api/gateway/user-2/dep-2/", tokenUser2); resp.StatusCode != 200 {
		t.Errorf("another user's deployment while dep-9 is paused: status = %d, want 200", resp.StatusCode)
	}
}

// Only the upstream's faults count: its 4xx answers, clients that give up
// and requests the gateway refuses itself leave the breaker closed.
func TestOnlyUpstreamFaultsTripTheBreaker(t *testing.T) {
	var hits atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		case "/ok":
		default:
			code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
			w.WriteHeader(code)
		}
	}))
	t.Cleanup(app.Close)
	f := newFixture(t, gateway.Config{Breakers: tripFast, Limits: limit.Config{
		PerDeployment: limit.Rate{Limit: 30, Period: time.Minute}}})
	f.store.set(gateway.Deployment{ID: "dep-7", OwnerID: "user-1", Status: gateway.StatusRunning, UpstreamURL: app.URL})

	for range 3 {
		for _, code := range []string{"400", "401", "404", "409"} {
			f.get(t, "/api/gateway/user-1/dep-7/"+code, tokenUser1)
		}
	}
	for range 4 {
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/gateway/user-1/dep-7/slow", nil)
		req.Header.Set("Authorization", "Bearer "+tokenUser1)
		client := &http.Client{Timeout: 100 * time.Millisecond}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	for range 40 { // past the deployment's limit: 429s from the gateway
		f.get(t, "/api/gateway/user-1/dep-7/ok", tokenUser1)
	}
	if got := f.gw.BreakerState("dep-7"); got != breaker.Closed {
		t.Errorf("BreakerState = %v, want closed", got)
	}
}

func TestForgetResetsTheBreakerAfterARedeploy(t *testing.T) {
	f := newFixture(t, gateway.Config{Breakers: tripFast})
	f.store.set(gateway.Deployment{ID: "dep-9", OwnerID: "user-1", Status: gateway.StatusRunning,
		UpstreamURL: closedPort(t)})
	for range 4 {
		f.get(t, "/api/gateway/user-1/dep-9/", tokenUser1)
	}
	if got := f.gw.BreakerState("dep-9"); got != breaker.Open {
		t.Fatalf("BreakerState = %v, want open", got)
	}

	f.store.set(gateway.Deployment{ID: "dep-9", OwnerID: "user-1", Status: gateway.StatusRunning,
		UpstreamURL: f.dep1.URL})
	f.gw.Forget("dep-9")
	if resp, _ := f.get(t, "/api/gateway/user-1/dep-9/", tokenUser1); resp.StatusCode != 200 {
		t.Errorf("after the redeploy and Forget: status = %d, want 200 from the new instance", resp.StatusCode)
	}
}

func TestDeploymentBreakerSettingsApply(t *testing.T) {
	f := newFixture(t, gateway.Config{Breakers: tripFast})
	f.store.set(gateway.Deployment{ID: "dep-9", OwnerID: "user-1", Status: gateway.StatusRunning,
		UpstreamURL: closedPort(t), Breaker: breaker.Settings{ConsecutiveFailures: 1}})
	f.get(t, "/api/gateway/user-1/dep-9/", tokenUser1)
	if got := f.gw.BreakerState("dep-9"); got != breaker.Open {
		t.Errorf("after one failure with ConsecutiveFailures 1: BreakerState = %v, want open", got)
	}
}
