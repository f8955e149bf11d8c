package auth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mcphub/apigateway/auth"
)

// Authenticate returns the identity Require would store, and refuses as
// Require does, answering the request itself.
func TestAuthenticateAnswersLikeRequire(t *testing.T) {
	a := newAuthenticator(t, auth.Config{Realm: "platform"})

	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Authorization", "Bearer T1")
	w := httptest.NewRecorder()
	id, ok := a.Authenticate(w, r)
	if !ok || id.UserID != "user-1" || id.Credential != auth.CredentialBearer {
		t.Errorf("valid token: got %+v, %v; want user-1 by bearer", id, ok)
	}
	if w.Code != http.StatusOK || w.Body.Len() != 0 || len(w.Header()) != 0 {
		t.Errorf("valid token: the response was written to (%d, %v)", w.Code, w.Header())
	}

	r = httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Authorization", "Bearer nope")
	w = httptest.NewRecorder()
	if id, ok := a.Authenticate(w, r); ok {
		t.Errorf("bad token: got %+v, want a refusal", id)
	}
	want := `Bearer realm="platform", error="invalid_token"`
	if got := w.Header().Get("WWW-Authenticate"); w.Code != http.StatusUnauthorized || got != want {
		t.Errorf("bad token: got %d with %q, want 401 with %q", w.Code, got, want)
	}
}
