// Package gateway is the front door a hosting platform mounts to serve its
// users' deployed apps and MCP servers under one path:
//
//	/api/gateway/{user_id}/{deployment_id}/{path...}
//
// [New] builds a [Gateway], an http.Handler. For every request it
//
//  1. gives the request an id (X-Request-Id) and the response its security
//     headers, and turns a panic into a 500 problem response;
//  2. parses the path: ids are 1 to 128 ASCII letters, digits, '-' or '_',
//     checked in their escaped form so that no decoding can make one id
//     approved and another routed; a path that would climb out of the
//     deployment ("..", "%2e%2e", dot segments behind "%2f", backslashes)
//     is answered 404, and the rest of the path is forwarded byte for byte;
//  3. authenticates the caller with an [auth.SessionVerifier];
//  4. authorizes: the path's user must be the caller, and the deployment,
//     looked up in a [DeploymentStore] through a bounded, expiring cache,
//     must exist, belong to the caller and be running. Another user's
//     deployment and a missing one get the same 404, so ids cannot be
//     probed;
//  5. counts the request against the user's and the deployment's rate
//     limits with the [limit] package (Config.Limits), answering 429 once
//     either is used up;
//  6. proxies to the deployment's upstream with the [proxy] package,
//     through the deployment's circuit breaker (package [breaker]).
//
// CORS is answered before step 2 (Config.CORS), so preflights never need
// credentials; the optional per-client-address rate limit runs before
// CORS. Between steps 4 and 5, a WebSocket handshake or a
// state-changing request authenticated by the session cookie is refused
// when it comes from an origin that is neither the platform's nor allowed.
//
// Every error the gateway produces itself is an RFC 9457 problem response
// (see [WriteError]); a client's mistake is never a 500.
//
// Mount it in front of the platform's own handler with [Gateway.Wrap]
// rather than on an http.ServeMux, which rewrites "..", "." and "//" in
// paths before any handler sees them.
//
// Limitations: the deployment cache means an ownership or status change
// takes up to Config.CacheTTL (5s by default) to apply unless the host calls
// [Gateway.Forget]. Ids cannot contain characters other than those above
// (no dots, no '@'); hosts with such ids must map them.
package gateway
