package main

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// browserHeader is what a browser sends when it loads a page.
var browserHeader = http.Header{
	"Accept":         {"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"},
	"Sec-Fetch-Mode": {"navigate"},
}

// login posts the login form with th's client and returns the response.
func (th *testHub) login(t *testing.T, user, password, returnTo string) *http.Response {
	t.Helper()
	form := url.Values{"user": {user}, "password": {password}}
	if returnTo != "" {
		form.Set("return_to", returnTo)
	}
	resp, _ := th.do(t, http.MethodPost, "/login",
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		strings.NewReader(form.Encode()))
	return resp
}

// sessionCookieOf returns the session cookie resp sets, failing t if none.
func sessionCookieOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %q", sessionCookie, resp.Header.Values("Set-Cookie"))
	return nil
}

func TestBrowserLogin(t *testing.T) {
	th := startHub(t)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	th.client.Jar = jar
	const page = "/api/gateway/user-123/openwebui-abc123/"

	resp, _ := th.get(t, "/login?return_to="+url.QueryEscape(page), browserHeader)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /login: status %d, want 200", resp.StatusCode)
	}

	resp = th.login(t, "user-123", th.secrets.password, page)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login: status %d, want 303", resp.StatusCode)
	}
	if got := resp.Header.Get("Location"); got != page {
		t.Errorf("POST /login: Location = %q, want %q", got, page)
	}
	c := sessionCookieOf(t, resp)
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Errorf("session cookie: HttpOnly %v, SameSite %v, Path %q; want true, Lax, /",
			c.HttpOnly, c.SameSite, c.Path)
	}

	resp, body := th.get(t, resp.Header.Get("Location"), browserHeader)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Open WebUI") {
		t.Fatalf("GET %s with the session: %d %q, want 200 and the app's page", page, resp.StatusCode, body)
	}
	if !strings.Contains(string(body), "you are user-123") {
		t.Errorf("the app did not see the gateway's identity header: %s", body)
	}

	resp, body = th.get(t, "/", browserHeader)
	if !strings.Contains(string(body), "Signed in as user-123") {
		t.Errorf("home page after login: %d %s", resp.StatusCode, body)
	}

	resp, _ = th.get(t, "/logout", browserHeader)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /logout: status %d, want 303", resp.StatusCode)
	}
	resp, _ = th.get(t, page, browserHeader)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET %s after logout: status %d, want 303 to the login page", page, resp.StatusCode)
	}

	// A copy of the cookie taken before signing out no longer works.
	th.client.Jar = nil
	resp, _ = th.get(t, page, http.Header{"Cookie": {c.Name + "=" + c.Value}, "Accept": {"application/json"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET %s with the signed-out cookie: status %d, want 401", page, resp.StatusCode)
	}
}

func TestLoginRefuses(t *testing.T) {
	th := startHub(t)

	t.Run("wrong password", func(t *testing.T) {
		resp := th.login(t, "user-123", "not-the-password", "/")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status = %d, want 401", resp.StatusCode)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("a failed login set cookies: %q", resp.Header.Values("Set-Cookie"))
		}
	})

	t.Run("unknown user", func(t *testing.T) {
		resp := th.login(t, "user-999", th.secrets.password, "/")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status = %d, want 401", resp.StatusCode)
		}
	})

	for _, returnTo := range []string{
		"//evil.example",
		"//evil.example/path",
		"/\\evil.example",
		"https://evil.example/",
		"evil.example",
	} {
		t.Run("open redirect "+returnTo, func(t *testing.T) {
			resp := th.login(t, "user-123", th.secrets.password, returnTo)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("status = %d, want 303", resp.StatusCode)
			}
			if got := resp.Header.Get("Location"); got != "/" {
				t.Errorf("Location = %q, want /", got)
			}
		})
	}
}

func TestUnauthenticated(t *testing.T) {
	th := startHub(t)
	const path = "/api/gateway/user-123/openwebui-abc123/static/app.js?v=1"

	t.Run("navigation goes to login", func(t *testing.T) {
		resp, _ := th.get(t, path, browserHeader)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status = %d, want 303", resp.StatusCode)
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		if loc.Path != "/login" || loc.Query().Get("return_to") != path {
			t.Errorf("Location = %q, want /login?return_to=%s", loc, url.QueryEscape(path))
		}
	})

	for _, accept := range []string{"application/json", "text/event-stream"} {
		t.Run("Accept "+accept, func(t *testing.T) {
			resp, body := th.get(t, path, http.Header{"Accept": {accept}})
			checkProblem(t, resp, body, http.StatusUnauthorized)
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
			}
		})
	}

	t.Run("bad token", func(t *testing.T) {
		resp, body := th.get(t, path, http.Header{"Authorization": {"Bearer not-a-token"}})
		checkProblem(t, resp, body, http.StatusUnauthorized)
	})

	t.Run("forged cookie", func(t *testing.T) {
		resp, body := th.get(t, path, http.Header{
			"Accept": {"application/json"},
			"Cookie": {sessionCookie + "=forged"},
		})
		checkProblem(t, resp, body, http.StatusUnauthorized)
	})
}
