package proxy

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPathForwardedByteForByte(t *testing.T) {
	up := newUpstream(t, echoHandler)
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{
		"dep-1":    up.URL,
		"dep-base": up.URL + "/base/",
	}})
	tests := []struct {
		name, requestURI, want string
	}{
		{"escaped slash, space and query kept",
			gatewayPrefix + "dep-1/files/a%2Fb%20c?q=%2F", "/files/a%2Fb%20c?q=%2F"},
		{"double slashes kept", gatewayPrefix + "dep-1//double//slash/", "//double//slash/"},
		{"deployment root without slash", gatewayPrefix + "dep-1", "/"},
		{"deployment root with slash", gatewayPrefix + "dep-1/", "/"},
		{"scheme-relative look-alike stays a path",
			gatewayPrefix + "dep-1//evil.example/x", "//evil.example/x"},
		{"base path joined with one slash", gatewayPrefix + "dep-base/x", "/base/x"},
		{"base path root", gatewayPrefix + "dep-base/", "/base/"},
		{"escaped unreserved byte kept", gatewayPrefix + "dep-1/%41b", "/%41b"},
		{"query ReverseProxy would re-encode kept",
			gatewayPrefix + "dep-1/q?a=1;b=2&c=%zz", "/q?a=1;b=2&c=%zz"},
		{"empty query kept", gatewayPrefix + "dep-1/q?", "/q?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "GET " + tt.requestURI + " HTTP/1.1\r\nHost: " + publicHost + "\r\n\r\n"

			res, body := rawRequest(t, g.Server, raw)

			if res.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", res.StatusCode, body)
			}
			e := decodeEcho(t, body)
			if e.URI != tt.want {
				t.Errorf("upstream request-URI = %q, want %q", e.URI, tt.want)
			}
			if want := strings.TrimPrefix(up.URL, "http://"); e.Host != want {
				t.Errorf("upstream Host = %q, want the upstream's own %q", e.Host, want)
			}
		})
	}
}

func TestSetURLJoinsBasePath(t *testing.T) {
	tests := []struct {
		upstream, path, wantEscaped, wantPath string
	}{
		{"http://h", "/x", "/x", "/x"},
		{"http://h/", "/", "/", "/"},
		{"http://h/base", "/", "/base/", "/base/"},
		{"http://h/base/", "/x", "/base/x", "/base/x"},
		{"http://h/base/", "", "/base/", "/base/"},
		{"http://h/a%2Fb/", "/c%20d", "/a%2Fb/c%20d", "/a/b/c d"},
		{"http://h/base/", "//double//", "/base//double//", "/base//double//"},
	}
	for _, tt := range tests {
		up, err := url.Parse(tt.upstream)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := url.Parse("http://public/ignored?q=1")
		out := new(url.URL)

		setURL(out, &Target{Upstream: up, Path: tt.path}, in)

		if got := out.EscapedPath(); got != tt.wantEscaped {
			t.Errorf("%s + %q: EscapedPath = %q, want %q", tt.upstream, tt.path, got, tt.wantEscaped)
		}
		if out.Path != tt.wantPath {
			t.Errorf("%s + %q: Path = %q, want %q", tt.upstream, tt.path, out.Path, tt.wantPath)
		}
		if out.Host != "h" || out.Scheme != "http" || out.RawQuery != "q=1" {
			t.Errorf("%s + %q: URL = %s, want host h, scheme http, query q=1",
				tt.upstream, tt.path, out)
		}
	}
}

func TestClientIdentityAndForwardingHeadersReplaced(t *testing.T) {
	up := newUpstream(t, echoHandler)
	spoofed := strings.Join([]string{
		"X-Forwarded-For: 203.0.113.9",
		"X-Forwarded-For: 198.51.100.1",
		"X-Real-IP: 203.0.113.9",
		"Forwarded: for=203.0.113.9;host=evil.example;proto=http",
		"X-Forwarded-Host: evil.example",
		"X-Forwarded-Proto: http",
		"X-Forwarded-Prefix: /admin",
		"X-Forwarded-User: user-2",
		"X-Forwarded-Email: user-2@example.test",
		"X-Gateway-User-Id: user-2",
		"X-Gateway-Deployment-Id: dep-2",
		"X-Gateway-Role: admin",
		"X_Gateway_User_Id: user-2",
		"x-gateway-deployment_id: dep-2",
		"X-Request-Id: spoofed-id",
		"X-Auth-Request-User: user-2",
		"Remote-User: user-2",
		"X-Remote-User: user-2",
		"X-Original-URL: /admin",
		"X-Rewrite-URL: /admin",
		"True-Client-IP: 203.0.113.9",
	}, "\r\n")
	tests := []struct {
		name    string
		trusted bool
		want    map[string][]string
	}{
		{
			name: "untrusted peer",
			want: map[string][]string{
				"X-Forwarded-For":    {"127.0.0.1"},
				"X-Forwarded-Host":   {publicHost},
				"X-Forwarded-Proto":  {"http"},
				"X-Forwarded-Prefix": {gatewayPrefix + "dep-1"},
			},
		},
		{
			name:    "trusted proxy extends the chain",
			trusted: true,
			want: map[string][]string{
				"X-Forwarded-For":    {"203.0.113.9, 198.51.100.1, 127.0.0.1"},
				"X-Forwarded-Host":   {"edge.example.test"},
				"X-Forwarded-Proto":  {"https"},
				"X-Forwarded-Prefix": {gatewayPrefix + "dep-1"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trust := func(*http.Request) bool { return tt.trusted }
			g := newGateway(t, Config{TrustForwarded: trust},
				gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
			headers := spoofed
			if tt.trusted {
				headers = strings.NewReplacer(
					"X-Forwarded-Host: evil.example", "X-Forwarded-Host: edge.example.test",
					"X-Forwarded-Proto: http", "X-Forwarded-Proto: https",
				).Replace(spoofed)
			}

			res, body := rawRequest(t, g.Server, "GET "+gatewayPrefix+"dep-1/whoami HTTP/1.1\r\nHost: "+
				publicHost+"\r\n"+headers+"\r\n\r\n")

			e := decodeEcho(t, body)
			want := map[string][]string{
				HeaderUserID:       {"user-1"},
				HeaderDeploymentID: {"dep-1"},
				HeaderRequestID:    {res.Header.Get(HeaderRequestID)},
			}
			for k, v := range tt.want {
				want[k] = v
			}
			got := make(map[string][]string)
			for k, v := range e.Header {
				if spoofable(k) {
					got[k] = v
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("identity and forwarding headers at the upstream (-want +got):\n%s", diff)
			}
			if want[HeaderRequestID][0] == "spoofed-id" || want[HeaderRequestID][0] == "" {
				t.Errorf("X-Request-Id = %q, want the gateway's own", want[HeaderRequestID][0])
			}
		})
	}
}

func TestConnectionHeaderCannotRemoveGatewayHeaders(t *testing.T) {
	up := newUpstream(t, echoHandler)
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	tests := []struct {
		name, connection string
	}{
		{"one Connection line", "Connection: keep-alive, X-Gateway-User-Id, X-Gateway-Deployment-Id, " +
			"X-Forwarded-For, X-Request-Id, X-Forwarded-Prefix, Traceparent\r\n"},
		{"second Connection line", "Connection: \r\nConnection: X-Gateway-User-Id, X-Forwarded-For, " +
			"X-Request-Id, Traceparent\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "GET " + gatewayPrefix + "dep-1/ HTTP/1.1\r\nHost: " + publicHost + "\r\n" +
				tt.connection + "Traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n"

			res, body := rawRequest(t, g.Server, raw)

			e := decodeEcho(t, body)
			want := map[string]string{
				HeaderUserID:         "user-1",
				HeaderDeploymentID:   "dep-1",
				"X-Forwarded-For":    "127.0.0.1",
				"X-Forwarded-Prefix": gatewayPrefix + "dep-1",
				HeaderRequestID:      res.Header.Get(HeaderRequestID),
			}
			for k, v := range want {
				if got := e.Header[k]; len(got) != 1 || got[0] != v {
					t.Errorf("upstream %s = %q, want exactly [%q]", k, got, v)
				}
			}
			if got := e.Header["Traceparent"]; got != nil {
				t.Errorf("upstream Traceparent = %q, want it removed as the client nominated it", got)
			}
		})
	}
}

func TestUpgradeOtherThanWebSocketNeverReachesUpstream(t *testing.T) {
	seen := make(chan http.Header, 1)
	// The upstream stands in for an h2c server: it would switch protocols
	// if it were asked to.
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		if r.Header.Get("Upgrade") != "" {
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "h2c")
			w.WriteHeader(http.StatusSwitchingProtocols)
			return
		}
		w.Write([]byte("plain"))
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})

	raw := "GET " + gatewayPrefix + "dep-1/ HTTP/1.1\r\nHost: " + publicHost + "\r\n" +
		"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
		"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"

	res, body := rawRequest(t, g.Server, raw)

	if res.StatusCode != http.StatusOK || string(body) != "plain" {
		t.Errorf("response = %d %q, want 200 \"plain\"", res.StatusCode, body)
	}
	h := <-seen
	for _, k := range []string{"Upgrade", "Http2-Settings", "Connection"} {
		if v, ok := h[k]; ok {
			t.Errorf("upstream saw %s: %q, want none", k, v)
		}
	}
}

func TestUnaskedSwitchingProtocolsIsBadGateway(t *testing.T) {
	// Without vetting, ReverseProxy would tunnel a 101 that has no Upgrade
	// header to a request that never asked for one.
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusSwitchingProtocols)
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})

	res, _ := do(t, newRequest(t, "GET", g.url("dep-1", "/"), nil))

	if got, want := res.StatusCode, http.StatusBadGateway; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
}

func TestCredentialsStripped(t *testing.T) {
	up := newUpstream(t, echoHandler)
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	tests := []struct {
		name       string
		header     http.Header
		wantCookie []string
		wantAuth   []string
	}{
		{
			name:   "gateway bearer token",
			header: http.Header{"Authorization": {"Bearer T1"}},
		},
		{
			name:       "session cookie cut, others in order",
			header:     http.Header{"Cookie": {"gw_session=S1; app_pref=dark; csrftoken=xyz"}},
			wantCookie: []string{"app_pref=dark; csrftoken=xyz"},
		},
		{
			name:       "session cookie in the middle, values untouched",
			header:     http.Header{"Cookie": {`a="q%20 1"; gw_session=S1;b=2; gw_session=S0`}},
			wantCookie: []string{`a="q%20 1"; b=2`},
		},
		{
			name: "application token kept with cookie authentication",
			header: http.Header{
				"Cookie":        {"gw_session=S1"},
				"Authorization": {"Bearer app-jwt-123"},
			},
			wantAuth:   []string{"Bearer app-jwt-123"},
			wantCookie: nil,
		},
		{
			name:       "look-alike cookie names kept",
			header:     http.Header{"Cookie": {"gw_session_pref=1; xgw_session=2; GW_SESSION=3"}},
			wantCookie: []string{"gw_session_pref=1; xgw_session=2; GW_SESSION=3"},
		},
		{
			name:   "proxy credentials",
			header: http.Header{"Proxy-Authorization": {"Basic dTpw"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, "GET", g.url("dep-1", "/whoami"), nil)
			req.Header = tt.header

			_, body := do(t, req)

			e := decodeEcho(t, body)
			if diff := cmp.Diff(tt.wantCookie, e.Header["Cookie"]); diff != "" {
				t.Errorf("upstream Cookie (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAuth, e.Header["Authorization"]); diff != "" {
				t.Errorf("upstream Authorization (-want +got):\n%s", diff)
			}
			if got := e.Header["Proxy-Authorization"]; got != nil {
				t.Errorf("upstream Proxy-Authorization = %q, want none", got)
			}
		})
	}
}

func TestStripCookieAcrossLines(t *testing.T) {
	// HTTP/2 clients may send each cookie on its own line.
	h := http.Header{"Cookie": {"gw_session=S1", "a=1; gw_session=S1; b=2", "c=3"}}

	stripCookie(h, sessionCookie)

	if diff := cmp.Diff([]string{"a=1; b=2", "c=3"}, h["Cookie"]); diff != "" {
		t.Errorf("Cookie lines (-want +got):\n%s", diff)
	}
	h = http.Header{"Cookie": {"gw_session=S1"}}
	stripCookie(h, sessionCookie)
	if v, ok := h["Cookie"]; ok {
		t.Errorf("Cookie = %q, want the header removed", v)
	}
}

func TestMCPHeadersPassBothWays(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Mcp-Session-Id", "sess-42")
		w.Header().Set("Mcp-Protocol-Version", "2025-06-18")
		echoHandler(w, r)
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	req := newRequest(t, "POST", g.url("dep-1", "/mcp"), strings.NewReader(`{"jsonrpc":"2.0"}`))
	sent := http.Header{
		"Mcp-Session-Id":       {"sess-42"},
		"Mcp-Protocol-Version": {"2025-06-18"},
		"Mcp-Custom":           {"x"},
		"Last-Event-Id":        {"17"},
	}
	for k, v := range sent {
		req.Header[k] = v
	}

	res, body := do(t, req)

	e := decodeEcho(t, body)
	for k, v := range sent {
		if diff := cmp.Diff(v, e.Header[k]); diff != "" {
			t.Errorf("upstream %s (-want +got):\n%s", k, diff)
		}
	}
	if got := res.Header.Get("Mcp-Session-Id"); got != "sess-42" {
		t.Errorf("response Mcp-Session-Id = %q, want %q", got, "sess-42")
	}
}
