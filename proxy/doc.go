// Package proxy forwards an authorized request to the deployment it is
// for, and the deployment's answer back, without letting either side speak
// for the gateway.
//
// A [Proxy] is an [http.Handler] built on [httputil.ReverseProxy] with a
// Rewrite function. It forwards only requests whose context carries a
// [Target] (see [NewContext]): the deployment's upstream URL, the public
// prefix it is served under, the path below that prefix, and the user and
// deployment ids. The gateway builds the Target after authentication and
// authorization; the proxy trusts it as given.
//
// # Upstream request
//
// The upstream URL is the Target's upstream with its base path (without
// the trailing slash) followed by Target.Path, byte for byte: escapes such
// as %2F and repeated slashes reach the upstream as the client sent them.
// The query string is the client's, unchanged. The Host header is the
// upstream's own.
//
// The client cannot impersonate the gateway. These inbound headers are
// dropped, whatever their case and whether '-' is written '_':
// X-Gateway-*, X-Forwarded-*, Forwarded, X-Real-Ip, X-Request-Id,
// X-Auth-Request-*, Remote-User, X-Remote-User, X-Original-*,
// X-Rewrite-Url, X-Client-Ip, True-Client-Ip and X-Cluster-Client-Ip. Then
// the proxy sets, one line each:
//
//	X-Forwarded-For          the peer's IP; behind a trusted proxy (see
//	                         Config.TrustForwarded) the inbound chain and
//	                         then the peer
//	X-Forwarded-Host         the inbound Host, or the trusted inbound value
//	X-Forwarded-Proto        http or https, or the trusted inbound value
//	X-Forwarded-Prefix       Target.Prefix
//	X-Gateway-User-Id        Target.UserID
//	X-Gateway-Deployment-Id  Target.DeploymentID
//	X-Request-Id             the gateway's request id, if there is one
//
// Empty values are not sent. These headers are set after ReverseProxy has
// removed hop-by-hop headers, so a client that names them in Connection
// cannot remove them. An Upgrade to anything but websocket (h2c above all)
// is removed, as are HTTP2-Settings and Proxy-Authorization.
//
// The gateway's own credentials stay at the gateway: the cookie named
// Config.SessionCookie is cut out of the Cookie header, the other cookies
// keeping their order and bytes, and Authorization is removed when
// Target.StripAuthorization says it was the gateway's credential. An
// application's own Authorization header passes. MCP headers
// (Mcp-Session-Id, Mcp-Protocol-Version and the rest) and Last-Event-ID
// pass both ways untouched.
//
// # Upstream response
//
// The deployment is served under a sub-path it may not know about, so the
// proxy rewrites:
//
//   - Location, Content-Location, the URL in Refresh and the targets of
//     Link: an absolute path, or an absolute URL on the upstream's own
//     scheme and host, is put under Target.Prefix, after the upstream's
//     base path is taken off. Relative references and other hosts are left alone. A path
//     already under the prefix, from an application that honours
//     X-Forwarded-Prefix, is kept.
//   - Set-Cookie, textually, so unknown attributes survive: Domain is
//     removed and Path is mapped under the prefix the same way (a missing
//     or root Path becomes the prefix). Cookies named like the platform's
//     session cookie (also with a __Host- or __Secure- prefix), cookies
//     without a name, and every __Host- cookie are dropped: the __Host-
//     prefix requires Path=/, so such a cookie could not be kept to one
//     deployment. Drops are logged at debug level, by name only.
//
// The legacy MCP HTTP+SSE transport (2024-11-05) names the URL its client
// must post messages to in an event of type endpoint. In an uncompressed
// text/event-stream response, the data lines of such events are mapped like
// Location, event by event as the stream flows: only the current line is
// held back, so events are not delayed, and a line over 64 KiB passes
// unrewritten. Every other event passes byte for byte. The response loses
// its Content-Length, since the rewrite changes the length.
//
// The headers only the gateway decides are removed from upstream
// responses: Strict-Transport-Security, Clear-Site-Data, Alt-Svc, every
// Access-Control-* header (the gateway's CORS middleware is the only CORS
// authority), and X-Request-Id when the gateway has one. [SecurityHeaders]
// then sets the gateway's security headers on every response.
//
// Trailers leave after the gateway's header section, where nothing can
// check them against it, so they are held to more. Announced in a Trailer
// header or not, they lose the headers above, X-Request-Id always,
// hop-by-hop and Connection-nominated fields, Set-Cookie, Location,
// Content-Location, Refresh and Link, page policies such as
// X-Frame-Options and Content-Security-Policy, the rate-limit headers
// (RateLimit, RateLimit-Policy, X-RateLimit-Limit, -Remaining and -Reset),
// and the fields RFC 9110 keeps out of trailers, such as Content-Length,
// Content-Type, Cache-Control and Retry-After.
//
// # Streaming and upgrades
//
// Server-sent events and bodies of unknown length are flushed to the client
// as they arrive; response headers leave before the first event. A
// WebSocket handshake is proxied when the response writer chain can reach
// a Hijacker (through Unwrap); the upstream's 101, with the subprotocol it
// chose, goes out through the outer writer so middleware sees status 101.
// An upstream that refuses the upgrade has its answer relayed as is. A
// client that goes away cancels the upstream request. 1xx responses are
// relayed with Location, Content-Location, Refresh and Link put under the
// prefix as in the final response, and without hop-by-hop,
// Connection-nominated or gateway-owned headers, X-Request-Id, the
// rate-limit headers or cookies.
//
// When copying a response body fails halfway, usually because the client
// went away, ReverseProxy ends the handler by panicking with
// [http.ErrAbortHandler], which net/http handles quietly. Recovery
// middleware should let that value through rather than answer 500, and
// middleware that records responses should do so in a deferred call.
//
// # Errors
//
// Requests the proxy cannot complete go to Config.ErrorHandler, or to
// [WriteError]: 502 when the upstream cannot be reached or answers
// nonsense, 504 when it does not send response headers in time (see
// [TransportConfig]), 499 when the client went away, 500 when the request
// has no Target. The problem body never carries the transport's error
// text, which may name internal addresses.
//
// # Limitations
//
// Path scoping is not an isolation boundary. Deployments share the
// platform's origin, so a script served by one deployment can read
// non-HttpOnly cookies of the platform and of other deployments, and call
// the platform's APIs with the user's session. Cookie paths and the
// stripped headers protect against accidents and against hostile upstream
// responses, not against hostile same-origin scripts: serve each
// deployment on its own hostname for that.
//
// Only headers and endpoint events are rewritten: absolute paths inside
// HTML, CSS or JavaScript still point at the origin's root, so
// applications should use relative links or honour X-Forwarded-Prefix.
// An endpoint event's data is rewritten when its event field comes before
// it, as MCP server libraries write it; an endpoint field that comes after
// data is turned into a comment instead, and a compressed event stream is
// refused (502). Paths are mapped under the prefix even when they lie
// outside the upstream's base path.
//
// Upstream requests use HTTP/1.1 (see [NewTransport]). WebSocket over
// HTTP/2 (extended CONNECT) is not proxied. An upload and a download do
// not stream at the same time over an HTTP/1.1 client connection: as by
// default in net/http, once the response starts the rest of the request
// body is no longer read (see [http.ResponseController.EnableFullDuplex]).
package proxy
