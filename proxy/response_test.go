package proxy

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLocationPutUnderPrefix(t *testing.T) {
	const prefix = gatewayPrefix + "dep-1"
	upstream, _ := url.Parse("http://10.0.0.11:8080/base/")
	tests := []struct {
		name, location, want string
	}{
		{"root", "/", prefix + "/"},
		{"absolute path with query", "/login?next=%2Fx", prefix + "/login?next=%2Fx"},
		{"upstream base path removed", "/base/login", prefix + "/login"},
		{"upstream base path alone", "/base", prefix + "/"},
		{"sibling of the base path", "/basement", prefix + "/basement"},
		{"absolute URL on the upstream", "http://10.0.0.11:8080/base/x#frag", prefix + "/x#frag"},
		{"upstream origin without path", "http://10.0.0.11:8080", prefix + "/"},
		{"upstream origin with query", "http://10.0.0.11:8080?a=1", prefix + "/?a=1"},
		{"scheme and host case ignored", "HTTP://10.0.0.11:8080/base/x", prefix + "/x"},
		{"scheme-relative to the upstream", "//10.0.0.11:8080/base/y", prefix + "/y"},
		{"backslash trick neutralised", "/\\evil.example/", prefix + "/\\evil.example/"},
		{"already under the prefix", prefix + "/x", prefix + "/x"},
		{"other scheme on the upstream host", "https://10.0.0.11:8080/x", "https://10.0.0.11:8080/x"},
		{"foreign host", "https://evil.example/x", "https://evil.example/x"},
		{"foreign scheme-relative host", "//evil.example/x", "//evil.example/x"},
		{"relative path", "next/page", "next/page"},
		{"relative dot segments stay under the prefix", "../up", prefix + "/up"},
		{"query only", "?q=1", "?q=1"},
		{"other scheme", "mailto:a@example.test", "mailto:a@example.test"},

		// However a deployment spells a redirect to itself, the browser
		// lands under the prefix, never on a sibling deployment.
		{"dot-dot above the root", "/../../user-2/dep-2/", prefix + "/user-2/dep-2/"},
		{"encoded dot-dot", "/%2e%2E/.%2e/user-2/dep-2/", prefix + "/user-2/dep-2/"},
		{"backslash dot-dot", `/..\..\user-2\dep-2\`, prefix + "/user-2/dep-2/"},
		{"dot-dot out of the base path", "/base/../../x", prefix + "/x"},
		{"dot-dot after the prefix", prefix + "/../../user-2/dep-2/", prefix + "/api/gateway/user-2/dep-2/"},
		{"relative dot-dot above the root", "../../../../user-2/dep-2/?a", prefix + "/user-2/dep-2/?a"},
		{"relative dot-dot with backslashes", `..\..\..\x`, prefix + "/x"},
		{"absolute URL with dot-dot", "http://10.0.0.11:8080/../../x", prefix + "/x"},
		{"tabs ignored as browsers do", "/.\t./.\t./x", prefix + "/x"},
		{"backslashes after the scheme", `http:\\10.0.0.11:8080/base/x`, prefix + "/x"},
		{"extra slashes after the scheme", "http:///10.0.0.11:8080/base/x", prefix + "/x"},
		{"scheme-relative with backslashes", `\\10.0.0.11:8080/base/x`, prefix + "/x"},
		{"userinfo ignored", "http://u:p@10.0.0.11:8080/base/x", prefix + "/x"},
		{"relative without dot-dot left alone", "./x/./y", "./x/./y"},
		{"dot-dot inside a name left alone", "a..b/..c", "a..b/..c"},
		{"the platform itself left alone", "http://platform.example.test/api/me",
			"http://platform.example.test/api/me"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := publicLocation(tt.location, upstream, upstreamBase(upstream), prefix, "/base/")
			if got != tt.want {
				t.Errorf("publicLocation(%q) = %q, want %q", tt.location, got, tt.want)
			}
		})
	}
}

func TestLocationDefaultPortMatchesUpstream(t *testing.T) {
	upstream, _ := url.Parse("http://dep-1.internal")

	got := publicLocation("http://DEP-1.internal:80/x", upstream, "", "/p", "/")

	if want := "/p/x"; got != want {
		t.Errorf("publicLocation = %q, want %q", got, want)
	}
}

func TestSetCookieScopedToPrefix(t *testing.T) {
	const prefix = gatewayPrefix + "dep-1"
	tests := []struct {
		name, in, want, drop string
	}{
		{"root path", "sid=abc; Path=/; HttpOnly", "sid=abc; Path=" + prefix + "; HttpOnly", ""},
		{"no path", "theme=dark", "theme=dark; Path=" + prefix, ""},
		{"domain removed", "x=1; Domain=example.test", "x=1; Path=" + prefix, ""},
		{"domain any case removed", "x=1; domain=.example.test; Secure",
			"x=1; Secure; Path=" + prefix, ""},
		{"sub-path under base", "x=1; Path=/base/app; Secure; SameSite=Lax; Partitioned; Foo=bar",
			"x=1; Path=" + prefix + "/app; Secure; SameSite=Lax; Partitioned; Foo=bar", ""},
		{"lower-case path", "x=1; path=/x", "x=1; Path=" + prefix + "/x", ""},
		{"spacing of other attributes kept", "x=1;Path=/a;Max-Age=10",
			"x=1; Path=" + prefix + "/a;Max-Age=10", ""},
		{"relative path treated as missing", "x=1; Path=app", "x=1; Path=" + prefix, ""},
		{"path already under prefix", "x=1; Path=" + prefix + "/y", "x=1; Path=" + prefix + "/y", ""},
		{"value bytes untouched", `x="a b%2C"; Path=/`, `x="a b%2C"; Path=` + prefix, ""},
		{"session cookie", "gw_session=attacker; Path=/", "", dropSession},
		{"secure session cookie", "__Secure-gw_session=attacker; Secure", "", dropSession},
		{"host session cookie", "__Host-gw_session=attacker; Path=/; Secure", "", dropHostOnly},
		{"any host cookie", "__Host-csrf=1; Path=/; Secure", "", dropHostOnly},
		{"host prefix any case", "__host-csrf=1; Path=/; Secure", "", dropHostOnly},
		{"nameless cookie", "=gw_session=attacker", "", dropNameless},
		{"cookie without value", "gw_session", "", dropNameless},
		{"different case is another cookie", "GW_SESSION=x", "GW_SESSION=x; Path=" + prefix, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, drop := scopeSetCookie(tt.in, sessionCookie, "/base", prefix)
			if got != tt.want || drop != tt.drop {
				t.Errorf("scopeSetCookie(%q) = %q, drop %q; want %q, drop %q",
					tt.in, got, drop, tt.want, tt.drop)
			}
		})
	}
}

func TestRedirectsAndCookiesRewrittenEndToEnd(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Set-Cookie", "sid=abc; Path=/; HttpOnly")
		h.Add("Set-Cookie", "theme=dark")
		h.Add("Set-Cookie", "gw_session=attacker; Path=/")
		h.Add("Set-Cookie", "x=1; Domain=example.test")
		h.Set("Content-Location", "/base/doc")
		http.Redirect(w, r, "http://"+r.Host+"/base/login?next=%2F", http.StatusFound)
	})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g := newGateway(t, Config{Logger: logger},
		gatewayOptions{upstreams: map[string]string{"dep-1": up.URL + "/base"}})
	noFollow := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client := &http.Client{CheckRedirect: noFollow}

	res, err := client.Get(g.url("dep-1", "/"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	const prefix = gatewayPrefix + "dep-1"
	if got, want := res.Header.Get("Location"), prefix+"/login?next=%2F"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if got, want := res.Header.Get("Content-Location"), prefix+"/doc"; got != want {
		t.Errorf("Content-Location = %q, want %q", got, want)
	}
	want := []string{
		"sid=abc; Path=" + prefix + "; HttpOnly",
		"theme=dark; Path=" + prefix,
		"x=1; Path=" + prefix,
	}
	if diff := cmp.Diff(want, res.Header["Set-Cookie"]); diff != "" {
		t.Errorf("Set-Cookie (-want +got):\n%s", diff)
	}
	got := logs.String()
	if !strings.Contains(got, "cookie=gw_session") || strings.Contains(got, "attacker") {
		t.Errorf("debug log = %q, want the dropped cookie's name and never its value", got)
	}
}

func TestDeploymentCookiesStayWithDeployment(t *testing.T) {
	dep1 := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "sid=abc; Path=/; HttpOnly")
		w.Header().Add("Set-Cookie", "theme=dark")
		w.Header().Add("Set-Cookie", "gw_session=attacker; Path=/")
		w.Header().Add("Set-Cookie", "x=1; Domain=127.0.0.1; Path=/")
		echoHandler(w, r)
	})
	dep4 := newUpstream(t, echoHandler)
	platformSaw := make(chan string, 1)
	g := newGateway(t, Config{}, gatewayOptions{
		upstreams: map[string]string{"dep-1": dep1.URL, "dep-4": dep4.URL},
		platform: func(w http.ResponseWriter, r *http.Request) {
			platformSaw <- r.Header.Get("Cookie")
		},
	})
	jar, _ := cookiejar.New(nil)
	gatewayURL, _ := url.Parse(g.URL)
	jar.SetCookies(gatewayURL, []*http.Cookie{{Name: sessionCookie, Value: "S1", Path: "/"}})
	client := &http.Client{Jar: jar}
	get := func(target string) echoed {
		t.Helper()
		res, err := client.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(res.Body)
		if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			return decodeEcho(t, buf.Bytes())
		}
		return echoed{}
	}

	get(g.url("dep-1", "/"))
	dep4Saw := get(g.url("dep-4", "/"))
	get(g.URL + "/api/me")
	dep1Saw := get(g.url("dep-1", "/again"))

	if got := dep4Saw.Header["Cookie"]; got != nil {
		t.Errorf("dep-4 received cookies %q, want none of dep-1's", got)
	}
	if got, want := <-platformSaw, "gw_session=S1"; got != want {
		t.Errorf("platform endpoint received Cookie %q, want %q", got, want)
	}
	if got, want := dep1Saw.Header.Get("Cookie"), "sid=abc; theme=dark; x=1"; got != want {
		t.Errorf("dep-1 received Cookie %q, want %q", got, want)
	}
}

func TestGatewayOwnedHeadersRemovedFromUpstreamResponse(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Strict-Transport-Security", "max-age=0")
		h.Set("Clear-Site-Data", `"*"`)
		h.Set("Alt-Svc", `h3=":443"`)
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Expose-Headers", "X-Secret")
		h.Set("X-Request-Id", "upstream-id")
		h.Set("X-App", "kept")
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})

	res, _ := do(t, newRequest(t, "GET", g.url("dep-1", "/"), nil))

	for _, k := range []string{"Strict-Transport-Security", "Clear-Site-Data", "Alt-Svc",
		"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
		"Access-Control-Expose-Headers"} {
		if v, ok := res.Header[k]; ok {
			t.Errorf("response %s = %q, want it removed", k, v)
		}
	}
	if got := res.Header[HeaderRequestID]; len(got) != 1 || got[0] == "upstream-id" {
		t.Errorf("response X-Request-Id = %q, want the gateway's id once", got)
	}
	if got := res.Header.Get("X-App"); got != "kept" {
		t.Errorf("response X-App = %q, want %q", got, "kept")
	}
}

// Headers the gateway set before proxying (request id, rate-limit state)
// win over the deployment's copies, so none arrives twice; Vary lists are
// merged, and cookies are all kept.
func TestGatewaySetHeadersWinOverUpstreamCopies(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Request-Id", "from-the-app")
		h.Set("X-RateLimit-Limit", "5")
		h.Set("Vary", "Accept-Encoding, origin")
		h.Add("Set-Cookie", "a=1")
		h.Set("X-App", "kept")
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	g.Config.Handler = func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-RateLimit-Limit", "100")
			w.Header().Set("Vary", "Origin")
			next.ServeHTTP(w, r)
		})
	}(g.Config.Handler)

	resp, _ := do(t, newRequest(t, "GET", g.url("dep-1", "/"), nil))
	for k, want := range map[string]string{"X-RateLimit-Limit": "100", "Vary": "Origin, Accept-Encoding",
		"X-App": "kept", "Set-Cookie": "a=1; Path=/api/gateway/user-1/dep-1"} {
		if got := resp.Header.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want exactly %q", k, got, want)
		}
	}
	if got := resp.Header.Values("X-Request-Id"); len(got) != 1 || got[0] == "from-the-app" {
		t.Errorf("X-Request-Id = %q, want the gateway's id once", got)
	}
}

// A deployment cannot send the gateway's headers as trailers either.
func TestGatewayOwnedTrailersRemoved(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Access-Control-Allow-Origin, X-Checksum")
		w.Write([]byte("body"))
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("X-Checksum", "abc")
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	resp, _ := do(t, newRequest(t, "GET", g.url("dep-1", "/"), nil))
	if got := resp.Trailer.Values("Access-Control-Allow-Origin"); len(got) != 0 {
		t.Errorf("trailer Access-Control-Allow-Origin = %q, want none", got)
	}
	if got := resp.Trailer.Get("X-Checksum"); got != "abc" {
		t.Errorf("trailer X-Checksum = %q, want the deployment's abc", got)
	}
}

// Trailers leave after the gateway's headers, so they are a second chance
// for a deployment to say what only the gateway says, whether it announces
// them in a Trailer header or not: net/http collects unannounced ones too.
func TestGatewayHeadersNeverArriveAsTrailers(t *testing.T) {
	const trailers = "Access-Control-Allow-Origin: *\r\n" +
		"Strict-Transport-Security: max-age=0\r\n" +
		"Clear-Site-Data: \"*\"\r\n" +
		"Set-Cookie: gw_session=x; Path=/\r\n" +
		"X-Request-Id: FORGED\r\n" +
		"X-RateLimit-Remaining: 999\r\n" +
		"RateLimit: \"user\";r=999;t=1\r\n" +
		"Retry-After: 0\r\n" +
		"Location: http://10.0.0.11:8080/internal\r\n" +
		"Content-Type: text/html\r\n" +
		"Content-Length: 999\r\n" +
		"Keep-Alive: timeout=1\r\n" +
		"Refresh: 0; url=http://10.0.0.11:8080/internal\r\n" +
		"Link: <http://10.0.0.11:8080/style.css>; rel=preload\r\n" +
		"X-Frame-Options: ALLOWALL\r\n" +
		"Referrer-Policy: unsafe-url\r\n" +
		"Content-Security-Policy: default-src *\r\n" +
		"X-Checksum: abc\r\n"
	tests := []struct{ name, header string }{
		{"unannounced", ""},
		{"announced", "Trailer: Access-Control-Allow-Origin, Set-Cookie, X-Request-Id, " +
			"X-RateLimit-Remaining, RateLimit, Location, Content-Type, X-Frame-Options, " +
			"Referrer-Policy, Content-Security-Policy, X-Checksum\r\n"},
		// An event stream is read through the endpoint rewriter.
		{"event stream", "Content-Type: text/event-stream\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := rawUpstream(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"+tt.header+
				"\r\n2\r\nok\r\n0\r\n"+trailers+"\r\n")
			g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up}})

			res, body := do(t, newRequest(t, "GET", g.url("dep-1", "/"), nil))

			if string(body) != "ok" {
				t.Errorf("body = %q, want %q", body, "ok")
			}
			want := http.Header{"X-Checksum": {"abc"}}
			if diff := cmp.Diff(want, res.Trailer); diff != "" {
				t.Errorf("trailers at the client (-want +got):\n%s", diff)
			}
		})
	}
}

// rawUpstream answers every request with the bytes of response, as a
// deployment that writes its own HTTP would, and returns its URL.
func rawUpstream(t *testing.T, response string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					io.WriteString(c, response)
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// A status code net/http's server cannot write is the deployment's
// failure: 502, not a panic answered 500.
func TestStatusOutsideRangeIs502(t *testing.T) {
	for _, status := range []string{"000", "099", "600", "999"} {
		up := rawUpstream(t, "HTTP/1.1 "+status+" Odd\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up}})

		res, body := do(t, newRequest(t, "GET", g.url("dep-1", "/"), nil))

		if res.StatusCode != http.StatusBadGateway {
			t.Errorf("upstream status %s: got %d %s, want 502", status, res.StatusCode, body)
		}
	}
}

// Refresh redirects as Location does, and Link targets are fetched from
// the page's origin, in final and early responses alike: their URLs are
// scoped as Location is, however a browser would find them in the value.
// A preload of /assets/app.css from a deployment under a prefix must not
// fetch the platform's own /assets/app.css.
func TestRefreshAndLinkPutUnderPrefix(t *testing.T) {
	upstream, _ := url.Parse("http://10.0.0.11:8080/base/")
	target := &Target{Upstream: upstream, Prefix: gatewayPrefix + "dep-1", Path: "/"}
	prefix := gatewayPrefix + "dep-1"
	tests := []struct{ header, in, want string }{
		{"Refresh", "0; url=http://10.0.0.11:8080/base/next", "0; url=" + prefix + "/next"},
		{"Refresh", "5;URL='/base/next'", "5;URL='" + prefix + "/next'"},
		{"Refresh", `3, url = "/../../user-2/dep-2/"`, `3, url = "` + prefix + `/user-2/dep-2/"`},
		{"Refresh", "1.5 ; /base/x", "1.5 ; " + prefix + "/x"},
		{"Refresh", "0;url=//10.0.0.11:8080/base/y", "0;url=" + prefix + "/y"},
		{"Refresh", "10", "10"},
		{"Refresh", "0; url=https://elsewhere.example/", "0; url=https://elsewhere.example/"},
		{"Link", "</base/app.css>; rel=preload; as=style", "<" + prefix + "/app.css>; rel=preload; as=style"},
		{"Link", "<http://10.0.0.11:8080/base/a.js>; rel=preload, </base/b.js>; rel=modulepreload",
			"<" + prefix + "/a.js>; rel=preload, <" + prefix + "/b.js>; rel=modulepreload"},
		{"Link", `</x>; title="a, <b>"; rel=next`, "<" + prefix + `/x>; title="a, <b>"; rel=next`},
		{"Link", `</x>; title="q\"<y>"`, "<" + prefix + `/x>; title="q\"<y>"`},
		{"Link", "<https://cdn.example/lib.js>; rel=preload", "<https://cdn.example/lib.js>; rel=preload"},
		{"Link", "<relative.css>; rel=stylesheet", "<relative.css>; rel=stylesheet"},
		{"Link", "</../../user-2/dep-2/>; rel=prefetch", "<" + prefix + "/user-2/dep-2/>; rel=prefetch"},
		{"Link", "<broken; rel=x", "<broken; rel=x"},
		{"Link", "no link at all", "no link at all"},
	}
	for _, tt := range tests {
		h := http.Header{tt.header: {tt.in}}
		scopeLocations(h, target)
		if got := h.Get(tt.header); got != tt.want {
			t.Errorf("%s %q: got %q, want %q", tt.header, tt.in, got, tt.want)
		}
	}
}
