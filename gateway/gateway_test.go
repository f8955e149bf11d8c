package gateway_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/gateway"
)

// fakeStore is a DeploymentStore over a map that counts its calls and can
// be made slow or failing.
type fakeStore struct {
	mu    sync.Mutex
	deps  map[string]gateway.Deployment
	err   error
	delay time.Duration
	calls atomic.Int64
}

func (s *fakeStore) Deployment(ctx context.Context, id string) (gateway.Deployment, error) {
	s.calls.Add(1)
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return gateway.Deployment{}, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return gateway.Deployment{}, s.err
	}
	d, ok := s.deps[id]
	if !ok {
		return gateway.Deployment{}, gateway.ErrDeploymentNotFound
	}
	return d, nil
}

func (s *fakeStore) set(d gateway.Deployment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deps[d.ID] = d
}

// upstream is a deployment's server that records what reaches it.
type upstream struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	last *http.Request
}

func newUpstream(t *testing.T, name string) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		u.last = r.Clone(context.Background())
		u.mu.Unlock()
		if r.Header.Get("Upgrade") == "websocket" {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s", name, r.URL.RequestURI())
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

type fixture struct {
	store      *fakeStore
	dep1, dep2 *upstream
	gw         *gateway.Gateway
	srv        *httptest.Server
}

const (
	tokenUser1 = "T1"
	tokenUser2 = "T2"
)

func newFixture(t *testing.T, cfg gateway.Config) *fixture {
	t.Helper()
	f := &fixture{dep1: newUpstream(t, "dep-1"), dep2: newUpstream(t, "dep-2")}
	f.store = &fakeStore{deps: map[string]gateway.Deployment{
		"dep-1": {ID: "dep-1", OwnerID: "user-1", Status: gateway.StatusRunning, UpstreamURL: f.dep1.URL},
		"dep-2": {ID: "dep-2", OwnerID: "user-2", Status: gateway.StatusRunning, UpstreamURL: f.dep2.URL},
		"dep-3": {ID: "dep-3", OwnerID: "user-1", Status: gateway.StatusStopped, UpstreamURL: f.dep1.URL},
		"dep-5": {ID: "dep-5", OwnerID: "user-1", Status: gateway.StatusRunning, UpstreamURL: "ftp://10.0.0.1/"},
	}}
	if cfg.Verifier == nil {
		v, err := auth.NewBearerVerifier(auth.StaticTokens(map[string]string{tokenUser1: "user-1", tokenUser2: "user-2"}))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Verifier = v
	}
	if cfg.Deployments == nil {
		cfg.Deployments = f.store
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.gw = gw
	f.srv = httptest.NewServer(gw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "platform")
	})))
	t.Cleanup(f.srv.Close)
	return f
}

// rawGet sends path exactly as given, which net/http's client would
// normalise, and returns the response.
func (f *fixture) rawGet(t *testing.T, path string, headers ...string) *http.Response {
	t.Helper()
	return f.raw(t, "GET", path, headers...)
}

// raw sends a request with method and path exactly as given.
func (f *fixture) raw(t *testing.T, method, path string, headers ...string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := method + " " + path + " HTTP/1.1\r\nHost: " + f.srv.Listener.Addr().String() + "\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"Connection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (f *fixture) get(t *testing.T, path, token string, headers ...string) (*http.Response, string) {
	t.Helper()
	if token != "" {
		headers = append(headers, "Authorization: Bearer "+token)
	}
	resp := f.rawGet(t, path, headers...)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
}

func decodeProblem(t *testing.T, resp *http.Response, body string) problemBody {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, body)
	}
	var p problemBody
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	if p.Status != resp.StatusCode || p.Type == "" || p.RequestID == "" {
		t.Errorf("problem %+v: want status %d, a type and a request id", p, resp.StatusCode)
	}
	if got := resp.Header.Get("X-Request-Id"); got != p.RequestID {
		t.Errorf("X-Request-Id = %q, want the body's %q", got, p.RequestID)
	}
	return p
}

func TestOwnerReachesDeployment(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	resp, body := f.get(t, "/api/gateway/user-1/dep-1/static/app.js?v=1", tokenUser1)
	if resp.StatusCode != 200 || body != "dep-1 /static/app.js?v=1" {
		t.Fatalf("got %d %q, want 200 from dep-1 with the prefix removed", resp.StatusCode, body)
	}
	if got := f.dep1.lastRequest().Header.Get("X-Gateway-User-Id"); got != "user-1" {
		t.Errorf("upstream X-Gateway-User-Id = %q, want user-1", got)
	}
}

func TestOwnershipIsCheckedAgainstTheRoutedIDs(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	paths := []string{
		"/api/gateway/user-2/dep-2/",     // another user's path
		"/api/gateway/user-1/dep-2/",     // another user's deployment under my id
		"/api/gateway/user-1/dep-404/",   // a deployment that does not exist
		"/api/gateway/%75ser-1/dep-1/",   // encoded id
		"/api/gateway/USER-1/dep-1/",     // case variant
		"/api/gateway/user-1%2Fdep-2/x",  // encoded separator
		"/api/gateway/user-1/dep-1%00/",  // NUL
		"/api/gateway/user-1/dep-1;x=1/", // matrix parameter
		"/api/gateway/user-1/dep%2D2/",   // encoded hyphen
		"/api/gateway/user-1/../user-2/dep-2/",
	}
	var first problemBody
	for i, p := range paths {
		resp, body := f.get(t, p, tokenUser1)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
			continue
		}
		got := decodeProblem(t, resp, body)
		got.RequestID = ""
		if i == 0 {
			first = got
		} else if got != first {
			t.Errorf("GET %s answered %+v, want the same answer as %s: %+v", p, got, paths[0], first)
		}
	}
	if n := f.dep2.hits.Load(); n != 0 {
		t.Errorf("dep-2 was contacted %d times, want 0", n)
	}
}

func TestTraversalCannotLeaveTheDeployment(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	for _, p := range []string{
		"/api/gateway/user-1/dep-1/../../user-2/dep-2/",
		"/api/gateway/user-1/dep-1/%2e%2e/%2e%2e/user-2/dep-2/",
		"/api/gateway/user-1/dep-1/..%2f..%2f..%2fadmin",
		"/api/gateway/user-1/dep-1/%252e%252e%252fsecret",
		`/api/gateway/user-1/dep-1/..\..\user-2`,
		"/api/gateway/user-1/dep-1/..%5c..%5cuser-2",
	} {
		resp, body := f.get(t, p, tokenUser1)
		if resp.StatusCode == 200 && strings.Contains(body, "/..") {
			t.Errorf("GET %s reached the upstream as %q", p, body)
		}
		if resp.StatusCode != 200 && resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 400, 404 or a confined 200", p, resp.StatusCode)
		}
	}
	resp, body := f.get(t, "/api/gateway/user-1/dep-1/a/../b", tokenUser1)
	if resp.StatusCode != 200 || body != "dep-1 /b" {
		t.Errorf("benign dot-dot: got %d %q, want 200 from dep-1 at /b", resp.StatusCode, body)
	}
	if n := f.dep2.hits.Load(); n != 0 {
		t.Errorf("dep-2 was contacted %d times, want 0", n)
	}
	resp, body = f.get(t, "/api/gateway/user-1/dep-1/../../../platform", tokenUser1)
	if body == "platform" {
		t.Errorf("traversal reached the platform handler: %d", resp.StatusCode)
	}
}

func TestDeploymentRootWithoutSlashRedirects(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	resp, _ := f.get(t, "/api/gateway/user-1/dep-1?x=%2F", "")
	if resp.StatusCode != http.StatusPermanentRedirect {
		t.Fatalf("status = %d, want 308", resp.StatusCode)
	}
	if got, want := resp.Header.Get("Location"), "/api/gateway/user-1/dep-1/?x=%2F"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
}

func TestUnauthenticatedRequestsNeverReachTheDeployment(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	for _, tok := range []string{"", "wrong"} {
		resp, body := f.get(t, "/api/gateway/user-1/dep-1/", tok)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("token %q: got %d, WWW-Authenticate %q; want 401 with a challenge",
				tok, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		decodeProblem(t, resp, body)
	}
	if n := f.dep1.hits.Load(); n != 0 {
		t.Errorf("dep-1 was contacted %d times, want 0", n)
	}
}

func TestStoppedDeploymentAnswers503WithRetryAfter(t *testing.T) {
	f := newFixture(t, gateway.Config{NotRunningRetryAfter: 7 * time.Second})
	resp, body := f.get(t, "/api/gateway/user-1/dep-3/", tokenUser1)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("got %d Retry-After %q, want 503 with Retry-After 7", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	decodeProblem(t, resp, body)
	if n := f.dep1.hits.Load(); n != 0 {
		t.Errorf("upstream was contacted %d times, want 0", n)
	}
}

func TestStoreFailureAnswers503WithoutInternals(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	f.store.err = errors.New("pq: connection refused to 10.1.2.3:5432")
	resp, body := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", resp.StatusCode)
	}
	decodeProblem(t, resp, body)
	if strings.Contains(body, "10.1.2.3") || strings.Contains(body, "pq:") {
		t.Errorf("body leaks the store error: %s", body)
	}
}

func TestSlowStoreIsCutByTheLookupTimeout(t *testing.T) {
	f := newFixture(t, gateway.Config{LookupTimeout: 100 * time.Millisecond})
	f.store.delay = 5 * time.Second
	start := time.Now()
	resp, _ := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", resp.StatusCode)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("answer took %v, want about the 100ms lookup timeout", d)
	}
}

func TestUnusableUpstreamURLAnswers502(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	resp, body := f.get(t, "/api/gateway/user-1/dep-5/", tokenUser1)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status = %d, want 502", resp.StatusCode)
	}
	if strings.Contains(body, "10.0.0.1") {
		t.Errorf("body leaks the upstream address: %s", body)
	}
}

func TestRefusedUpstreamAnswers502Problem(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f.store.set(gateway.Deployment{ID: "dep-9", OwnerID: "user-1", Status: gateway.StatusRunning,
		UpstreamURL: "http://" + addr})
	resp, body := f.get(t, "/api/gateway/user-1/dep-9/", tokenUser1)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status = %d, want 502", resp.StatusCode)
	}
	decodeProblem(t, resp, body)
	if strings.Contains(body, addr) {
		t.Errorf("body leaks the upstream address: %s", body)
	}
}

func TestConcurrentMissesShareOneStoreCall(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	f.store.delay = 100 * time.Millisecond
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", f.srv.URL+"/api/gateway/user-1/dep-1/", nil)
			req.Header.Set("Authorization", "Bearer "+tokenUser1)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := f.store.calls.Load(); n != 1 {
		t.Errorf("store was called %d times for 20 concurrent requests, want 1", n)
	}
}

func TestCachedDeploymentIsLookedUpAgainAfterTTLOrForget(t *testing.T) {
	f := newFixture(t, gateway.Config{CacheTTL: 200 * time.Millisecond})
	path := "/api/gateway/user-1/dep-1/"
	f.get(t, path, tokenUser1)
	f.store.set(gateway.Deployment{ID: "dep-1", OwnerID: "user-1", Status: gateway.StatusStopped, UpstreamURL: f.dep1.URL})

	if resp, _ := f.get(t, path, tokenUser1); resp.StatusCode != 200 {
		t.Errorf("within TTL: status = %d, want the cached 200", resp.StatusCode)
	}
	f.gw.Forget("dep-1")
	if resp, _ := f.get(t, path, tokenUser1); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after Forget: status = %d, want 503 for the stopped deployment", resp.StatusCode)
	}

	f.store.set(gateway.Deployment{ID: "dep-1", OwnerID: "user-2", Status: gateway.StatusRunning, UpstreamURL: f.dep1.URL})
	time.Sleep(300 * time.Millisecond)
	if resp, _ := f.get(t, path, tokenUser1); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after TTL, transferred to user-2: status = %d, want 404", resp.StatusCode)
	}
}

func TestPanicBecomes500Problem(t *testing.T) {
	f := newFixture(t, gateway.Config{Verifier: auth.VerifierFunc(func(*http.Request) (auth.Identity, error) {
		panic("verifier bug")
	})})
	resp, body := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", resp.StatusCode)
	}
	if p := decodeProblem(t, resp, body); strings.Contains(p.Detail, "verifier bug") {
		t.Errorf("detail leaks the panic value: %q", p.Detail)
	}
}

// TestGatewayErrorsCarrySecurityHeadersOnce checks every error the gateway
// produces itself, and a proxied response, for the security header set.
func TestGatewayErrorsCarrySecurityHeadersOnce(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	cases := []struct {
		path, token string
		status      int
	}{
		{"/api/gateway/user-1/dep-1/", "", 401},
		{"/api/gateway/user-1/dep-2/", tokenUser1, 404},
		{"/api/gateway/user-1/dep-3/", tokenUser1, 503},
		{"/api/gateway/user-1/dep-5/", tokenUser1, 502},
		{"/api/gateway/bad%20id/dep-1/", tokenUser1, 404},
		{"/api/gateway/user-1/dep-1/", tokenUser1, 200},
	}
	for _, c := range cases {
		resp, _ := f.get(t, c.path, c.token)
		if resp.StatusCode != c.status {
			t.Errorf("GET %s = %d, want %d", c.path, resp.StatusCode, c.status)
		}
		for _, h := range []string{"X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "X-Request-Id"} {
			if got := resp.Header.Values(h); len(got) != 1 {
				t.Errorf("GET %s: %s = %q, want exactly one value", c.path, h, got)
			}
		}
	}
}

// TestWebSocketHandshakeIsAuthenticatedLikeAnyRequest: an upgrade takes
// the same path through authentication and ownership as a plain GET.
func TestWebSocketHandshakeIsAuthenticatedLikeAnyRequest(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	handshake := []string{"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}
	cases := []struct {
		name, path, token string
		status            int
	}{
		{"no credentials", "/api/gateway/user-1/dep-1/ws", "", 401},
		{"another user's token", "/api/gateway/user-1/dep-1/ws", tokenUser2, 404},
		{"stopped deployment", "/api/gateway/user-1/dep-3/ws", tokenUser1, 503},
	}
	for _, c := range cases {
		resp, _ := f.get(t, c.path, c.token, handshake...)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status = %d, want %d", c.name, resp.StatusCode, c.status)
		}
	}
	if n := f.dep1.hits.Load(); n != 0 {
		t.Fatalf("upstream saw %d handshakes before the control, want 0", n)
	}
	resp, _ := f.get(t, "/api/gateway/user-1/dep-1/ws", tokenUser1, handshake...)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("owner's handshake: status = %d, want 101", resp.StatusCode)
	}
}

func TestWrapLeavesThePlatformAlone(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	if _, body := f.get(t, "/api/me", ""); body != "platform" {
		t.Errorf("platform path answered %q, want the platform handler", body)
	}
	if resp, _ := f.get(t, "/api/gateway/user-1/dep-1//double//slash/", tokenUser1); resp.StatusCode != 200 {
		t.Errorf("double slashes: status = %d, want 200 (no mux cleaning)", resp.StatusCode)
	} else if got := f.dep1.lastRequest().RequestURI; got != "//double//slash/" {
		t.Errorf("upstream request URI = %q, want //double//slash/ unchanged", got)
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	v, _ := auth.NewBearerVerifier(auth.StaticTokens(nil))
	store := &fakeStore{}
	for name, cfg := range map[string]gateway.Config{
		"no verifier":     {Deployments: store},
		"no store":        {Verifier: v},
		"relative prefix": {Verifier: v, Deployments: store, Prefix: "api/"},
		"encoded prefix":  {Verifier: v, Deployments: store, Prefix: "/api%2F/"},
	} {
		if _, err := gateway.New(cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
}

// TestOnlyTheConsumedCredentialIsStripped: the bearer token that
// authenticated a request never reaches the deployment, nor does the
// session cookie; an app's own Authorization header on a
// cookie-authenticated request does.
func TestOnlyTheConsumedCredentialIsStripped(t *testing.T) {
	cookie := auth.VerifierFunc(func(r *http.Request) (auth.Identity, error) {
		if c, err := r.Cookie("gw_session"); err != nil || c.Value != "S1" {
			return auth.Identity{}, auth.ErrNoCredentials
		}
		return auth.Identity{UserID: "user-1", Credential: auth.CredentialCookie}, nil
	})
	bearer, _ := auth.NewBearerVerifier(auth.StaticTokens(map[string]string{tokenUser1: "user-1", tokenUser2: "user-2"}))
	f := newFixture(t, gateway.Config{Verifier: auth.FirstOf(cookie, bearer), SessionCookie: "gw_session"})

	f.get(t, "/api/gateway/user-1/dep-1/whoami", tokenUser1, "Cookie: app_pref=dark; csrftoken=xyz")
	got := f.dep1.lastRequest()
	if a := got.Header.Get("Authorization"); a != "" {
		t.Errorf("bearer request: upstream Authorization = %q, want it stripped", a)
	}
	if c := got.Header.Get("Cookie"); c != "app_pref=dark; csrftoken=xyz" {
		t.Errorf("bearer request: upstream Cookie = %q, want the app's cookies in order", c)
	}

	f.get(t, "/api/gateway/user-1/dep-1/whoami", "",
		"Cookie: gw_session=S1; app_pref=dark; csrftoken=xyz", "Authorization: Bearer app-jwt-123")
	got = f.dep1.lastRequest()
	if a := got.Header.Get("Authorization"); a != "Bearer app-jwt-123" {
		t.Errorf("cookie request: upstream Authorization = %q, want the app's token untouched", a)
	}
	if c := got.Header.Get("Cookie"); c != "app_pref=dark; csrftoken=xyz" {
		t.Errorf("cookie request: upstream Cookie = %q, want the session cookie removed, the rest in order", c)
	}

	// A platform token riding along with the cookie is still the
	// platform's, whoever it belongs to, however it is dressed.
	for _, headers := range [][]string{
		{"Authorization: Bearer " + tokenUser1},
		{"Authorization: Bearer app-jwt-123", "Authorization: Bearer " + tokenUser2},
		{"Authorization: Bearer " + tokenUser2 + ", Bearer app-jwt-123"},
		{"Authorization: " + tokenUser1},
		{"Authorization: Token " + tokenUser1},
		{"Authorization: Bearer " + tokenUser1 + " x"},
		{"Authorization: Bearer " + tokenUser1 + ";"},
		{`Authorization: Bearer "` + tokenUser1 + `"`},
		{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+tokenUser1))},
		{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(tokenUser2+":"))},
		{"Authorization: Basic " + base64.RawURLEncoding.EncodeToString([]byte("u:"+tokenUser1))},
	} {
		f.get(t, "/api/gateway/user-1/dep-1/whoami", "", append(headers, "Cookie: gw_session=S1")...)
		if a := f.dep1.lastRequest().Header.Values("Authorization"); len(a) != 0 {
			t.Errorf("cookie request with %q: upstream Authorization = %q, want it stripped", headers, a)
		}
	}
	if u := got.Header.Get("X-Gateway-User-Id"); u != "user-1" {
		t.Errorf("upstream X-Gateway-User-Id = %q, want user-1", u)
	}
}

func TestTraceAndConnectAreRefused(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	for _, method := range []string{"TRACE", "CONNECT"} {
		resp := f.raw(t, method, "/api/gateway/user-1/dep-1/", "Authorization: Bearer "+tokenUser1)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: status = %d, want 405", method, resp.StatusCode)
		}
	}
	if n := f.dep1.hits.Load(); n != 0 {
		t.Errorf("upstream saw %d requests, want 0", n)
	}
}

func TestUpstreamFailuresAreLoggedWithTheRequestID(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	f := newFixture(t, gateway.Config{Logger: logger})
	f.store.set(gateway.Deployment{ID: "dep-9", OwnerID: "user-1", Status: gateway.StatusRunning,
		UpstreamURL: "http://127.0.0.1:1"})
	resp, body := f.get(t, "/api/gateway/user-1/dep-9/", tokenUser1)
	p := decodeProblem(t, resp, body)
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), p.RequestID) || !strings.Contains(logs.String(), "dep-9") {
		t.Errorf("log %q does not name request %s and dep-9", logs.String(), p.RequestID)
	}
	if strings.Contains(logs.String(), "Bearer") {
		t.Errorf("log contains the Authorization header: %s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A deployment that accepts connections and never answers is cut at the
// header timeout with a 504, and does not hold up other deployments.
func TestHangingDeploymentDoesNotStarveOthers(t *testing.T) {
	f := newFixture(t, gateway.Config{UpstreamHeaderTimeout: 2 * time.Second})
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(hang) })
	f.store.set(gateway.Deployment{ID: "dep-h", OwnerID: "user-1", Status: gateway.StatusRunning,
		UpstreamURL: hanging.URL})

	var wg sync.WaitGroup
	statuses := make(chan int, 200)
	for range 200 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", f.srv.URL+"/api/gateway/user-1/dep-h/hang", nil)
			req.Header.Set("Authorization", "Bearer "+tokenUser1)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	resp, _ := f.get(t, "/api/gateway/user-2/dep-2/", tokenUser2)
	if resp.StatusCode != 200 || time.Since(start) > time.Second {
		t.Errorf("other deployment during the hang: %d after %v, want a prompt 200", resp.StatusCode, time.Since(start))
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusGatewayTimeout {
			t.Fatalf("hanging request: status = %d, want 504", s)
		}
	}
}

// An Authorization header listing thousands of credentials on a
// cookie-authenticated request costs the verifier a few lookups, not one
// each, and is kept from the deployment as if it held a platform token.
func TestLongAuthorizationListsAreNotAllChecked(t *testing.T) {
	var verified atomic.Int64
	cookie := auth.VerifierFunc(func(r *http.Request) (auth.Identity, error) {
		if c, err := r.Cookie("gw_session"); err != nil || c.Value != "S1" {
			return auth.Identity{}, auth.ErrNoCredentials
		}
		return auth.Identity{UserID: "user-1", Credential: auth.CredentialCookie}, nil
	})
	bearer, _ := auth.NewBearerVerifier(auth.StaticTokens(map[string]string{tokenUser1: "user-1"}))
	counting := auth.VerifierFunc(func(r *http.Request) (auth.Identity, error) {
		if r.Header.Get("Authorization") != "" && r.Header.Get("Cookie") == "" {
			verified.Add(1) // a probe of one Authorization element
		}
		return bearer.Verify(r)
	})
	f := newFixture(t, gateway.Config{Verifier: auth.FirstOf(cookie, counting), SessionCookie: "gw_session"})

	f.get(t, "/api/gateway/user-1/dep-1/whoami", "",
		"Cookie: gw_session=S1", "Authorization: "+strings.Repeat("a,", 30_000))

	if n := verified.Load(); n > 4 {
		t.Errorf("the verifier checked %d Authorization elements, want at most 4", n)
	}
	if a := f.dep1.lastRequest().Header.Values("Authorization"); len(a) != 0 {
		t.Errorf("upstream Authorization = %.40q..., want it stripped", a)
	}
}
