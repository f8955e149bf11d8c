// Package breaker keeps one circuit breaker per deployment, so that a
// deployment that keeps failing is given a rest, and its callers a quick
// answer, instead of every request waiting on it.
//
// The breakers wrap the [http.RoundTripper] that sends requests to
// deployments, so they see what the upstream answered, not what the
// client did. Config.Key names the breaker for each request; by default
// it is the deployment named in the request's context with [NewContext]
// (the gateway sets Config.Key to read its own target instead, so
// [FromContext] finds nothing in its requests). A request that names none
// passes unguarded:
//
//	breakers, err := breaker.New(breaker.Config{})
//	transport := breakers.RoundTripper(upstreamTransport)
//	// per request, once the deployment is known:
//	r = r.WithContext(breaker.NewContext(r.Context(), deploymentID))
//
// # What counts
//
// A failure is an error from the transport (a refused or reset connection,
// a timeout, a deadline on the request) or an answer of 502, 503 or 504;
// Config.IsFailure may say otherwise, for instance to count 500 as well
// (it does not by default). Every other answer is a success, 4xx
// included: a deployment that refuses a bad request is healthy. A request
// whose client goes away before the answer, or whose body cannot be read
// (an upload broken off, a body size limit), counts as neither. An answer
// counts as soon as its headers arrive, so a WebSocket (101) or a stream
// that lasts for minutes is a success from the start.
//
// # States
//
// A closed breaker lets requests through. It trips, and opens, when at
// least Settings.FailureRatio of the requests in the last Settings.Window
// failed (once Settings.MinRequests were seen), or after
// Settings.ConsecutiveFailures failures in a row: by default half of at
// least 10 requests in 30 seconds, or 5 in a row. An open breaker refuses
// requests for Settings.OpenDelay (30s by default) with an [*OpenError]
// that wraps [ErrOpen] and says how long is left, without contacting the
// upstream; [WriteError] answers it with a 503 problem response and
// Retry-After. Then it is half-open: it lets Settings.HalfOpenRequests
// trial requests through at a time (1 by default), closes once that many
// succeeded, and reopens at the first failure. Config.For gives single
// deployments their own settings, and Config.OnStateChange hears of every
// change, for telemetry.
//
// Responses are returned exactly as the upstream sent them, failures
// included: the breaker changes only its own count, never the answer. It
// neither reads nor buffers bodies and never retries.
//
// # Registry
//
// Breakers are created on a deployment's first request and kept in a
// bounded registry: at most Config.MaxBreakers (10,000 by default, about
// 800 bytes each), and dropped after Config.IdleTimeout without requests
// (5 minutes by default). Call [Breakers.Reset] when a deployment is
// redeployed, so that its new instance starts with a closed breaker.
//
// # Limitations
//
// Breakers live in one process: each gateway replica has its own. An
// open breaker dropped from a full registry, or reset, forgets that it
// was open. A trial request whose client goes away reopens a half-open
// breaker, since failsafe-go cannot take the trial's permit back without
// a result. Failures after the response headers (a stream cut short) do
// not count. The breakers run on failsafe-go's circuit breaker, which
// reads the wall clock and takes no other; the package's tests therefore
// use short real delays.
package breaker
