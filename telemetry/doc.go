// Package telemetry measures the gateway's requests with OpenTelemetry
// metrics and traces, writes a structured access log, and places clients
// on the map.
//
// [New] takes a [Config] whose zero value works (the global OpenTelemetry
// providers, no access log). [Telemetry.Handler] goes near the outside of
// the handler chain, so that a refused request is measured too; it puts a
// [Record] in each request's context, which later handlers fill with what
// only they know: the user and deployment once authorization passed, the
// route template, the breaker state. [Telemetry.Transport] wraps the
// RoundTripper to the deployments. [Telemetry.LimitDecision] and
// [Telemetry.BreakerStateChanged] are the targets of the limiter's and the
// breakers' hooks.
//
// # Metrics
//
// HTTP server metrics follow the OpenTelemetry semantic conventions:
//
//	http.server.request.duration    histogram, s
//	http.server.request.body.size   histogram, By
//	http.server.response.body.size  histogram, By
//
// with http.request.method (unknown methods as "_OTHER"), url.scheme,
// http.response.status_code, http.route (when known), error.type (for
// 5xx), gateway.deployment.id and gateway.user.id, and for MCP requests
// mcp.method.name and, for tools/call, gen_ai.tool.name. The gateway's own:
//
//	gateway.upstream.duration    histogram, s: time to the upstream's
//	                             response headers; gateway.deployment.id,
//	                             http.request.method, and
//	                             http.response.status_code or error.type
//	gateway.io                   counter, By: body bytes per
//	                             gateway.deployment.id, gateway.user.id
//	                             and network.io.direction (receive,
//	                             transmit), added as they flow
//	gateway.streams.active       up-down counter: flushed responses
//	                             still running, per deployment and user
//	gateway.websockets.active    up-down counter: hijacked connections
//	                             still open, per deployment and user
//	gateway.limit.decisions      counter: gateway.limit.scope,
//	                             gateway.limit.outcome
//	gateway.breaker.transitions  counter: gateway.deployment.id,
//	                             gateway.breaker.from, gateway.breaker.to
//	gateway.breaker.state        gauge: 1 for a deployment's current
//	                             gateway.breaker.state, 0 for the others
//	                             it has been in
//
// The ids in metrics come only from the [Record], where the gateway puts
// them after authorization, so a request for a made-up path adds no
// series. Config.MaxAttributeValues bounds the distinct ids and routes
// (later ones become [Other]); Config.DisableUserAttribute removes the
// user id from metrics.
//
// # MCP
//
// MCP requests are labelled with their JSON-RPC method and, for
// tools/call, the tool name: the Handler reads the Mcp-Method and Mcp-Name
// headers of the stateless protocol generation, and [Telemetry.LabelMCP],
// called once a request is authorized, reads the first 16 KiB of a POSTed
// JSON body, which then streams on unchanged. The body, when it is a
// JSON-RPC request, wins over the headers, since it is what the server
// acts on; it is read as a server's JSON parser reads it (escapes decoded,
// the last of a repeated member winning), and only if the whole object
// ends within the 16 KiB.
// The labels go in the [Record] (MCPMethod, MCPTool), on the server span,
// in the access log, and on the HTTP server metrics of requests that
// reached a deployment. Since clients choose them, metrics keep at most 50
// distinct methods and 100 distinct tool names across all deployments;
// later ones become [Other].
//
// # Traces
//
// Each request gets a server span named after its method and route, with
// the user, deployment, request id, rate-limit outcome and breaker state,
// the client's address and country. Each upstream call gets a client span
// below it, and the trace context goes to the deployment through
// Config.Propagator. An inbound trace context is continued only from a
// trusted proxy.
//
// # Access log
//
// Config.AccessLog receives one line per request when it finishes; see
// [Record] for what each value means. Status 499 marks a client that went
// away before a status was sent.
//
// # Secrets
//
// Nothing the package records holds the query string or a request or
// response header other than User-Agent and the MCP method and tool
// names, which are kept only when they are short names of plain
// characters. Errors are recorded by kind, not message. Tokens, cookies,
// session ids and Authorization values therefore cannot reach logs, spans
// or metrics through it.
//
// # Geography
//
// With Config.GeoIP naming a MaxMind database, each client's country (and
// city, with a City database) is looked up by address. A CDN's country
// header (Config.CountryHeader) is believed from trusted proxies only.
// Without either the country is "unknown".
package telemetry
