package proxy

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mcphub/apigateway/internal/requestid"
)

// capturingTransport keeps the request it is asked to send and answers it
// with an empty 200, so a fuzz target can inspect what would have left the
// gateway without a network round trip.
type capturingTransport struct{ out *http.Request }

func (c *capturingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.out = r
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK,
		ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{},
		Body:    http.NoBody,
		Request: r,
	}, nil
}

// The headers the proxy itself sets on every upstream request.
var gatewaySet = []string{
	HeaderUserID, HeaderDeploymentID, HeaderRequestID,
	"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Prefix",
}

// connectionOnly are the headers that concern one connection and must not
// be forwarded, besides Connection, Upgrade and TE, which the checks treat
// apart.
var connectionOnly = []string{"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Trailer", "Transfer-Encoding", "Http2-Settings"}

// claimsIdentity reports whether a header name (in any case, with '_' for
// '-') claims something only the gateway may say: who the client is, who
// the user is, or what path it asked for. The list is the test's own, so a
// name dropped from the proxy's list by mistake is caught.
func claimsIdentity(name string) bool {
	n := strings.ReplaceAll(strings.ToLower(name), "_", "-")
	switch n {
	case "forwarded", "x-real-ip", "x-request-id", "remote-user", "x-remote-user",
		"x-rewrite-url", "x-client-ip", "true-client-ip", "x-cluster-client-ip":
		return true
	}
	for _, p := range []string{"x-gateway-", "x-forwarded-", "x-auth-request-", "x-original-"} {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

// cookiePairs lists the non-empty name=value pairs of Cookie lines, trimmed
// as servers read them.
func cookiePairs(lines []string) []string {
	var pairs []string
	for _, line := range lines {
		for pair := range strings.SplitSeq(line, ";") {
			if pair = strings.Trim(pair, " \t\r\n"); pair != "" {
				pairs = append(pairs, pair)
			}
		}
	}
	return pairs
}

// cookieName is the name of a cookie pair as the most lenient servers read
// it, with any white space around it trimmed.
func cookieName(pair string) string {
	name, _, _ := strings.Cut(pair, "=")
	return strings.TrimSpace(name)
}

// FuzzInboundHeaders sends arbitrary client header sections through the
// proxy and checks the upstream request: the gateway's identity and
// forwarding headers arrive exactly once with the gateway's values, no
// client copy of them or of any other identity header survives, nothing
// hop-by-hop or named in Connection passes (bar a WebSocket upgrade), the
// platform's credentials are gone, and every other cookie arrives in order.
func FuzzInboundHeaders(f *testing.F) {
	for _, seed := range []string{
		// Platform credentials next to the application's.
		"Authorization: Bearer T1\nCookie: gw_session=S1; app_pref=dark; csrftoken=xyz",
		"Cookie: a=1\nCookie: gw_session=S1;b=2\nCookie:  gw_session =S0 ; c",
		"Proxy-Authorization: Basic dTpw\nAuthorization: Bearer app-jwt-123",
		// Connection-nominated and hop-by-hop headers, h2c.
		"Connection: keep-alive, X-Gateway-User-Id, X-Forwarded-For, X-Request-Id, Traceparent\n" +
			"Traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"Connection:\nConnection: X-Gateway-User-Id, Cookie\nCookie: gw_session=S1",
		"Connection: Upgrade, HTTP2-Settings\nUpgrade: h2c\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
		"Connection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
		"Connection: upgrade\nUpgrade: websocket, h2c",
		"Keep-Alive: timeout=5\nProxy-Connection: keep-alive\nTE: trailers, gzip\nTrailer: X-T",
		// Forwarding and identity claims.
		"X-Forwarded-For: 203.0.113.9\nX-Forwarded-For: 198.51.100.1\nX-Real-IP: 203.0.113.9\n" +
			"Forwarded: for=203.0.113.9;host=evil.example;proto=http\nX-Forwarded-Host: evil.example\n" +
			"X-Forwarded-Proto: https\nX-Forwarded-Prefix: /admin\nX-Forwarded-User: user-2",
		"X_Gateway_User_Id: user-2\nx-gateway-deployment_id: dep-2\nX-Auth-Request-User: user-2\n" +
			"Remote-User: user-2\nX-Original-URL: /admin\nTrue-Client-IP: 203.0.113.9",
	} {
		f.Add(seed, true, false)
		f.Add(seed, false, true)
	}
	upstream, _ := url.Parse("http://10.0.0.11:8080/base/")
	const peer, prefix, id = "203.0.113.7", gatewayPrefix + "dep-1", "req-fuzz"

	f.Fuzz(func(t *testing.T, block string, strip, trusted bool) {
		raw := "GET " + prefix + "/x HTTP/1.1\r\nHost: " + publicHost + "\r\n" +
			strings.ReplaceAll(block, "\n", "\r\n") + "\r\n\r\n"
		in, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http would have answered 400 before any handler ran
		}
		in.RemoteAddr = peer + ":5555"
		sent := in.Header.Clone()
		target := &Target{Upstream: upstream, Prefix: prefix, Path: "/x",
			UserID: "user-1", DeploymentID: "dep-1", StripAuthorization: strip}
		in = in.WithContext(requestid.NewContext(NewContext(in.Context(), target), id))
		rt := &capturingTransport{}
		p, err := New(Config{Transport: rt, SessionCookie: sessionCookie,
			TrustForwarded: func(*http.Request) bool { return trusted }})
		if err != nil {
			t.Fatal(err)
		}

		w := httptest.NewRecorder()
		p.ServeHTTP(w, in)

		if rt.out == nil {
			// Only an Upgrade that cannot be printed is refused, and that
			// is the client's mistake.
			if w.Code != http.StatusBadRequest {
				t.Fatalf("headers %q: nothing was sent upstream, yet the answer is %d, not 400", block, w.Code)
			}
			return
		}
		out := rt.out.Header
		want := map[string]string{
			HeaderUserID: "user-1", HeaderDeploymentID: "dep-1", HeaderRequestID: id,
			"X-Forwarded-Prefix": prefix,
		}
		if !trusted {
			want["X-Forwarded-For"] = peer
			want["X-Forwarded-Host"] = in.Host
			want["X-Forwarded-Proto"] = "http"
		}
		for _, k := range gatewaySet {
			got := out[k]
			if len(got) != 1 || (want[k] != "" && got[0] != want[k]) {
				t.Fatalf("headers %q: upstream %s = %q, want exactly one line %q", block, k, got, want[k])
			}
		}
		if xff := out.Get("X-Forwarded-For"); xff != peer && !strings.HasSuffix(xff, ", "+peer) {
			t.Fatalf("headers %q: upstream X-Forwarded-For = %q, want it to end with the peer", block, xff)
		}

		websocket := strings.EqualFold(out.Get("Upgrade"), "websocket")
		nominated := map[string]bool{}
		for _, line := range sent["Connection"] {
			for name := range strings.SplitSeq(line, ",") {
				nominated[http.CanonicalHeaderKey(strings.TrimSpace(name))] = true
			}
		}
		for k, v := range out {
			switch {
			case slices.Contains(gatewaySet, k):
				continue // checked above
			case claimsIdentity(k):
				t.Fatalf("headers %q: upstream got the client's %s: %q", block, k, v)
			case k == "Te":
				if len(v) != 1 || v[0] != "trailers" {
					t.Fatalf("headers %q: upstream Te = %q, want only trailers", block, v)
				}
			case k == "Connection" || k == "Upgrade":
				if !websocket || len(v) != 1 {
					t.Fatalf("headers %q: upstream %s = %q outside a WebSocket upgrade", block, k, v)
				}
			case slices.Contains(connectionOnly, k):
				t.Fatalf("headers %q: upstream got hop-by-hop %s: %q", block, k, v)
			case nominated[k]:
				t.Fatalf("headers %q: upstream got %s, which the client named in Connection", block, k)
			}
		}
		if websocket && out.Get("Connection") != "Upgrade" {
			t.Fatalf("headers %q: WebSocket upgrade with Connection %q", block, out["Connection"])
		}

		if got := out["Authorization"]; strip && got != nil {
			t.Fatalf("headers %q: upstream Authorization = %q, want it stripped", block, got)
		} else if !strip && !nominated["Authorization"] && !slices.Equal(got, sent["Authorization"]) {
			t.Fatalf("headers %q: upstream Authorization = %q, want the app's %q",
				block, got, sent["Authorization"])
		}
		var wantPairs []string
		if !nominated["Cookie"] {
			for _, pair := range cookiePairs(sent["Cookie"]) {
				if cookieName(pair) != sessionCookie {
					wantPairs = append(wantPairs, pair)
				}
			}
		}
		if got := cookiePairs(out["Cookie"]); !slices.Equal(got, wantPairs) {
			t.Fatalf("headers %q: upstream cookies %q, want %q", block, got, wantPairs)
		}
		if rt.out.Host != "" && rt.out.Host != upstream.Host {
			t.Fatalf("headers %q: upstream Host = %q, want the upstream's", block, rt.out.Host)
		}
	})
}

// FuzzLocation checks that a redirect a deployment sends to itself, however
// it spells it, sends the browser somewhere under the deployment's prefix
// on the platform's origin, and that a redirect elsewhere is passed on
// untouched or kept on the deployment.
func FuzzLocation(f *testing.F) {
	for _, seed := range []string{
		"/", "/login?next=%2F", "/base/x#frag", "http://10.0.0.11:8080/base/x", "//10.0.0.11:8080/y",
		"https://evil.example/x", "//evil.example/x", "next/page", "?q=1", "mailto:a@example.test",
		// A deployment redirecting across the prefix.
		"/../../user-2/dep-2/", "/%2e%2e/%2E%2e/user-2/dep-2/", `/..\..\user-2\dep-2\`,
		"/base/../../../x", "../../../../user-2/dep-2/", "..%2f..%2fx", "/./.././x/..",
		"http://10.0.0.11:8080/../../user-2/dep-2/", `\\10.0.0.11:8080\x`, "///10.0.0.11:8080/x",
		"http://u:p@10.0.0.11:8080/x", "http:\\\\10.0.0.11:8080/x", "/.\t./.\t./user-2/",
		"http://platform.example.test/api/gateway/user-2/dep-2/",
	} {
		f.Add(seed, "/page/sub")
	}
	upstream, _ := url.Parse("http://10.0.0.11:8080/base/")
	const prefix = gatewayPrefix + "dep-1"
	base := upstreamBase(upstream)

	f.Fuzz(func(t *testing.T, v, rest string) {
		if !validRest(rest) {
			return
		}

		got := publicLocation(v, upstream, base, prefix, base+rest)

		meant, ok := resolveLocation(v, upstream.Host, base+rest)
		if !ok {
			return // a spelling whose meaning depends on more than the model knows
		}
		seen, ok := resolveLocation(got, publicHost, prefix+rest)
		under := ok && seen.host == publicHost && hasPathPrefix(seen.path, prefix)
		if meant.host != upstream.Host {
			if got != v && !under {
				t.Fatalf("Location %q to another host became %q, want it untouched or under %s",
					v, got, prefix)
			}
			return
		}
		if !under {
			t.Fatalf("Location %q from the deployment became %q, which a browser reads as %q on %q, "+
				"outside %s", v, got, seen.path, seen.host, prefix)
		}
	})
}

// validRest reports whether rest could be the path below a deployment's
// prefix as the gateway forwards it: absolute, without dot segments,
// backslashes, query, fragment or control characters.
func validRest(rest string) bool {
	if rest == "" || rest[0] != '/' || strings.ContainsAny(rest, "\\?#") {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < ' ' || rest[i] == 0x7f {
			return false
		}
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if dotSegment(seg) != 0 {
			return false
		}
	}
	return true
}

// browserURL is where a browser goes: a host and a path.
type browserURL struct{ host, path string }

// resolveLocation resolves a Location value against the page at path on
// host the way the URL Standard does for http URLs: leading and trailing
// controls and spaces and every tab and newline removed, '\' read as '/',
// any run of slashes after the scheme skipped, userinfo and the default
// port dropped from the host, and dot segments, percent-encoded ones too,
// removed. It reports false for what the model leaves out: schemes other
// than http and https, an http URL without slashes (whose meaning depends
// on the page's own scheme), and an empty host.
func resolveLocation(v, host, page string) (browserURL, bool) {
	v = strings.TrimFunc(v, func(r rune) bool { return r <= ' ' })
	v = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(v)
	slash := func(c byte) bool { return c == '/' || c == '\\' }
	authority, rest, absolute := "", "", false
	if scheme, after, ok := strings.Cut(v, ":"); ok && isScheme(scheme) {
		if !strings.EqualFold(scheme, "http") || len(after) < 2 || !slash(after[0]) || !slash(after[1]) {
			return browserURL{}, false
		}
		authority, rest, absolute = cutAuthority(strings.TrimLeft(after, `/\`))
	} else if len(v) >= 2 && slash(v[0]) && slash(v[1]) {
		authority, rest, absolute = cutAuthority(strings.TrimLeft(v, `/\`))
	} else if v != "" && slash(v[0]) {
		rest = v
	} else {
		if v == "" || v[0] == '?' || v[0] == '#' {
			rest = page + v
		} else {
			rest = page[:strings.LastIndexAny(page, `/\`)+1] + v
		}
	}
	if absolute {
		if i := strings.LastIndexByte(authority, '@'); i >= 0 {
			authority = authority[i+1:]
		}
		host = strings.TrimSuffix(strings.ToLower(authority), ":80")
		if host == "" {
			return browserURL{}, false
		}
	}
	path := rest
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		path = "/"
	}
	return browserURL{host: host, path: removeDots(path)}, true
}

func cutAuthority(s string) (authority, rest string, ok bool) {
	if i := strings.IndexAny(s, `/\?#`); i >= 0 {
		return s[:i], s[i:], true
	}
	return s, "", true
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := 'a' <= c|0x20 && c|0x20 <= 'z'
		if !alpha && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// dotSegment returns 1 for a segment a browser reads as ".", 2 for one it
// reads as "..", and 0 otherwise.
func dotSegment(seg string) int {
	switch strings.ToLower(seg) {
	case ".", "%2e":
		return 1
	case "..", ".%2e", "%2e.", "%2e%2e":
		return 2
	}
	return 0
}

// removeDots removes the dot segments of an absolute path as a browser
// does, '\' separating segments like '/'.
func removeDots(path string) string {
	segs := strings.Split(strings.ReplaceAll(path, `\`, "/")[1:], "/")
	out := make([]string, 0, len(segs))
	for i, seg := range segs {
		last := i == len(segs)-1
		switch dotSegment(seg) {
		case 2:
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			fallthrough
		case 1:
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/")
}
