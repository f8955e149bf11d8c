package breaker

import (
	"context"
	"net/http"
)

type contextKey struct{}

// NewContext returns a copy of ctx that names the breaker, key, guarding
// the request: normally the deployment's id. An empty key leaves the
// request unguarded.
func NewContext(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, contextKey{}, key)
}

// FromContext returns the breaker key stored in ctx by [NewContext]; ok is
// false when there is none or it is empty.
func FromContext(ctx context.Context) (key string, ok bool) {
	key, ok = ctx.Value(contextKey{}).(string)
	return key, ok && key != ""
}

// keyFromContext is the default Config.Key: the key r's context carries.
func keyFromContext(r *http.Request) (string, bool) { return FromContext(r.Context()) }
