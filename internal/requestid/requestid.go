// Package requestid carries the gateway's request id through a request's
// context and generates new ones.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"net/http"

	"github.com/mcphub/apigateway/internal/ctxvalue"
)

// Header is the header that carries the request id to deployments and back
// to clients.
const Header = "X-Request-Id"

type contextKey struct{}

// NewContext returns a copy of ctx that carries id.
func NewContext(ctx context.Context, id string) context.Context {
	ctx, _ = ctxvalue.With[contextKey](ctx, [1]string{id})
	return ctx
}

// FromContext returns the request id stored in ctx, if any.
func FromContext(ctx context.Context) (string, bool) {
	ids, ok := ctxvalue.From[contextKey, [1]string](ctx)
	if !ok {
		return "", false
	}
	return ids[0], ids[0] != ""
}

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// New returns a random, URL-safe request id of 26 characters.
func New() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: crypto/rand aborts the process instead
	return encoding.EncodeToString(b[:])
}

// Valid reports whether id is acceptable as a request id received from a
// trusted proxy: 1 to 128 printable ASCII characters without spaces, so it
// can be logged and echoed in a header without escaping.
func Valid(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Middleware gives every request an id: the inbound [Header] when trusted
// reports that the request came through a proxy the host trusts and the
// value is [Valid], a new one otherwise. The id is stored in the request's
// context and echoed in the response's [Header].
func Middleware(trusted func(*http.Request) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(Header)
			if trusted == nil || !trusted(r) || !Valid(id) {
				id = New()
			}
			// The context node holds the array the response header
			// shares, a single allocation for both; header values are
			// replaced, never edited in place, so neither can change the
			// other.
			ctx, ids := ctxvalue.With[contextKey](r.Context(), [1]string{id})
			w.Header()[Header] = ids[:1:1]
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
