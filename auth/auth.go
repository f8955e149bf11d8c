package auth

import (
	"context"
	"errors"
	"net/http"

	"github.com/mcphub/apigateway/internal/ctxvalue"
)

// An Identity is who a request was authenticated as.
type Identity struct {
	// UserID is the platform's id of the user.
	UserID string

	// Credential says which credential proved the identity. The gateway
	// strips exactly that credential before a request reaches a deployment.
	Credential Credential
}

// Credential is the kind of credential a request was authenticated with.
type Credential int

// The credentials the package's verifiers accept.
const (
	// CredentialNone is the zero value: an identity built by hand.
	CredentialNone Credential = iota
	// CredentialCookie is a session cookie; browsers send it on their own,
	// so requests it authenticates need origin checks.
	CredentialCookie
	// CredentialBearer is an Authorization: Bearer token.
	CredentialBearer
)

// String returns "none", "cookie" or "bearer".
func (c Credential) String() string {
	switch c {
	case CredentialCookie:
		return "cookie"
	case CredentialBearer:
		return "bearer"
	}
	return "none"
}

// A SessionVerifier authenticates a request.
//
// Verify returns the caller's identity, or an error. It returns an error
// that wraps [ErrNoCredentials] when the request carries none of the
// credentials it understands, so that [FirstOf] can try the next verifier,
// and one that wraps [ErrUnauthenticated] when it found credentials but
// they are not valid. Any other error means verification could not be done
// (a store is down, say) and is answered 503, not 401.
type SessionVerifier interface {
	Verify(r *http.Request) (Identity, error)
}

// The errors a [SessionVerifier] reports.
var (
	// ErrUnauthenticated means the request's credentials are missing,
	// malformed, expired, revoked or unknown.
	ErrUnauthenticated = errors.New("auth: unauthenticated")

	// ErrNoCredentials means the request carries no credential the verifier
	// looks for. It wraps ErrUnauthenticated.
	ErrNoCredentials = wrapped{"auth: no credentials", ErrUnauthenticated}

	// ErrUnavailable wraps, for an error handler, a verifier failure that
	// is not about the credentials: the request could not be checked.
	ErrUnavailable = errors.New("auth: credentials could not be checked")
)

type wrapped struct {
	msg   string
	inner error
}

func (e wrapped) Error() string { return e.msg }
func (e wrapped) Unwrap() error { return e.inner }

// The VerifierFunc type adapts an ordinary function to a [SessionVerifier].
type VerifierFunc func(r *http.Request) (Identity, error)

// Verify calls f(r).
func (f VerifierFunc) Verify(r *http.Request) (Identity, error) { return f(r) }

type contextKey struct{}

// NewContext returns a copy of ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	// The context node holds the identity itself: one allocation per
	// request rather than a node and a boxed Identity.
	ctx, _ = ctxvalue.With[contextKey](ctx, id)
	return ctx
}

// FromContext returns the identity [Require] stored in ctx, if any.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctxvalue.From[contextKey, Identity](ctx)
	if !ok {
		return Identity{}, false
	}
	return *id, true
}
