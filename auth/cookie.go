package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/sessions"
)

// CookieConfig configures a [CookieVerifier].
type CookieConfig struct {
	// Store decodes sessions; with a sessions.CookieStore, the cookie's
	// signature and its MaxAge are checked on every request. Required.
	Store sessions.Store

	// Name is the session (and cookie) name. Required.
	Name string

	// UserKey is the session value holding the user id, a string.
	// Empty means "user_id".
	UserKey string

	// ExpiresKey is the session value holding the session's expiry as Unix
	// seconds (an int64). When the value is present and past, the session
	// is refused, whatever the store thinks. Empty means "expires_at".
	ExpiresKey string

	// Check, when not nil, is called for every otherwise valid session, so
	// the host can refuse a session that was revoked or whose user is gone:
	// it returns an error wrapping [ErrUnauthenticated] to refuse, nil to
	// accept, or another error when it cannot tell (answered 503).
	Check func(ctx context.Context, s *sessions.Session, id Identity) error

	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// CookieVerifier authenticates requests by a gorilla/sessions session.
type CookieVerifier struct {
	cfg CookieConfig
}

var _ SessionVerifier = (*CookieVerifier)(nil)

// NewCookieVerifier returns a verifier for cfg.
func NewCookieVerifier(cfg CookieConfig) (*CookieVerifier, error) {
	if cfg.Store == nil {
		return nil, errors.New("auth: CookieConfig.Store is required")
	}
	if cfg.Name == "" {
		return nil, errors.New("auth: CookieConfig.Name is required")
	}
	if cfg.UserKey == "" {
		cfg.UserKey = "user_id"
	}
	if cfg.ExpiresKey == "" {
		cfg.ExpiresKey = "expires_at"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &CookieVerifier{cfg: cfg}, nil
}

// CookieName returns the name of the session cookie, which the gateway
// strips from requests to deployments and refuses to let them set.
func (v *CookieVerifier) CookieName() string { return v.cfg.Name }

// Verify implements [SessionVerifier]. A request without the session cookie
// carries no credentials for this verifier. The session is decoded with
// Store.New rather than Store.Get, so the request is not modified and
// nothing is cached between requests: every request is checked anew.
func (v *CookieVerifier) Verify(r *http.Request) (Identity, error) {
	if _, err := r.Cookie(v.cfg.Name); err != nil {
		return Identity{}, ErrNoCredentials
	}
	s, err := v.cfg.Store.New(r, v.cfg.Name)
	if err != nil || s == nil || s.IsNew {
		// Bad signature, expired, or malformed: all the same to the client.
		return Identity{}, fmt.Errorf("%w: invalid session cookie", ErrUnauthenticated)
	}

	user, _ := s.Values[v.cfg.UserKey].(string)
	if user == "" {
		return Identity{}, fmt.Errorf("%w: session has no user", ErrUnauthenticated)
	}
	if exp, ok := s.Values[v.cfg.ExpiresKey]; ok {
		unix, isInt := exp.(int64)
		if !isInt || !v.cfg.Now().Before(time.Unix(unix, 0)) {
			return Identity{}, fmt.Errorf("%w: session expired", ErrUnauthenticated)
		}
	}

	id := Identity{UserID: user, Credential: CredentialCookie}
	if v.cfg.Check != nil {
		if err := v.cfg.Check(r.Context(), s, id); err != nil {
			if errors.Is(err, ErrUnauthenticated) {
				return Identity{}, err
			}
			return Identity{}, fmt.Errorf("checking session: %w", err)
		}
	}
	return id, nil
}
