package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// BearerVerifier authenticates requests by an Authorization: Bearer token
// (RFC 6750) that a host function resolves to a user.
type BearerVerifier struct {
	lookup func(ctx context.Context, token string) (Identity, error)
}

var _ SessionVerifier = (*BearerVerifier)(nil)

// NewBearerVerifier returns a verifier that passes each well-formed bearer
// token to lookup. lookup returns the token's identity, an error wrapping
// [ErrUnauthenticated] for a token it does not know or that was revoked, or
// any other error when it cannot tell (the request is then answered 503).
// lookup should compare secrets in constant time, or look them up by a hash
// as [StaticTokens] does. The returned identity's Credential is set to
// [CredentialBearer].
func NewBearerVerifier(lookup func(ctx context.Context, token string) (Identity, error)) (*BearerVerifier, error) {
	if lookup == nil {
		return nil, errors.New("auth: NewBearerVerifier needs a lookup function")
	}
	return &BearerVerifier{lookup: lookup}, nil
}

// Verify implements [SessionVerifier]. A request without an Authorization
// header, or with a scheme other than Bearer, carries no credentials for
// this verifier. Several Authorization headers, an empty token or one with
// characters outside RFC 6750's token68 are refused.
func (v *BearerVerifier) Verify(r *http.Request) (Identity, error) {
	token, err := BearerToken(r)
	if err != nil {
		return Identity{}, err
	}
	id, err := v.lookup(r.Context(), token)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			return Identity{}, err
		}
		return Identity{}, fmt.Errorf("looking up bearer token: %w", err)
	}
	if id.UserID == "" {
		return Identity{}, fmt.Errorf("%w: token lookup returned no user", ErrUnauthenticated)
	}
	id.Credential = CredentialBearer
	return id, nil
}

// BearerToken returns the bearer token of r. It fails with
// [ErrNoCredentials] when r has no Authorization header or one of another
// scheme, and with [ErrUnauthenticated] when the header is malformed.
func BearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", ErrNoCredentials
	}
	if len(values) > 1 {
		return "", fmt.Errorf("%w: several Authorization headers", ErrUnauthenticated)
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoCredentials
	}
	token = strings.TrimLeft(token, " ")
	if !isToken68(token) {
		return "", fmt.Errorf("%w: malformed bearer token", ErrUnauthenticated)
	}
	return token, nil
}

// isToken68 reports whether s matches RFC 7235's token68:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	if s == "" || len(s) > 4096 {
		return false
	}
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// StaticTokens returns a lookup for [NewBearerVerifier] over a fixed map
// from token to user id. Tokens are never compared directly: they are
// indexed by their SHA-256 digest, so the time a lookup takes says nothing
// about how much of a guessed token was right.
func StaticTokens(tokens map[string]string) func(ctx context.Context, token string) (Identity, error) {
	byDigest := make(map[[sha256.Size]byte]string, len(tokens))
	for token, user := range tokens {
		byDigest[sha256.Sum256([]byte(token))] = user
	}
	return func(_ context.Context, token string) (Identity, error) {
		user, ok := byDigest[sha256.Sum256([]byte(token))]
		if !ok {
			return Identity{}, fmt.Errorf("%w: unknown bearer token", ErrUnauthenticated)
		}
		return Identity{UserID: user}, nil
	}
}
