package proxy

import (
	"context"
	"net/url"
)

// A Target says where one request goes and on whose behalf. The gateway
// builds it after authentication and authorization and stores it in the
// request's context with [NewContext]; [Proxy] forwards only requests that
// carry one.
type Target struct {
	// Upstream is the deployment's base URL. Its path, if any, is prepended
	// to Path; its query is not used. Nil makes the request fail with
	// [ErrNoTarget].
	Upstream *url.URL

	// Prefix is the public path the deployment is served under, escaped and
	// without a trailing slash, such as "/api/gateway/user-1/dep-1".
	// Redirects and cookies from the deployment are put back under it.
	Prefix string

	// Path is the escaped path below Prefix to forward, exactly as the
	// client sent it; it starts with "/". Empty means "/".
	Path string

	// UserID and DeploymentID are sent to the deployment in the
	// [HeaderUserID] and [HeaderDeploymentID] headers.
	UserID       string
	DeploymentID string

	// StripAuthorization removes the Authorization header from the upstream
	// request; set it when that header was the gateway's own credential.
	StripAuthorization bool
}

type contextKey struct{}

// NewContext returns a copy of ctx carrying t.
func NewContext(ctx context.Context, t *Target) context.Context {
	return context.WithValue(ctx, contextKey{}, t)
}

// FromContext returns the target stored in ctx, if any.
func FromContext(ctx context.Context) (*Target, bool) {
	t, ok := ctx.Value(contextKey{}).(*Target)
	return t, ok && t != nil
}
