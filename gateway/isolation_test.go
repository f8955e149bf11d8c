package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mcphub/apigateway/gateway"
)

// The tests in this file try every way we know for one user to reach or
// observe another user's deployment. user-1 owns dep-1 (and dep-3,
// stopped); user-2 owns dep-2. Each attempt is refused, and where the
// documentation promises it, the refusal cannot be told apart from the
// answer for a deployment that does not exist.

// refusal is a response with what differs between any two requests
// removed, to compare refusals.
type refusal struct {
	Status  int
	Problem problemBody
	Header  http.Header
}

// varyingHeaders differ between any two responses.
var varyingHeaders = cmpopts.IgnoreMapEntries(func(k string, _ []string) bool {
	return k == "Date" || k == "X-Request-Id" || k == "Content-Length"
})

func refusalOf(t *testing.T, resp *http.Response, body string) refusal {
	t.Helper()
	a := refusal{Status: resp.StatusCode, Header: resp.Header}
	if err := json.Unmarshal([]byte(body), &a.Problem); err != nil {
		t.Fatalf("status %d, body %q: not a problem response: %v", resp.StatusCode, body, err)
	}
	a.Problem.RequestID = ""
	return a
}

// notFound returns the gateway's answer for user-1 asking for a deployment
// that does not exist, with the given credentials.
func (f *fixture) notFound(t *testing.T, headers ...string) refusal {
	t.Helper()
	resp := f.rawGet(t, "/api/gateway/user-1/dep-404/", headers...)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("missing deployment: status %d, want 404", resp.StatusCode)
	}
	return refusalOf(t, resp, string(body))
}

// checkLikeMissing fails t unless resp is the same answer as want, the
// answer for a missing deployment.
func checkLikeMissing(t *testing.T, want refusal, resp *http.Response) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d, want 404; body %s", resp.StatusCode, body)
		return
	}
	if diff := cmp.Diff(want, refusalOf(t, resp, string(body)), varyingHeaders); diff != "" {
		t.Errorf("answer differs from a missing deployment's (-missing +got):\n%s", diff)
	}
}

func TestAnotherUsersDeploymentIsUnreachableByPath(t *testing.T) {
	f := corsFixture(t, gateway.Config{})
	paths := []struct{ name, path string }{
		{"another user's path", "/api/gateway/user-2/dep-2/"},
		{"another user's deployment under my id", "/api/gateway/user-1/dep-2/"},
		{"user id in another case", "/api/gateway/USER-2/dep-2/"},
		{"deployment id in another case", "/api/gateway/user-1/DEP-2/"},
		{"encoded user id", "/api/gateway/%75ser-2/dep-2/"},
		{"encoded hyphen", "/api/gateway/user-1/dep%2D2/"},
		{"encoded slash between ids", "/api/gateway/user-1%2Fdep-2/"},
		{"encoded slash in the rest", "/api/gateway/user-1/dep-1%2F..%2F..%2Fuser-2%2Fdep-2/"},
		{"dot segments", "/api/gateway/user-1/dep-1/../../user-2/dep-2/"},
		{"dot segment as user", "/api/gateway/user-1/../user-2/dep-2/"},
		{"encoded dot segments", "/api/gateway/user-1/dep-1/%2E%2E/%2e%2e/user-2/dep-2/"},
		{"half-encoded dot segments", "/api/gateway/user-1/dep-1/.%2E/%2e./user-2/dep-2/"},
		{"encoded backslashes", "/api/gateway/user-1/dep-1/..%5C..%5Cuser-2%5Cdep-2/"},
		{"backslashes", `/api/gateway/user-1/dep-1/..\..\user-2\dep-2\`},
		{"double encoding", "/api/gateway/user-1/dep-1/%252E%252E%252F%252E%252E%252Fuser-2%252Fdep-2/"},
		{"triple encoding", "/api/gateway/user-1/dep-1/%25252e%25252e/%25252e%25252e/user-2/dep-2/"},
		{"trailing dot on the user", "/api/gateway/user-2./dep-2/"},
		{"trailing dot on the deployment", "/api/gateway/user-1/dep-2./"},
		{"encoded trailing dot", "/api/gateway/user-1/dep-2%2E/"},
		{"look-alike hyphen", "/api/gateway/user-1/dep%E2%80%902/"},
		{"look-alike Cyrillic e", "/api/gateway/user-1/d%D0%B5p-2/"},
		{"raw look-alike", "/api/gateway/user-1/dеp-2/"},
		{"fullwidth dots", "/api/gateway/user-1/dep-1/%EF%BC%8E%EF%BC%8E/%EF%BC%8E%EF%BC%8E/user-2/"},
		{"path parameter on the deployment", "/api/gateway/user-1/dep-2;x=1/"},
		{"path parameter on the user", "/api/gateway/user-2;/dep-2/"},
		{"dot-dot with a parameter", "/api/gateway/user-1/dep-1/..;/..;/user-2/dep-2/"},
		{"dot-dot with an encoded parameter", "/api/gateway/user-1/dep-1/..%3B/..%3B/user-2/dep-2/"},
		{"NUL after the id", "/api/gateway/user-1/dep-2%00/"},
		{"empty user segment", "/api/gateway//user-2/dep-2/"},
	}
	for _, cred := range []struct{ name, header string }{
		{"bearer token", "Authorization: Bearer " + tokenUser1},
		{"session cookie", "Cookie: gw_session=S1"},
	} {
		missing := f.notFound(t, cred.header)
		for _, p := range paths {
			t.Run(cred.name+"/"+p.name, func(t *testing.T) {
				resp := f.rawGet(t, p.path, cred.header)
				if resp.StatusCode == http.StatusOK {
					// Only a variant confined to dep-1 may be served.
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if !strings.HasPrefix(string(body), "dep-1 /") || strings.Contains(string(body), "/..") {
						t.Errorf("GET %s = 200 %q, want a refusal or dep-1 confined", p.path, body)
					}
					return
				}
				checkLikeMissing(t, missing, resp)
			})
		}
	}
	if n := f.dep2.hits.Load(); n != 0 {
		t.Errorf("dep-2 was contacted %d times, want 0", n)
	}

	// The same paths outside the mount are the platform's business, never
	// a deployment's.
	resp, body := f.get(t, "//api/gateway/user-2/dep-2/", tokenUser1)
	if resp.StatusCode != http.StatusOK || body != "platform" {
		t.Errorf("GET //api/gateway/user-2/dep-2/ = %d %q, want the platform's answer", resp.StatusCode, body)
	}
}

func TestAnotherUsersStoppedDeploymentLooksMissing(t *testing.T) {
	f := corsFixture(t, gateway.Config{})
	missing := f.notFound(t, "Authorization: Bearer "+tokenUser2)
	for _, path := range []string{"/api/gateway/user-1/dep-3/", "/api/gateway/user-2/dep-3/"} {
		checkLikeMissing(t, missing, f.rawGet(t, path, "Authorization: Bearer "+tokenUser2))
	}
	// The owner is told the truth.
	resp, _ := f.get(t, "/api/gateway/user-1/dep-3/", tokenUser1)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("owner asking for stopped dep-3: status %d, want 503", resp.StatusCode)
	}
}

func TestWebSocketToAnotherUsersDeploymentIsRefused(t *testing.T) {
	f := corsFixture(t, gateway.Config{})
	handshake := []string{"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Origin: " + f.srv.URL}
	for _, cred := range []string{"Authorization: Bearer " + tokenUser1, "Cookie: gw_session=S1"} {
		missing := f.notFound(t, append(handshake, cred)...)
		for _, path := range []string{
			"/api/gateway/user-2/dep-2/ws",
			"/api/gateway/user-1/dep-2/ws",
			"/api/gateway/user-1/dep-1/%2e%2e/%2e%2e/user-2/dep-2/ws",
			"/api/gateway/user-1/dep-1/..;/..;/user-2/dep-2/ws",
		} {
			t.Run(cred+" "+path, func(t *testing.T) {
				checkLikeMissing(t, missing, f.rawGet(t, path, append(handshake, cred)...))
			})
		}
	}
	if n := f.dep2.hits.Load(); n != 0 {
		t.Errorf("dep-2 saw %d handshakes, want 0", n)
	}
}

// A deployment's cookies stay on its own path: a browser sends none of
// them to the user's other deployment, to another user's, or to the
// platform, and none replaces the platform's session cookie.
func TestDeploymentCookiesCannotReachSiblingsOrThePlatform(t *testing.T) {
	f := corsFixture(t, gateway.Config{})
	received := func(setCookies ...string) (http.Handler, chan string) {
		ch := make(chan string, 10)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ch <- r.Header.Get("Cookie")
			for _, c := range setCookies {
				w.Header().Add("Set-Cookie", c)
			}
		}), ch
	}
	dep1, saw1 := received(
		"plain=1",
		"root=1; Path=/",
		"sibling=1; Path=/api/gateway/user-1/dep-4",
		"other=1; Path=/api/gateway/user-2/dep-2/",
		"climb=1; Path=/../../api/gateway/user-2/dep-2",
		"domain=1; Domain=127.0.0.1; Path=/",
		"gw_session=fixated; Path=/",
		"__Secure-gw_session=fixated; Path=/",
		"__Host-gw_session=fixated; Path=/",
	)
	dep4, saw4 := received()
	for id, h := range map[string]http.Handler{"dep-1": dep1, "dep-4": dep4} {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		f.store.set(gateway.Deployment{ID: id, OwnerID: "user-1", Status: gateway.StatusRunning,
			UpstreamURL: srv.URL})
	}
	platformSaw := make(chan string, 1)
	platform := httptest.NewServer(f.gw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		platformSaw <- r.Header.Get("Cookie")
	})))
	t.Cleanup(platform.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(platform.URL)
	jar.SetCookies(base, []*http.Cookie{{Name: "gw_session", Value: "S1", Path: "/"}})
	client := &http.Client{Jar: jar}
	get := func(path string) int {
		t.Helper()
		resp, err := client.Get(platform.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	get("/api/gateway/user-1/dep-1/")
	<-saw1

	for _, path := range []string{"/api/gateway/user-1/dep-4/", "/api/gateway/user-2/dep-2/",
		"/api/gateway/user-1/dep-10/", "/api/gateway/user-1/", "/api/me", "/"} {
		u, _ := url.Parse(platform.URL + path)
		var names []string
		for _, c := range jar.Cookies(u) {
			names = append(names, c.String())
		}
		if want := []string{"gw_session=S1"}; !cmp.Equal(names, want) {
			t.Errorf("a browser would send %q to %s, want only %q", names, path, want)
		}
	}
	if status := get("/api/gateway/user-1/dep-4/"); status != http.StatusOK {
		t.Fatalf("user-1's dep-4 after dep-1's cookies: status %d, want 200 (the session still works)", status)
	}
	if got := <-saw4; got != "" {
		t.Errorf("dep-4 received cookies %q, want none of dep-1's", got)
	}
	get("/api/me")
	if got := <-platformSaw; got != "gw_session=S1" {
		t.Errorf("platform received Cookie %q, want only its own session cookie", got)
	}
	get("/api/gateway/user-1/dep-1/again")
	if got, want := <-saw1, "plain=1; root=1; domain=1"; got != want {
		t.Errorf("dep-1 received %q back, want %q", got, want)
	}
}

// A deployment's redirects lead the browser under its own prefix however
// they are spelt, and one that names another user's deployment outright
// is refused when it is followed.
func TestDeploymentRedirectsCannotLeadToAnotherUsersDeployment(t *testing.T) {
	f := corsFixture(t, gateway.Config{})
	var publicURL string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if loc := r.URL.Query().Get("to"); loc != "" {
			loc = strings.NewReplacer("{self}", "http://"+r.Host, "{public}", publicURL).Replace(loc)
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusFound)
			return
		}
		fmt.Fprintf(w, "dep-1 %s", r.URL.RequestURI())
	}))
	t.Cleanup(app.Close)
	f.store.set(gateway.Deployment{ID: "dep-1", OwnerID: "user-1", Status: gateway.StatusRunning,
		UpstreamURL: app.URL})
	publicURL = f.srv.URL
	missing := f.notFound(t, "Authorization: Bearer "+tokenUser1)
	const prefix = "/api/gateway/user-1/dep-1/"

	for _, loc := range []string{
		"/../../user-2/dep-2/",
		"/%2e%2e/%2e%2e/user-2/dep-2/",
		`/..\..\user-2\dep-2\`,
		"../../../../user-2/dep-2/",
		"{self}/../../user-2/dep-2/",
		"/api/gateway/user-2/dep-2/",
		"{public}/api/gateway/user-2/dep-2/",
	} {
		t.Run(loc, func(t *testing.T) {
			page := f.srv.URL + prefix + "a/b?to=" + url.QueryEscape(loc)
			resp, _ := f.get(t, strings.TrimPrefix(page, f.srv.URL), tokenUser1)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d, want the deployment's 302", resp.StatusCode)
			}
			target, err := url.Parse(page)
			if err == nil {
				target, err = target.Parse(resp.Header.Get("Location"))
			}
			if err != nil {
				t.Fatal(err)
			}
			if target.Host == strings.TrimPrefix(publicURL, "http://") &&
				!strings.HasPrefix(target.Path, prefix) && !strings.HasPrefix(loc, "{public}") {
				t.Errorf("Location %q leads to %s, outside %s",
					resp.Header.Get("Location"), target.Path, prefix)
			}

			// Follow it as a browser would, with the user's credentials.
			follow := f.rawGet(t, target.RequestURI(), "Authorization: Bearer "+tokenUser1)
			if follow.StatusCode == http.StatusNotFound {
				checkLikeMissing(t, missing, follow)
				return
			}
			body, _ := io.ReadAll(follow.Body)
			follow.Body.Close()
			if follow.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "dep-1 /") {
				t.Errorf("following to %s: %d %q, want 404 or dep-1",
					target.RequestURI(), follow.StatusCode, body)
			}
		})
	}
	if n := f.dep2.hits.Load(); n != 0 {
		t.Errorf("dep-2 was contacted %d times, want 0", n)
	}
}

// Ownership and status are cached for at most Config.CacheTTL, and
// Gateway.Forget applies a change at once; the new owner's deployment is
// then the old owner's "missing" one.
func TestOwnershipChangesApplyWithinTheCacheTTL(t *testing.T) {
	const ttl = 300 * time.Millisecond
	for _, forget := range []bool{true, false} {
		t.Run(fmt.Sprintf("forget=%v", forget), func(t *testing.T) {
			f := corsFixture(t, gateway.Config{CacheTTL: ttl})
			missing := f.notFound(t, "Authorization: Bearer "+tokenUser1)
			apply := func() {
				if forget {
					f.gw.Forget("dep-1")
				} else {
					time.Sleep(ttl + 100*time.Millisecond)
				}
			}
			if resp, _ := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1); resp.StatusCode != 200 {
				t.Fatalf("owner before the change: status %d, want 200", resp.StatusCode)
			}

			// Each change leaves user-1 learning nothing, and user-2 the
			// deployment's true state.
			change := func(status gateway.Status, newOwnerWants int) {
				t.Helper()
				f.store.set(gateway.Deployment{ID: "dep-1", OwnerID: "user-2", Status: status,
					UpstreamURL: f.dep1.URL})
				apply()
				checkLikeMissing(t, missing, f.rawGet(t, "/api/gateway/user-1/dep-1/",
					"Authorization: Bearer "+tokenUser1))
				if resp, _ := f.get(t, "/api/gateway/user-2/dep-1/", tokenUser2); resp.StatusCode != newOwnerWants {
					t.Errorf("new owner, %s: status %d, want %d", status, resp.StatusCode, newOwnerWants)
				}
			}
			change(gateway.StatusRunning, 200)
			change(gateway.StatusStopped, 503)
		})
	}
}

// A preflight carries no credentials; for another user's deployment, from
// an origin that deployment does not list, it is answered as for a
// missing one.
func TestPreflightForAnotherUsersDeploymentLooksMissing(t *testing.T) {
	f := corsFixture(t, gateway.Config{})
	f.store.set(gateway.Deployment{ID: "dep-2", OwnerID: "user-2", Status: gateway.StatusRunning,
		UpstreamURL: f.dep2.URL, CORSOrigins: []string{"https://dep2.example.test"}})
	preflight := func(path string) http.Header {
		resp := f.rawOptions(t, path, "Origin: https://probe.example.test",
			"Access-Control-Request-Method: GET")
		return resp.Header
	}
	missing := preflight("/api/gateway/user-2/dep-404/")
	for _, path := range []string{"/api/gateway/user-2/dep-2/", "/api/gateway/user-1/dep-2/"} {
		if diff := cmp.Diff(missing, preflight(path), varyingHeaders); diff != "" {
			t.Errorf("preflight for %s differs from a missing deployment's (-missing +got):\n%s", path, diff)
		}
	}
	if n := f.dep2.hits.Load(); n != 0 {
		t.Errorf("dep-2 was contacted %d times, want 0", n)
	}
}
