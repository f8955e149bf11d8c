// Package limit rate-limits requests to the gateway per user, per
// deployment and per client address, as ordinary net/http middleware.
//
// A [Limiter] built with [New] offers two handlers. [Limiter.Handler] runs
// after authentication and the ownership check, which put a [Subject] in
// the request context with [NewContext]; it counts the request against the
// user's counter (all of the user's deployments together) and then against
// the deployment's counter (all callers together). Since only a caller who
// passed both checks reaches it, nobody can spend another user's budget by
// naming them in a path. [Limiter.ClientIPHandler] runs before
// authentication and counts every request against its client's address,
// so that callers who never authenticate are limited too.
//
// Each counter has a default [Rate] (Config.PerUser, PerDeployment,
// PerClientIP); Config.UserRate and Config.DeploymentRate let the host give
// single users or deployments their own rate, or [Unlimited].
// Config.ToolRate adds a counter per deployment and MCP tool, for the
// tools a deployment wants held to their own rate (an expensive search, a
// tool that sends mail); the gateway names the tool of each tools/call in
// the Subject. Rates parse from ulule/limiter's format with [ParseRate]:
// "600-M".
//
// # Answers and headers
//
// A refused request gets a 429 RFC 9457 problem response naming the
// limit that refused it, with Retry-After; it never reaches the next
// handler. Every request counted, refused or not, carries the state of
// the counter closest to refusing in the RateLimit-Policy and RateLimit
// fields of draft-ietf-httpapi-ratelimit-headers and in X-RateLimit-Limit,
// X-RateLimit-Remaining and X-RateLimit-Reset (Config.Headers selects
// which). Every delay, X-RateLimit-Reset included, is in seconds from now,
// rounded up, like Retry-After: on a 429 the three agree. [ExposedHeaders]
// lists the names for a CORS policy.
//
// # Store failures
//
// When the store cannot count a request (an error, or no answer within
// Config.StoreTimeout, 100ms by default), the Limiter fails closed unless
// Config.FailOpen is set: the request is answered 503 with Retry-After,
// never 500, and never with the store's error text. Failing open passes
// the request on without the rate-limit headers of the counters that could
// not be checked. Either way Config.OnDecision
// hears of it, as it hears of every allowed and refused request, so that
// telemetry can count decisions without this package importing it.
//
// # Stores
//
// A [LimitStore] takes one unit from a counter; the package's stores run
// on github.com/ulule/limiter/v3, and [Adapt] wraps any store of that
// module. [MemoryStore] keeps counters in the process, bounded (500,000
// counters by default) and swept of expired ones. A counter takes about
// 185 bytes of heap with a short id and 217 with a UUID, so a million
// counters take 177 to 207 MiB (measured by BenchmarkMemoryStoreMillionKeys
// on Go 1.26, amd64). [RedisStore] shares counters between
// replicas through Redis; each call is one round trip and is abandoned at
// the request's deadline even when the server hangs. A store that is also
// a [BatchStore], as RedisStore is, takes all of a request's counters in
// one call, so Handler costs one round trip per request. Package limittest
// checks any implementation.
//
// # Limitations
//
// Counters use fixed windows: a client can send a full window's worth of
// requests at the end of one window and again at the start of the next.
// A request counted against the user and then refused by the deployment's
// counter still counts against the user. With a Redis cluster or ring,
// RedisStore cannot batch, and Handler makes one round trip per counter.
package limit
