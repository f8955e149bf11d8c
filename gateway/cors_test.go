package gateway_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/gateway"
	"github.com/mcphub/apigateway/limit"
)

const appOrigin = "https://app.example.test"

// sessionsOrTokens accepts the session cookies S1 and S2 and the bearer
// tokens of the fixture, cookie first, as a platform would.
func sessionsOrTokens(t *testing.T) auth.SessionVerifier {
	t.Helper()
	cookie := auth.VerifierFunc(func(r *http.Request) (auth.Identity, error) {
		c, err := r.Cookie("gw_session")
		if err != nil {
			return auth.Identity{}, auth.ErrNoCredentials
		}
		users := map[string]string{"S1": "user-1", "S2": "user-2"}
		if users[c.Value] == "" {
			return auth.Identity{}, auth.ErrUnauthenticated
		}
		return auth.Identity{UserID: users[c.Value], Credential: auth.CredentialCookie}, nil
	})
	bearer, err := auth.NewBearerVerifier(auth.StaticTokens(map[string]string{tokenUser1: "user-1", tokenUser2: "user-2"}))
	if err != nil {
		t.Fatal(err)
	}
	return auth.FirstOf(cookie, bearer)
}

func corsFixture(t *testing.T, cfg gateway.Config) *fixture {
	t.Helper()
	cfg.Verifier = sessionsOrTokens(t)
	cfg.SessionCookie = "gw_session"
	if cfg.CORS.AllowedOrigins == nil {
		cfg.CORS.AllowedOrigins = []string{appOrigin}
	}
	return newFixture(t, cfg)
}

func headerList(h http.Header, name string) []string {
	var out []string
	for _, line := range h.Values(name) {
		for v := range strings.SplitSeq(line, ",") {
			out = append(out, strings.ToLower(strings.TrimSpace(v)))
		}
	}
	return out
}

func TestPreflightIsAnsweredBeforeAuthLimitsAndUpstream(t *testing.T) {
	f := corsFixture(t, gateway.Config{Limits: limit.Config{
		PerUser:       limit.Rate{Limit: 1, Period: time.Minute},
		PerDeployment: limit.Rate{Limit: 1, Period: time.Minute},
	}})
	preflight := []string{"Origin: " + appOrigin, "Access-Control-Request-Method: POST",
		"Access-Control-Request-Headers: authorization,content-type,last-event-id,mcp-protocol-version,mcp-session-id"}
	for i := range 5 {
		resp := f.rawOptions(t, "/api/gateway/user-1/dep-1/mcp", preflight...)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("preflight %d: status = %d, want 204", i+1, resp.StatusCode)
		}
		h := resp.Header
		if got := h.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != appOrigin {
			t.Errorf("Access-Control-Allow-Origin = %q, want exactly %s", got, appOrigin)
		}
		if h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Access-Control-Max-Age") == "" {
			t.Errorf("credentials %q, max age %q; want true and a max age",
				h.Get("Access-Control-Allow-Credentials"), h.Get("Access-Control-Max-Age"))
		}
		if got := headerList(h, "Access-Control-Allow-Methods"); !slices.Contains(got, "post") {
			t.Errorf("Access-Control-Allow-Methods = %q, want POST", got)
		}
		allowed := headerList(h, "Access-Control-Allow-Headers")
		for _, want := range []string{"authorization", "content-type", "mcp-session-id",
			"mcp-protocol-version", "last-event-id"} {
			if !slices.Contains(allowed, want) {
				t.Errorf("Access-Control-Allow-Headers = %q, want %s", allowed, want)
			}
		}
		vary := headerList(h, "Vary")
		for _, want := range []string{"origin", "access-control-request-method", "access-control-request-headers"} {
			if !slices.Contains(vary, want) {
				t.Errorf("Vary = %q, want %s", vary, want)
			}
		}
		if h.Get("Access-Control-Allow-Private-Network") != "" {
			t.Error("private network access answered although not configured")
		}
	}
	if n := f.dep1.hits.Load(); n != 0 {
		t.Errorf("upstream saw %d preflights, want 0", n)
	}

	resp := f.rawOptions(t, "/api/gateway/user-1/dep-1/mcp", "Origin: https://evil.example",
		"Access-Control-Request-Method: POST")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("preflight from a foreign origin: Access-Control-Allow-Origin = %q, want none", got)
	}

	// The real request afterwards is the first the limits count, and it
	// exposes the MCP session header.
	real, _ := f.get(t, "/api/gateway/user-1/dep-1/mcp", tokenUser1, "Origin: "+appOrigin)
	if real.StatusCode != 200 {
		t.Fatalf("real request after the preflights: status = %d, want 200", real.StatusCode)
	}
	exposed := headerList(real.Header, "Access-Control-Expose-Headers")
	for _, want := range []string{"mcp-session-id", "mcp-protocol-version", "retry-after", "x-request-id", "ratelimit"} {
		if !slices.Contains(exposed, want) {
			t.Errorf("Access-Control-Expose-Headers = %q, want %s", exposed, want)
		}
	}
}

func (f *fixture) rawOptions(t *testing.T, path string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestCredentialedOriginsAreEchoedExactly(t *testing.T) {
	f := corsFixture(t, gateway.Config{})
	up := newUpstream(t, "dep-7")
	up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Vary", "Accept-Encoding")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Credentials", "true")
	})
	f.store.set(gateway.Deployment{ID: "dep-7", OwnerID: "user-1", Status: gateway.StatusRunning, UpstreamURL: up.URL})

	resp, _ := f.get(t, "/api/gateway/user-1/dep-7/", "", "Cookie: gw_session=S1", "Origin: "+appOrigin)
	if got := resp.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != appOrigin {
		t.Errorf("allowed origin: Access-Control-Allow-Origin = %q, want exactly %s", got, appOrigin)
	}
	if got := resp.Header.Values("Access-Control-Allow-Credentials"); len(got) != 1 || got[0] != "true" {
		t.Errorf("allowed origin: Access-Control-Allow-Credentials = %q, want exactly true", got)
	}
	wantVary := []string{"origin", "accept-encoding"}
	if got := resp.Header.Values("Vary"); len(got) != 1 || !slices.Equal(headerList(resp.Header, "Vary"), wantVary) {
		t.Errorf("Vary = %q, want one line merging Origin and the deployment's Accept-Encoding", got)
	}

	for _, origin := range []string{"https://evil.example", "https://app.example.test.evil.example",
		"https://evilapp.example.test", "null", "http://app.example.test"} {
		resp, _ := f.get(t, "/api/gateway/user-1/dep-7/", "", "Cookie: gw_session=S1", "Origin: "+origin)
		if got := resp.Header.Values("Access-Control-Allow-Origin"); len(got) != 0 {
			t.Errorf("origin %s: Access-Control-Allow-Origin = %q, want none", origin, got)
		}
		if got := resp.Header.Values("Access-Control-Allow-Credentials"); len(got) != 0 {
			t.Errorf("origin %s: Access-Control-Allow-Credentials = %q, want none", origin, got)
		}
		if !slices.Contains(headerList(resp.Header, "Vary"), "origin") {
			t.Errorf("origin %s: Vary = %q, want Origin", origin, resp.Header.Values("Vary"))
		}
	}
}

func TestDeploymentsMayAllowTheirOwnOrigins(t *testing.T) {
	f := corsFixture(t, gateway.Config{})
	d := f.store.deps["dep-1"]
	d.CORSOrigins = []string{"https://*.dep-one.example", "null"}
	f.store.set(d)

	check := func(path, origin string, want bool) {
		t.Helper()
		resp := f.rawOptions(t, path, "Origin: "+origin, "Access-Control-Request-Method: GET")
		if got := resp.Header.Get("Access-Control-Allow-Origin") == origin; got != want {
			t.Errorf("preflight %s from %s: allowed = %v, want %v", path, origin, got, want)
		}
	}
	check("/api/gateway/user-1/dep-1/", "https://www.dep-one.example", true)
	check("/api/gateway/user-1/dep-1/", "https://dep-one.example", false)
	check("/api/gateway/user-1/dep-1/", "https://a.b.dep-one.example", false)
	check("/api/gateway/user-1/dep-1/", "null", false)
	check("/api/gateway/user-1/dep-2/", "https://www.dep-one.example", false)
	check("/api/gateway/user-2/dep-1/", "https://www.dep-one.example", false)
}

func TestNewRefusesOverBroadOrigins(t *testing.T) {
	for _, origin := range []string{"*", "null", "https://*", "*.example.com", "https://*.com",
		"https://a.*.example.com", "https://app.example.test/path", "ftp://app.example.test", "app.example.test"} {
		cfg := gateway.Config{Verifier: sessionsOrTokens(t), Deployments: &fakeStore{},
			CORS: gateway.CORSConfig{AllowedOrigins: []string{origin}}}
		if _, err := gateway.New(cfg); err == nil {
			t.Errorf("New with allowed origin %q succeeded, want an error", origin)
		}
	}
}

// Cookie-authenticated WebSocket handshakes and state-changing requests
// from origins that are not allowed are refused; bearer-token requests and
// clients that send no Origin (not browsers) are not.
func TestCookieRequestsFromForeignOriginsAreRefused(t *testing.T) {
	f := corsFixture(t, gateway.Config{})
	ws := []string{"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}
	cookie := "Cookie: gw_session=S1"
	platform := "Origin: http://" + strings.TrimPrefix(f.srv.URL, "http://")

	cases := []struct {
		name    string
		method  string
		headers []string
		token   string
		status  int
	}{
		{"cookie handshake from a foreign site", "GET",
			append([]string{cookie, "Origin: https://evil.example"}, ws...), "", 403},
		{"cookie handshake from null", "GET", append([]string{cookie, "Origin: null"}, ws...), "", 403},
		{"cookie handshake from the platform", "GET", append([]string{cookie, platform}, ws...), "", 101},
		{"cookie handshake from the app origin", "GET", append([]string{cookie, "Origin: " + appOrigin}, ws...), "", 101},
		{"bearer handshake from a foreign site", "GET",
			append([]string{"Origin: https://evil.example"}, ws...), tokenUser1, 101},
		{"cookie handshake without Origin", "GET", append([]string{cookie}, ws...), "", 101},
		{"cookie POST from a foreign site", "POST", []string{cookie, "Origin: https://evil.example"}, "", 403},
		{"cookie POST marked cross-site", "POST", []string{cookie, "Sec-Fetch-Site: cross-site"}, "", 403},
		{"cookie POST from the app origin", "POST", []string{cookie, "Origin: " + appOrigin}, "", 200},
		{"cookie GET from a foreign site", "GET", []string{cookie, "Origin: https://evil.example"}, "", 200},
	}
	for _, c := range cases {
		before := f.dep1.hits.Load()
		headers := c.headers
		if c.token != "" {
			headers = append(headers, "Authorization: Bearer "+c.token)
		}
		resp := f.raw(t, c.method, "/api/gateway/user-1/dep-1/ws", headers...)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status = %d, want %d", c.name, resp.StatusCode, c.status)
		}
		if c.status == 403 && f.dep1.hits.Load() != before {
			t.Errorf("%s: the upstream was contacted", c.name)
		}
	}
}

// Tool arguments travel in Mcp-Param-{Name} headers named by each tool, so
// a browser's preflight for them must pass, while a header nobody allowed
// is still refused, alone or mixed in.
func TestPreflightAllowsMCPParamHeaders(t *testing.T) {
	f := corsFixture(t, gateway.Config{})
	tests := []struct {
		requested string
		allow     bool
	}{
		{"content-type,mcp-method,mcp-name,mcp-param-region,mcp-protocol-version", true},
		{"mcp-param-region, mcp-param-tenant-id", true},
		{"mcp-param-", false},
		{"mcp-param-region,x-secret-header", false},
		{"x-secret-header", false},
	}
	for _, tt := range tests {
		resp := f.rawOptions(t, "/api/gateway/user-1/dep-1/mcp", "Origin: "+appOrigin,
			"Access-Control-Request-Method: POST", "Access-Control-Request-Headers: "+tt.requested)
		allowed := headerList(resp.Header, "Access-Control-Allow-Headers")
		origin := resp.Header.Get("Access-Control-Allow-Origin")
		if !tt.allow {
			if origin != "" || len(allowed) != 0 {
				t.Errorf("preflight for %q: allowed origin %q, headers %q; want refused", tt.requested, origin, allowed)
			}
			continue
		}
		if origin != appOrigin || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("preflight for %q: origin %q, credentials %q; want %s with credentials",
				tt.requested, origin, resp.Header.Get("Access-Control-Allow-Credentials"), appOrigin)
		}
		for name := range strings.SplitSeq(tt.requested, ",") {
			if name = strings.TrimSpace(name); !slices.Contains(allowed, name) {
				t.Errorf("preflight for %q: Access-Control-Allow-Headers = %q, want %s", tt.requested, allowed, name)
			}
		}
	}
	if n := f.dep1.hits.Load(); n != 0 {
		t.Errorf("upstream saw %d preflights, want 0", n)
	}
}

// Origin is a single value; a request repeating it is refused before its
// origins could be echoed, preflight or not.
func TestRepeatedOriginIsRefused(t *testing.T) {
	f := corsFixture(t, gateway.Config{})
	for _, method := range []string{"OPTIONS", "GET"} {
		resp := f.raw(t, method, "/api/gateway/user-1/dep-1/mcp", "Origin: "+appOrigin,
			"Origin: https://evil.example", "Access-Control-Request-Method: POST",
			"Authorization: Bearer "+tokenUser1)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s with two Origins: %d, want 400", method, resp.StatusCode)
		}
		if got := resp.Header.Values("Access-Control-Allow-Origin"); len(got) != 0 {
			t.Errorf("%s with two Origins: Access-Control-Allow-Origin = %q, want none", method, got)
		}
		if p := decodeProblem(t, resp, string(body)); !strings.HasSuffix(p.Type, "#invalid-request") {
			t.Errorf("problem type %q, want invalid-request", p.Type)
		}
	}
	if n := f.dep1.hits.Load(); n != 0 {
		t.Errorf("upstream saw %d requests, want 0", n)
	}
}
