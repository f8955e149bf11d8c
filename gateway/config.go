package gateway

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/breaker"
	"github.com/mcphub/apigateway/limit"
	"github.com/mcphub/apigateway/proxy"
	"github.com/mcphub/apigateway/telemetry"
)

// Config configures a [Gateway]. Verifier and Deployments are required;
// every other field's zero value is a working default.
type Config struct {
	// Prefix is the path the gateway is mounted under. Empty means
	// "/api/gateway/". A missing trailing slash is added.
	Prefix string

	// Verifier authenticates every request; see [auth.FirstOf] to accept a
	// session cookie or a bearer token. Required.
	Verifier auth.SessionVerifier

	// Deployments looks deployments up. Required.
	Deployments DeploymentStore

	// SessionCookie is the name of the platform's session cookie. It never
	// reaches a deployment, and deployments cannot set it. Empty means the
	// platform uses no cookie.
	SessionCookie string

	// LoginURL, when set, is where a browser navigation without a valid
	// session is redirected, with the path it asked for in the return_to
	// query parameter. Empty means every unauthenticated request gets 401.
	LoginURL string

	// ProtectedResource, when set, publishes OAuth protected resource
	// metadata (RFC 9728) for every deployment path at
	// /.well-known/oauth-protected-resource/{path} (served by
	// [Gateway.Wrap]), and names it in the resource_metadata parameter of
	// every 401 challenge, so MCP clients that implement MCP authorization
	// can discover how to sign in. Nil means a plain 401.
	ProtectedResource *ResourceMetadata

	// CacheSize bounds how many deployments are cached. Zero means 10000.
	CacheSize int

	// CacheTTL is how long a deployment looked up in Deployments is
	// trusted before it is looked up again, so an ownership or status change
	// takes at most this long to apply (or call [Gateway.Forget]). Zero means
	// 5s; a negative value disables caching.
	CacheTTL time.Duration

	// LookupTimeout bounds one call to Deployments. Zero means 5s.
	LookupTimeout time.Duration

	// StaleIfError, when positive, lets the gateway keep serving a
	// deployment the store confirmed within this window while the store
	// fails (an error, or no answer within LookupTimeout), instead of
	// answering 503: a database outage then does not take every
	// deployment down with it. What is served is the last answer, owner
	// and status included, so a change made during the outage applies
	// only once the store answers again, or when [Gateway.Forget] drops
	// it; the store is asked again at most a second later. It keeps a
	// second bounded copy (CacheSize entries) of recent answers. Zero, the
	// default, answers every store failure 503.
	StaleIfError time.Duration

	// NotRunningRetryAfter is the Retry-After sent with the 503 for a
	// deployment that is not running. Zero means 10s.
	NotRunningRetryAfter time.Duration

	// TrustedProxies lists the networks of proxies in front of the gateway
	// (a load balancer, a CDN) whose X-Forwarded-* and X-Request-Id headers
	// are believed. Empty means the client is whoever connected.
	TrustedProxies []netip.Prefix

	// CORS is the policy for browsers calling deployments from other
	// origins. The zero value allows none but those deployments list.
	CORS CORSConfig

	// Limits configures rate limiting: one counter per user across their
	// deployments and one per deployment across its callers, charged only
	// after authentication and the ownership check pass. The zero value
	// limits in memory at the limit package's default rates; set Store to a
	// limit.RedisStore to share counters between replicas. A deployment's
	// own Rate, when set, replaces Limits.PerDeployment for it (unless
	// Limits.DeploymentRate is set, which then decides). The per-client-IP
	// counter, which runs before authentication so floods of bad
	// credentials are cheap to refuse, is on only when
	// Limits.PerClientIP is set. Limits.ToolRate adds a counter per
	// deployment and MCP tool for tools/call requests, the tool read as
	// telemetry labels it: from a JSON body as the MCP server's parser
	// reads it, whatever the Mcp-Method and Mcp-Name headers say, and from
	// those headers only when the body is not a JSON-RPC request. The body
	// is read only as far as its first 16 KiB: a tools/call whose JSON
	// does not end within them, such as one with large arguments, is
	// counted by its Mcp-Name header if it has one, and otherwise not at
	// all. Empty TrustedProxies and ErrorHandler are taken from this
	// Config.
	Limits limit.Config

	// Breakers configures the circuit breaker each deployment's upstream
	// requests go through: a deployment that keeps failing (refused
	// connections, timeouts, 502/503/504) is answered 503 with Retry-After
	// without being contacted, until a trial request succeeds. The zero
	// value uses the breaker package's defaults. A deployment's own Breaker
	// settings, when set, apply to it (unless Breakers.For is set, which
	// then decides). Breakers are per gateway replica. Empty Logger is
	// taken from this Config.
	Breakers breaker.Config

	// Telemetry configures metrics, traces and the access log: OpenTelemetry
	// providers (nil means the global ones, no-ops unless the host set
	// them), an access logger (nil means none), a GeoIP database. Empty
	// TrustedProxies are taken from this Config. The gateway fills in user
	// and deployment ids only once a request is authorized, so junk paths
	// and refused callers cannot create metric series.
	Telemetry telemetry.Config

	// SecurityHeaders is the policy for security headers on every response.
	// Nil means [proxy.DefaultSecurityHeaders].
	SecurityHeaders *proxy.SecurityHeaders

	// Transport sends requests to deployments. Nil means
	// proxy.NewTransport with UpstreamHeaderTimeout.
	Transport http.RoundTripper

	// UpstreamHeaderTimeout bounds the wait for a deployment's response
	// headers when Transport is nil; established streams are never cut.
	// Zero means 30s.
	UpstreamHeaderTimeout time.Duration

	// MaxRequestBodyBytes, when positive, bounds every request body the
	// gateway forwards: a request declaring a longer body is answered 413
	// without reaching the deployment, and a body that turns out longer
	// while it streams is cut there (413 if the deployment has not
	// answered yet). A deployment's own MaxRequestBodyBytes replaces it.
	// Zero means no limit.
	MaxRequestBodyBytes int64

	// ErrorHandler answers every error the gateway produces itself. err
	// wraps one of the sentinel errors of this package, auth or proxy. Nil
	// means [WriteError], which answers with RFC 9457 problem responses.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	// Logger receives the gateway's own diagnostics (panics, store errors).
	// Nil means silent.
	Logger *slog.Logger
}
