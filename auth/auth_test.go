package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/mcphub/apigateway/auth"
)

func newBearer(t *testing.T) *auth.BearerVerifier {
	t.Helper()
	v, err := auth.NewBearerVerifier(auth.StaticTokens(map[string]string{"T1": "user-1", "T2": "user-2"}))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestBearerVerifier(t *testing.T) {
	v := newBearer(t)
	tests := []struct {
		name    string
		headers []string
		want    string
		wantErr error
	}{
		{"valid token", []string{"Bearer T1"}, "user-1", nil},
		{"scheme is case-insensitive", []string{"bearer T2"}, "user-2", nil},
		{"unknown token", []string{"Bearer T9"}, "", auth.ErrUnauthenticated},
		{"no header", nil, "", auth.ErrNoCredentials},
		{"other scheme", []string{"Basic dXNlcjpwYXNz"}, "", auth.ErrNoCredentials},
		{"empty token", []string{"Bearer "}, "", auth.ErrUnauthenticated},
		{"token with space", []string{"Bearer T1 T2"}, "", auth.ErrUnauthenticated},
		{"token with control byte", []string{"Bearer T1\x01"}, "", auth.ErrUnauthenticated},
		{"two headers", []string{"Bearer T1", "Bearer T2"}, "", auth.ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			id, err := v.Verify(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr == auth.ErrUnauthenticated && errors.Is(err, auth.ErrNoCredentials) {
					t.Fatalf("Verify error = %v, want credentials recognised as invalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.UserID != tt.want || id.Credential != auth.CredentialBearer {
				t.Errorf("Verify = %+v, want user %s by bearer", id, tt.want)
			}
		})
	}
}

func TestBearerVerifierLookupFailureIsNotUnauthenticated(t *testing.T) {
	down := errors.New("token store down")
	v, err := auth.NewBearerVerifier(func(context.Context, string) (auth.Identity, error) {
		return auth.Identity{}, down
	})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer abc")
	_, err = v.Verify(r)
	if !errors.Is(err, down) || errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Verify error = %v, want the store error and not ErrUnauthenticated", err)
	}
}

type cookieFixture struct {
	store *sessions.CookieStore
	now   time.Time
	check func(context.Context, *sessions.Session, auth.Identity) error
}

func (f *cookieFixture) verifier(t *testing.T) *auth.CookieVerifier {
	t.Helper()
	v, err := auth.NewCookieVerifier(auth.CookieConfig{
		Store: f.store,
		Name:  "gw_session",
		Check: func(ctx context.Context, s *sessions.Session, id auth.Identity) error {
			if f.check != nil {
				return f.check(ctx, s, id)
			}
			return nil
		},
		Now: func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// cookie returns a signed session cookie with values, as the host's login
// handler would set it.
func (f *cookieFixture) cookie(t *testing.T, values map[any]any) *http.Cookie {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/login", nil)
	s, _ := f.store.New(r, "gw_session")
	for k, v := range values {
		s.Values[k] = v
	}
	if err := s.Save(r, w); err != nil {
		t.Fatal(err)
	}
	return w.Result().Cookies()[0]
}

func TestCookieVerifier(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	f := &cookieFixture{store: sessions.NewCookieStore([]byte("0123456789abcdef0123456789abcdef")), now: now}
	other := sessions.NewCookieStore([]byte("another key, another signature!!"))
	v := f.verifier(t)

	valid := f.cookie(t, map[any]any{"user_id": "user-1", "expires_at": now.Add(time.Hour).Unix()})
	expired := f.cookie(t, map[any]any{"user_id": "user-1", "expires_at": now.Add(-time.Second).Unix()})
	noUser := f.cookie(t, map[any]any{"expires_at": now.Add(time.Hour).Unix()})
	forged := (&cookieFixture{store: other}).cookie(t, map[any]any{"user_id": "user-2"})
	tampered := *valid
	tampered.Value = valid.Value[:len(valid.Value)-2] + "AA"

	tests := []struct {
		name    string
		cookie  *http.Cookie
		want    string
		wantErr error
	}{
		{"valid session", valid, "user-1", nil},
		{"no cookie", nil, "", auth.ErrNoCredentials},
		{"expired session", expired, "", auth.ErrUnauthenticated},
		{"session without user", noUser, "", auth.ErrUnauthenticated},
		{"signed with another key", forged, "", auth.ErrUnauthenticated},
		{"tampered value", &tampered, "", auth.ErrUnauthenticated},
		{"garbage value", &http.Cookie{Name: "gw_session", Value: "%%%not-base64"}, "", auth.ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.cookie != nil {
				r.AddCookie(tt.cookie)
			}
			id, err := v.Verify(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.UserID != tt.want || id.Credential != auth.CredentialCookie {
				t.Errorf("Verify = %+v, want user %s by cookie", id, tt.want)
			}
		})
	}
}

func TestCookieVerifierRefusesSessionsTheHostRevoked(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	f := &cookieFixture{store: sessions.NewCookieStore([]byte("0123456789abcdef0123456789abcdef")), now: now}
	v := f.verifier(t)
	c := f.cookie(t, map[any]any{"user_id": "user-1", "sid": "s-1"})
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(c)

	revoked := map[string]bool{}
	f.check = func(_ context.Context, s *sessions.Session, _ auth.Identity) error {
		if revoked[s.Values["sid"].(string)] {
			return auth.ErrUnauthenticated
		}
		return nil
	}
	if _, err := v.Verify(r); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	revoked["s-1"] = true
	if _, err := v.Verify(r); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("after revocation: error = %v, want ErrUnauthenticated", err)
	}

	down := errors.New("session table unreachable")
	f.check = func(context.Context, *sessions.Session, auth.Identity) error { return down }
	if _, err := v.Verify(r); !errors.Is(err, down) || errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("check failure: error = %v, want it passed on, not as unauthenticated", err)
	}
}

func TestCookieVerifierHonoursStoreMaxAge(t *testing.T) {
	store := sessions.NewCookieStore([]byte("0123456789abcdef0123456789abcdef"))
	f := &cookieFixture{store: store, now: time.Now()}
	c := f.cookie(t, map[any]any{"user_id": "user-1"})
	store.MaxAge(1) // securecookie refuses cookies whose timestamp is older
	v := f.verifier(t)
	time.Sleep(2100 * time.Millisecond)

	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(c)
	if _, err := v.Verify(r); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("Verify error = %v, want ErrUnauthenticated for a cookie past MaxAge", err)
	}
}

func TestFirstOfAnswersWithTheFirstValidCredential(t *testing.T) {
	cookieUser := auth.VerifierFunc(func(r *http.Request) (auth.Identity, error) {
		c, err := r.Cookie("s")
		if err != nil {
			return auth.Identity{}, auth.ErrNoCredentials
		}
		if c.Value == "stale" {
			return auth.Identity{}, auth.ErrUnauthenticated
		}
		return auth.Identity{UserID: "cookie-user", Credential: auth.CredentialCookie}, nil
	})
	v := auth.FirstOf(cookieUser, newBearer(t))

	tests := []struct {
		name    string
		cookie  string
		authz   string
		want    string
		wantErr error
	}{
		{"cookie only", "ok", "", "cookie-user", nil},
		{"bearer only", "", "Bearer T1", "user-1", nil},
		{"cookie wins, app token left alone", "ok", "Bearer app-jwt-123", "cookie-user", nil},
		{"valid cookie and valid token: the first verifier wins", "ok", "Bearer T1", "cookie-user", nil},
		{"stale cookie does not lock out a valid token", "stale", "Bearer T1", "user-1", nil},
		{"stale cookie and bad token", "stale", "Bearer nope", "", auth.ErrUnauthenticated},
		{"bad bearer is refused", "", "Bearer nope", "", auth.ErrUnauthenticated},
		{"nothing", "", "", "", auth.ErrNoCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: "s", Value: tt.cookie})
			}
			if tt.authz != "" {
				r.Header.Set("Authorization", tt.authz)
			}
			id, err := v.Verify(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr == auth.ErrUnauthenticated && errors.Is(err, auth.ErrNoCredentials) {
					t.Fatalf("error = %v, want the invalid credential reported", err)
				}
				return
			}
			if err != nil || id.UserID != tt.want {
				t.Fatalf("Verify = %+v, %v; want %s", id, err, tt.want)
			}
		})
	}
}

func TestSafeReturnPath(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"/", true},
		{"/api/gateway/u/d/?x=1", true},
		{"//evil.example", false},
		{"/\\evil.example", false},
		{"/a\\b", false},
		{"https://evil.example/", false},
		{"evil.example", false},
		{"", false},
		{"/a\r\nLocation: x", false},
		{"/" + strings.Repeat("a", 2048), false},
	}
	for _, tt := range tests {
		got, ok := auth.SafeReturnPath(tt.in)
		if ok != tt.ok || (ok && got != tt.in) {
			t.Errorf("SafeReturnPath(%q) = %q, %v; want ok=%v", tt.in, got, ok, tt.ok)
		}
	}
}
