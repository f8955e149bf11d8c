package auth_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mcphub/apigateway/auth"
)

func newAuthenticator(t *testing.T, cfg auth.Config) *auth.Authenticator {
	t.Helper()
	if cfg.Verifier == nil {
		cfg.Verifier = newBearer(t)
	}
	a, err := auth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// whoami answers with the identity Require stored.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	id, ok := auth.FromContext(r.Context())
	if !ok {
		http.Error(w, "no identity", http.StatusInternalServerError)
		return
	}
	w.Write([]byte(id.UserID + " " + id.Credential.String()))
})

func TestRequirePassesIdentityToNext(t *testing.T) {
	h := newAuthenticator(t, auth.Config{}).Require(whoami)
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Authorization", "Bearer T1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if got, want := w.Body.String(), "user-1 bearer"; w.Code != 200 || got != want {
		t.Errorf("got %d %q, want 200 %q", w.Code, got, want)
	}
}

func TestRequireAnswers401ProblemWithChallenge(t *testing.T) {
	h := newAuthenticator(t, auth.Config{Realm: "platform"}).Require(whoami)
	tests := []struct {
		name, authz, wantChallenge string
	}{
		{"no credentials", "", `Bearer realm="platform"`},
		{"bad token", "Bearer nope", `Bearer realm="platform", error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x", nil)
			if tt.authz != "" {
				r.Header.Set("Authorization", tt.authz)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", w.Code)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
			if got := w.Header().Get("Content-Type"); got != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", got)
			}
			var p struct {
				Type   string
				Status int
			}
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 401 || p.Type == "" {
				t.Errorf("body = %s (%v), want a problem with type and status 401", w.Body, err)
			}
		})
	}
}

func TestRequireRedirectsOnlyBrowserNavigationsToLogin(t *testing.T) {
	h := newAuthenticator(t, auth.Config{LoginURL: "/login?lang=en"}).Require(whoami)
	html := "text/html,application/xhtml+xml,*/*;q=0.8"
	tests := []struct {
		name     string
		method   string
		headers  map[string]string
		redirect bool
	}{
		{"page navigation", "GET", map[string]string{"Accept": html}, true},
		{"navigation with fetch metadata", "GET", map[string]string{"Accept": html, "Sec-Fetch-Mode": "navigate"}, true},
		{"fetch from script", "GET", map[string]string{"Accept": html, "Sec-Fetch-Mode": "cors"}, false},
		{"JSON client", "GET", map[string]string{"Accept": "application/json"}, false},
		{"SSE client", "GET", map[string]string{"Accept": "text/event-stream"}, false},
		{"MCP client accepting both", "GET", map[string]string{"Accept": "application/json, text/event-stream"}, false},
		{"WebSocket handshake", "GET",
			map[string]string{"Accept": html, "Upgrade": "websocket", "Connection": "Upgrade"}, false},
		{"form post", "POST", map[string]string{"Accept": html}, false},
		{"bad bearer token", "GET", map[string]string{"Accept": html, "Authorization": "Bearer nope"}, false},
		{"no Accept", "GET", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/api/gateway/u/d/page?q=1", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if !tt.redirect {
				if w.Code != http.StatusUnauthorized {
					t.Errorf("status = %d, want 401", w.Code)
				}
				return
			}
			if w.Code != http.StatusSeeOther {
				t.Fatalf("status = %d, want 303", w.Code)
			}
			loc, err := url.Parse(w.Header().Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if loc.Path != "/login" || loc.Query().Get("lang") != "en" {
				t.Errorf("Location = %s, want /login keeping lang=en", loc)
			}
			if got, want := loc.Query().Get("return_to"), "/api/gateway/u/d/page?q=1"; got != want {
				t.Errorf("return_to = %q, want %q", got, want)
			}
		})
	}
}

func TestRequireNeverRedirectsToAnotherSite(t *testing.T) {
	h := newAuthenticator(t, auth.Config{LoginURL: "/login"}).Require(whoami)
	r := httptest.NewRequest("GET", "/x", nil)
	r.RequestURI = "//evil.example/x" // as a raw request line could carry it
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	loc, _ := url.Parse(w.Header().Get("Location"))
	if loc == nil || loc.Host != "" || loc.Query().Get("return_to") == "//evil.example/x" {
		t.Errorf("Location = %q, want a local login URL without the foreign return path", w.Header().Get("Location"))
	}
}

func TestRequireAnswers503WhenCredentialsCannotBeChecked(t *testing.T) {
	failing := auth.VerifierFunc(func(*http.Request) (auth.Identity, error) {
		return auth.Identity{}, errors.New("database down: dsn=postgres://secret@db")
	})
	var seen error
	h := newAuthenticator(t, auth.Config{Verifier: failing}).Require(whoami)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("got %d, Retry-After %q; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if got := w.Body.String(); containsAny(got, "postgres", "secret") {
		t.Errorf("body leaks the verifier's error: %s", got)
	}

	custom := newAuthenticator(t, auth.Config{Verifier: failing,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { seen = err }}).Require(whoami)
	custom.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	if !errors.Is(seen, auth.ErrUnavailable) {
		t.Errorf("error handler got %v, want it to wrap ErrUnavailable", seen)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	if _, err := auth.New(auth.Config{}); err == nil {
		t.Error("New without a verifier succeeded")
	}
	if _, err := auth.New(auth.Config{Verifier: newBearer(t), Realm: `a"b`}); err == nil {
		t.Error("New with a quote in the realm succeeded")
	}
}
