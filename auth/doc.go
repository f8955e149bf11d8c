// Package auth authenticates requests to the gateway.
//
// A [SessionVerifier] turns a request into an [Identity] or an error. The
// package ships the verifiers a platform usually needs: [CookieVerifier]
// for gorilla/sessions cookies (signature and expiry checked on every
// request, with a hook to refuse revoked sessions), [BearerVerifier] for
// Authorization: Bearer tokens resolved by a host function, and [FirstOf]
// to accept either.
//
// An [Authenticator] built with [New] guards handlers: its Require method is
// ordinary net/http middleware. A request without valid credentials gets a
// 401 RFC 9457 problem response with WWW-Authenticate; when a login URL is
// configured, a browser navigation (a GET asking for text/html) is instead
// redirected there with a return path that can only be a local path. API,
// MCP and WebSocket clients always get the 401.
//
// The package never logs, and never puts tokens, cookies or session ids in
// errors.
package auth
