package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcphub/apigateway/internal/problem"
)

// Config configures an [Authenticator].
type Config struct {
	// Verifier authenticates each request. Required.
	Verifier SessionVerifier

	// Realm is the realm named in WWW-Authenticate. Empty means "apigateway".
	Realm string

	// LoginURL, when set, is where a browser navigation without valid
	// credentials is redirected (303), with the path it asked for in the
	// ReturnParam query parameter. It may be a path or an absolute URL.
	// Empty means every unauthenticated request gets a 401.
	LoginURL string

	// ReturnParam names the query parameter that carries the return path.
	// Empty means "return_to".
	ReturnParam string

	// ResourceMetadata, when set, returns the URL of the OAuth protected
	// resource metadata (RFC 9728) that describes how to authenticate for
	// r, sent as the resource_metadata parameter of the challenge so that
	// clients implementing MCP authorization can discover where to sign
	// in. Nil, or an empty result, means a plain challenge.
	ResourceMetadata func(r *http.Request) string

	// ErrorHandler answers requests that fail authentication. The error
	// wraps [ErrUnauthenticated] for bad or missing credentials, or
	// [ErrUnavailable] when the verifier could not decide. WWW-Authenticate
	// is already set for the former when it is called. Nil means
	// [WriteError].
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// An Authenticator guards handlers with a [SessionVerifier].
type Authenticator struct {
	verifier     SessionVerifier
	challenge    string
	metadata     func(*http.Request) string
	login        *url.URL
	returnParam  string
	errorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// New returns an Authenticator for cfg, or an error if cfg is incomplete.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("auth: Config.Verifier is required")
	}
	a := &Authenticator{
		verifier:     cfg.Verifier,
		returnParam:  cfg.ReturnParam,
		errorHandler: cfg.ErrorHandler,
		metadata:     cfg.ResourceMetadata,
	}
	realm := cfg.Realm
	if realm == "" {
		realm = "apigateway"
	}
	if strings.ContainsAny(realm, "\"\\\r\n") {
		return nil, errors.New("auth: Config.Realm must not contain quotes, backslashes or line breaks")
	}
	a.challenge = `Bearer realm="` + realm + `"`
	if cfg.LoginURL != "" {
		u, err := url.Parse(cfg.LoginURL)
		if err != nil {
			return nil, errors.New("auth: Config.LoginURL is not a URL: " + err.Error())
		}
		a.login = u
	}
	if a.returnParam == "" {
		a.returnParam = "return_to"
	}
	if a.errorHandler == nil {
		a.errorHandler = WriteError
	}
	return a, nil
}

// Require returns a handler that authenticates every request before
// passing it to next, with the caller's [Identity] in its context (read it
// with [FromContext]). Requests that fail never reach next.
func (a *Authenticator) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.Authenticate(w, r)
		if !ok {
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
	})
}

// Authenticate is the check [Require] makes, for a handler that
// authenticates as one of its own steps: it returns the caller's
// [Identity], or false once it has answered r as Require would (401 with
// WWW-Authenticate, a redirect to the login page, or 503). It does not
// store the identity in r's context; the caller does that, with
// [NewContext], if later handlers need it.
func (a *Authenticator) Authenticate(w http.ResponseWriter, r *http.Request) (Identity, bool) {
	id, err := a.verifier.Verify(r)
	if err != nil {
		a.refuse(w, r, err)
		return Identity{}, false
	}
	return id, true
}

func (a *Authenticator) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, ErrUnauthenticated) {
		a.errorHandler(w, r, fmt.Errorf("%w: %w", ErrUnavailable, err))
		return
	}
	if a.login != nil && isBrowserNavigation(r) {
		http.Redirect(w, r, a.loginLocation(r), http.StatusSeeOther)
		return
	}
	challenge := a.challenge
	if _, tokenErr := BearerToken(r); !errors.Is(err, ErrNoCredentials) && !errors.Is(tokenErr, ErrNoCredentials) {
		// A bearer token was sent and refused; RFC 6750 says so this way.
		challenge += `, error="invalid_token"`
	}
	if a.metadata != nil {
		if u := a.metadata(r); u != "" && !strings.ContainsAny(u, "\"\\\r\n") {
			challenge += `, resource_metadata="` + u + `"`
		}
	}
	w.Header().Set("WWW-Authenticate", challenge)
	a.errorHandler(w, r, err)
}

// loginLocation is the login URL with the request's own path as the
// return path.
func (a *Authenticator) loginLocation(r *http.Request) string {
	u := *a.login
	q := u.Query()
	if back, ok := SafeReturnPath(requestPath(r)); ok {
		q.Set(a.returnParam, back)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// requestPath is the path and query the client asked for, before any
// http.StripPrefix in the host's handler chain removed part of it.
func requestPath(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// isBrowserNavigation reports whether r looks like a person's browser
// loading a page, as opposed to an API, MCP or WebSocket client, which must
// see a 401 they can act on rather than a login page.
func isBrowserNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if r.Header.Get("Upgrade") != "" || r.Header.Get("Authorization") != "" {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" && mode != "navigate" {
		return false
	}
	accept := strings.ToLower(strings.Join(r.Header.Values("Accept"), ","))
	return strings.Contains(accept, "text/html") && !strings.Contains(accept, "text/event-stream")
}

// SafeReturnPath reports whether p can be used as a post-login redirect
// target without sending the user to another site, and returns it. Only a
// local absolute path is accepted: it starts with a single "/", contains no
// backslash (browsers read "/\host" as "//host") and no control characters,
// and is at most 2048 bytes long. Hosts should check the return path of
// their login handler with it too.
func SafeReturnPath(p string) (string, bool) {
	if len(p) == 0 || len(p) > 2048 || p[0] != '/' {
		return "", false
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return "", false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c == '\\' || c < ' ' || c == 0x7f {
			return "", false
		}
	}
	return p, true
}

// WriteError is the default Config.ErrorHandler: a 401 RFC 9457 problem
// for an error wrapping [ErrUnauthenticated], and a 503 with Retry-After
// for anything else (the credentials could not be checked). The error's
// text is never sent.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrUnauthenticated) {
		problem.Write(w, r, problem.Unauthenticated.With(
			"Sign in, or send a valid bearer token in the Authorization header."))
		return
	}
	p := problem.AuthUnavailable.With("Credentials could not be checked; try again shortly.")
	p.RetryAfter = 5 * time.Second
	problem.Write(w, r, p)
}
