// Package apigateway puts the apps and MCP servers that a platform's users
// deploy behind one secure front door. The platform mounts a single
// http.Handler, and every request to
//
//	/api/gateway/{user_id}/{deployment_id}/{path...}
//
// is authenticated, checked against the deployment's owner and status, and
// proxied to the deployment's internal URL, with the gateway's own
// credentials removed, identity headers the deployment can trust added, and
// redirects and cookies put back under the deployment's prefix. Web apps
// (pages, assets, redirects, cookies, WebSockets) and MCP servers
// (Streamable HTTP and SSE streams) work unchanged behind it.
//
// This package holds no code; the packages below do the work.
//
// # Mounting
//
//	cookies, _ := auth.NewCookieVerifier(auth.CookieConfig{Store: sessionStore, Name: "platform_session"})
//	tokens, _ := auth.NewBearerVerifier(lookupAPIToken)
//	gw, err := gateway.New(gateway.Config{
//		Verifier:      auth.FirstOf(cookies, tokens),
//		Deployments:   deploymentStore, // your database, behind gateway.DeploymentStore
//		SessionCookie: "platform_session",
//		LoginURL:      "/login",
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	srv := &http.Server{Addr: ":8080", Handler: gw.Wrap(platformMux), ReadHeaderTimeout: 10 * time.Second}
//
// gateway.Gateway.Wrap serves /api/gateway/ and hands everything else to
// the platform's own handler. The runnable demo platform in examples/hub
// shows the whole setup: go run ./examples/hub.
//
// # Authentication
//
// Package auth defines auth.SessionVerifier and the verifiers platforms
// use: gorilla/sessions cookies checked on every request, bearer tokens
// resolved by a host function, and auth.FirstOf to accept either. A
// caller without valid credentials gets a 401 problem response with
// WWW-Authenticate; a browser navigation can be sent to the platform's
// login page instead, with a return path that can only be local.
//
// # Deployments and authorization
//
// Package gateway routes the path, looks the deployment up through the
// host's gateway.DeploymentStore (cached, bounded, concurrent misses
// collapsed) and lets a request through only to a running deployment that
// the caller owns. Another user's deployment answers exactly like a missing
// one. Request bodies may be capped globally or per deployment (413), and
// while the host's store is down, deployments it confirmed recently can
// keep being served (Config.StaleIfError).
//
// # Proxying
//
// Package proxy forwards with httputil.ReverseProxy's Rewrite hook: the
// prefix is removed and the rest of the path and the query are kept byte
// for byte; X-Forwarded-* and the X-Gateway-* identity headers are set
// after every client-sent copy is dropped; the platform's session cookie and
// bearer token are stripped; Location and Set-Cookie are scoped back under
// the deployment's prefix; SSE and streaming responses are flushed as
// written and WebSocket upgrades pass through. Responses get security
// headers exactly once.
//
// # Rate limits
//
// Package limit counts each request against its user (across their
// deployments) and its deployment (across its callers), after
// authentication and the ownership check, so nobody spends another user's
// budget. Rates are configurable globally, per user, per deployment and
// per MCP tool;
// counters live in memory (bounded) or in Redis, shared by replicas. A
// refused request gets 429 with Retry-After and the IETF draft and
// X-RateLimit headers; a store outage fails closed (503) or open, as
// configured. An optional per-client-address limit runs before
// authentication.
//
// # MCP
//
// Every generation of MCP passes unchanged: Streamable HTTP with sessions
// or stateless (its Mcp-Method, Mcp-Name and Mcp-Param-* headers allowed
// in browser preflights), resumed streams, and the legacy HTTP+SSE
// transport, whose endpoint events the proxy keeps under the deployment's
// prefix, event by event. Telemetry labels each request with its JSON-RPC
// method and tool, read as the server will read them; the same label
// drives per-tool limits. Unauthenticated MCP clients can be pointed at
// the platform's sign-in through OAuth protected resource metadata.
//
// # Circuit breakers
//
// Package breaker wraps the proxy's transport with one circuit breaker per
// deployment, so it judges the upstream's answers and not the client's
// behaviour: refused connections, timeouts and 502/503/504 count; 4xx and
// clients that went away do not. An open breaker answers 503 with
// Retry-After without contacting the deployment; after the delay, bounded
// trial requests decide whether it closes.
//
// # CORS and origins
//
// The gateway is the one CORS authority (rs/cors, before authentication,
// so preflights never touch credentials, limits or deployments); origins
// are allowed globally and per deployment and echoed, never "*". A
// cookie-authenticated WebSocket handshake or state-changing request from
// an origin that is not allowed is refused.
//
// # Telemetry
//
// Package telemetry wraps the whole chain, so refused requests are
// measured too: OpenTelemetry HTTP metrics per deployment (ids only from
// authorized requests, capped), bytes counted as they flow (long streams
// and WebSockets included), upstream time, limit decisions and breaker
// states; a server span per request and a client span to the deployment,
// with trace context propagated; one slog access line per request, never
// with a credential or a query string; client countries from a MaxMind
// database. Package telemetry/usage keeps each user's and deployment's
// last hour of usage in bounded memory for dashboards.
//
// # Errors
//
// Every error the gateway answers itself is an RFC 9457
// application/problem+json body with a stable type URI, the status, a
// detail and the request id. The types are documented in docs/problems.md.
package apigateway
