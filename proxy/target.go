package proxy

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
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

// nodeKey finds the targetNode itself, for the room it lends.
type nodeKey struct{}

// targetNode is the context node [NewContext] adds. Besides the target it
// holds room for the per-request state of one request the [Proxy] serves
// under it, its relay, its forwarding header values and the wrapper that
// filters its response's trailers, so that the target and that state cost
// one allocation rather than five. The room is lent once: further requests
// served under the same context (sequentially or at the same time) get
// state of their own.
type targetNode struct {
	context.Context
	t Target

	relayLent, valuesLent, trailersLent atomic.Bool
	relay                               relay
	values                              [forwardedHeaders]string
	trailers                            trailerScrubber
}

// Value returns the target for its key, the node for nodeKey, and asks the
// parent context for every other key.
func (n *targetNode) Value(key any) any {
	switch key.(type) {
	case contextKey:
		return &n.t
	case nodeKey:
		return n
	}
	return n.Context.Value(key)
}

// NewContext returns a copy of ctx carrying a copy of *t; a nil t carries
// none, hiding any target ctx had. The copy lives in the context's own
// node, so a caller can build t on its stack and the request pays one
// allocation for both; changes made to *t after the call are not seen by
// [FromContext].
func NewContext(ctx context.Context, t *Target) context.Context {
	if t == nil {
		return context.WithValue(ctx, contextKey{}, (*Target)(nil))
	}
	return &targetNode{Context: ctx, t: *t}
}

// FromContext returns the target stored in ctx, if any.
func FromContext(ctx context.Context) (*Target, bool) {
	t, ok := ctx.Value(contextKey{}).(*Target)
	return t, ok && t != nil
}

// newRelay returns a relay for one response to w, from the deployment of
// target t: the one the target node in ctx lends, when it has not lent it
// yet, or a new one.
func newRelay(ctx context.Context, w http.ResponseWriter, t *Target) *relay {
	if n, ok := ctx.Value(nodeKey{}).(*targetNode); ok && n.relayLent.CompareAndSwap(false, true) {
		n.relay = relay{w: w, target: t}
		return &n.relay
	}
	return &relay{w: w, target: t}
}

// newTrailerScrubber returns an empty trailer scrubber: the one the target
// node in ctx lends, when it has not lent it yet, or a new one.
func newTrailerScrubber(ctx context.Context) *trailerScrubber {
	if n, ok := ctx.Value(nodeKey{}).(*targetNode); ok && n.trailersLent.CompareAndSwap(false, true) {
		return &n.trailers
	}
	return new(trailerScrubber)
}

// forwardedValues returns an empty slice with room for the values of the
// forwarding headers of one upstream request: the room the target node in
// ctx lends, when it has not lent it yet, or new room.
func forwardedValues(ctx context.Context) []string {
	if n, ok := ctx.Value(nodeKey{}).(*targetNode); ok && n.valuesLent.CompareAndSwap(false, true) {
		return n.values[:0]
	}
	return make([]string, 0, forwardedHeaders)
}
