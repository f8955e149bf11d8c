package telemetry

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// A Record describes one request. [Telemetry.Handler] creates it and puts
// it in the request's context; handlers further in the chain find it with
// [FromContext] and fill in what only they know. When the request is
// finished the Handler completes the results and reads the Record for the
// metrics, the server span, the access log and Config.OnRequest.
//
// The fields the chain sets are plain fields: set them on the request's
// goroutine before the chain returns. Set UserID and DeploymentID before
// the request body is read or the response written, and do not change
// them afterwards: the byte counters read them from other goroutines as
// bytes flow.
type Record struct {
	// UserID is the authenticated user. Set it only once authorization has
	// passed, never from the path alone: metric series are created for its
	// values, and a path anyone can make up must not create them. Empty
	// means unauthenticated.
	UserID string

	// DeploymentID is the deployment the request is for. Like UserID, set
	// it only once the deployment is known to exist and to belong to the
	// user. Empty means none.
	DeploymentID string

	// Route is the template of the route the request matched, such as
	// "/api/gateway/{user_id}/{deployment_id}/*"; never the request's own
	// path. Empty means the Handler uses the pattern an http.ServeMux
	// directly inside it matched, if any, or leaves the route out.
	Route string

	// LimitOutcome is the rate-limit decision: "allowed", "limited",
	// "error", or empty when no limit was checked. [Telemetry.LimitDecision]
	// sets it, keeping the most severe outcome of a request's checks.
	LimitOutcome string

	// LimitScope is the scope of the check that decided LimitOutcome, such
	// as "user", "deployment" or "ip". [Telemetry.LimitDecision] sets it.
	LimitScope string

	// BreakerState is the state of the deployment's circuit breaker as the
	// request saw it: "closed", "open" or "half-open". Empty means the
	// request did not reach a breaker.
	BreakerState string

	// MCPMethod is the JSON-RPC method of an MCP request, such as
	// "initialize" or "tools/call", and MCPTool the tool a tools/call
	// calls. The Handler sets them from the Mcp-Method and Mcp-Name
	// headers; [Telemetry.LabelMCP] replaces them with what a JSON-RPC
	// body within its first 16 KiB says, as the server will read it, so
	// that later handlers, such as a rate limit per tool, can rely on
	// them. They come from the client unverified, but hold only 1 to 64
	// (MCPTool: 128) characters from [A-Za-z0-9_./-]. Empty means not an
	// MCP request, or one that could not be labelled.
	MCPMethod, MCPTool string

	// The results below are filled in by the Handler when the request is
	// finished; they are valid in Config.OnRequest and after the Handler
	// returns.

	// Start is when the Handler received the request.
	Start time.Time

	// Duration is the time from Start until the handler chain returned.
	Duration time.Duration

	// UpstreamDuration is the time spent waiting for deployments' response
	// headers, summed over the request's upstream calls (see
	// [Record.AddUpstreamDuration]).
	UpstreamDuration time.Duration

	// Status is the response status: 499 when the client went away before
	// one was sent, 101 for a connection that was taken over.
	Status int

	// BytesIn and BytesOut count body bytes read from and written to the
	// client until the handler chain returned; for a connection taken over
	// (a WebSocket), every byte through it after the takeover. Bytes that
	// pass a hijacked connection after the chain returned, which happens
	// only if the handler left it to another goroutine, reach the
	// gateway.io metric but not the Record.
	BytesIn, BytesOut int64

	// RequestID is the gateway's request id, when an earlier handler set
	// one.
	RequestID string

	// Method is the request's method.
	Method string

	// Path is the request's path, escaped as the client sent it, without
	// the query string and without path parameters: "/app;jsessionid=x/a"
	// is "/app;/a". At most 2 KiB.
	Path string

	// UserAgent is the client's User-Agent header, shortened to 256 bytes.
	UserAgent string

	// ClientIP is the client's address, after the trusted-proxy rules of
	// Config.TrustedProxies. It is the zero Addr if the peer's address
	// cannot be parsed.
	ClientIP netip.Addr

	// Country is the client's ISO 3166-1 alpha-2 country code, or
	// "unknown".
	Country string

	// City is the client's city in English, or empty when the database has
	// none for the address.
	City string

	live          *counters // nil in a Record the Handler did not make
	limitSeverity int

	// untraced is set by the Handler when the tracer gave the request no
	// span context: it records nothing, so the Transport starts no client
	// span either.
	untraced bool
}

type recordKey struct{}

// NewContext returns a copy of ctx that carries rec. [Telemetry.Handler]
// calls it; tests of handlers that fill a Record may call it too.
func NewContext(ctx context.Context, rec *Record) context.Context {
	return context.WithValue(ctx, recordKey{}, rec)
}

// FromContext returns the Record of the request whose context is ctx, if
// a [Telemetry.Handler] (or [NewContext]) put one there.
func FromContext(ctx context.Context) (*Record, bool) {
	rec, ok := ctx.Value(recordKey{}).(*Record)
	return rec, ok && rec != nil
}

// counters are the parts of a Record updated from other goroutines while
// the request runs. They live outside the Record so that a finished
// Record can be copied.
type counters struct {
	upstream          atomic.Int64 // nanoseconds
	bytesIn, bytesOut atomic.Int64
	inOpts, outOpts   atomic.Pointer[ioOptions]
}

// exchange is what the Handler allocates for one request, in one piece: the
// Record, its counters, the response writer, and the context node that
// carries the Record, in place of the one [NewContext] would add.
type exchange struct {
	context.Context // the parent; set before the exchange is used as one
	rec             Record
	c               counters
	w               writer
}

// Value returns the exchange's Record for the Record's key, and asks the
// parent context for every other key.
func (x *exchange) Value(key any) any {
	if key == (recordKey{}) {
		return &x.rec
	}
	return x.Context.Value(key)
}

// newExchange returns an exchange whose Record starts at start.
func newExchange(start time.Time) *exchange {
	x := &exchange{}
	x.rec.Start = start
	x.rec.live = &x.c
	return x
}

// AddUpstreamDuration adds d to the time the request spent waiting for a
// deployment; the Handler moves the sum into UpstreamDuration when the
// request is finished. [Telemetry.Transport] calls it for each upstream
// call; a host with a transport of its own may call it instead. It is safe
// to call from any goroutine. On a Record the Handler did not create, it
// adds to UpstreamDuration directly and is not safe for concurrent use.
func (r *Record) AddUpstreamDuration(d time.Duration) {
	if r.live == nil {
		r.UpstreamDuration += d
		return
	}
	r.live.upstream.Add(int64(d))
}

// ioOptions are the byte counter's measurement options for one direction
// of one request, computed on its first byte.
type ioOptions struct {
	deploymentID, userID string
	opts                 []metric.AddOption
}

// ioOptionsFor returns the byte counter's options for rec in direction
// dir, from *cache unless rec's ids changed since they were computed.
func (t *Telemetry) ioOptionsFor(rec *Record, cache *atomic.Pointer[ioOptions],
	dir attribute.KeyValue) []metric.AddOption {
	o := cache.Load()
	if o != nil && o.deploymentID == rec.DeploymentID && o.userID == rec.UserID {
		return o.opts
	}
	o = &ioOptions{deploymentID: rec.DeploymentID, userID: rec.UserID}
	set := attribute.NewSet(append(t.idAttrs(rec), dir)...)
	o.opts = []metric.AddOption{metric.WithAttributeSet(set)}
	cache.Store(o)
	return o.opts
}

// idAttrs returns the metric attributes of rec's deployment and user.
func (t *Telemetry) idAttrs(rec *Record) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 3)
	attrs = append(attrs, DeploymentIDKey.String(t.deployments.value(rec.DeploymentID)))
	if t.userAttr {
		attrs = append(attrs, UserIDKey.String(t.users.value(rec.UserID)))
	}
	return attrs
}
