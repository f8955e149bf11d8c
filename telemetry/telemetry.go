package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcphub/apigateway/internal/clientip"
)

// scope is the instrumentation scope of the package's tracer and meter.
const scope = "github.com/mcphub/apigateway/telemetry"

// Config configures [New]. Its zero value works: the global OpenTelemetry
// providers and propagator, no access log, no geography, no trusted
// proxies.
type Config struct {
	// MeterProvider creates the instruments. Nil means the global one
	// (otel.GetMeterProvider), a no-op until the host installs an SDK.
	MeterProvider metric.MeterProvider

	// TracerProvider creates the server and client spans. Nil means the
	// global one (otel.GetTracerProvider).
	TracerProvider trace.TracerProvider

	// Propagator injects the trace context into requests to deployments
	// and extracts it from requests that arrive through a trusted proxy.
	// Nil means the global one (otel.GetTextMapPropagator), which sends
	// nothing until the host sets one: set propagation.TraceContext{} to
	// send W3C traceparent headers.
	Propagator propagation.TextMapPropagator

	// AccessLog receives one line per request at level Info. Nil means no
	// access log.
	AccessLog *slog.Logger

	// GeoIP is the path of a MaxMind-format database (GeoLite2 or GeoIP2
	// Country or City) used to find each client's country and city. Empty
	// means no database: the country is "unknown" unless CountryHeader
	// supplies it.
	GeoIP string

	// CountryHeader names a header in which a CDN in front of the gateway
	// reports the client's country as an ISO 3166-1 alpha-2 code, such as
	// Cloudflare's "CF-IPCountry". It is read only on connections from
	// TrustedProxies, and then takes precedence over the database. Empty
	// means no such header is read.
	CountryHeader string

	// TrustedProxies lists the networks of the proxies in front of the
	// gateway. Only on a connection from one of them are X-Forwarded-For,
	// CountryHeader and an inbound trace context believed; the client is
	// then the right-most X-Forwarded-For entry that is not itself a
	// trusted proxy. Empty means the client is whoever connected.
	TrustedProxies []netip.Prefix

	// DisableUserAttribute leaves the user id out of every metric, for
	// hosts with too many users to keep a series each or that must not
	// export user ids. Spans and the access log still carry it. False
	// means metrics carry it.
	DisableUserAttribute bool

	// MaxAttributeValues caps how many distinct user ids, deployment ids
	// and routes each appear in metrics; later values are reported as
	// [Other]. The values seen first keep their place for the life of the
	// Telemetry. Zero means 1000; a negative value means no cap.
	MaxAttributeValues int

	// OnRequest, when set, is called once per finished request with its
	// [Record], on the request's goroutine, after the metrics and the
	// access log line are recorded; it is meant for a usage store and must
	// be quick. ctx is the request's context without its cancellation.
	// Nil means no calls.
	OnRequest func(ctx context.Context, rec *Record)
}

// Other is the value a metric attribute takes in place of a user id,
// deployment id or route beyond Config.MaxAttributeValues.
const Other = "other"

// A Telemetry measures the requests that pass its [Telemetry.Handler] and
// [Telemetry.Transport]. Create one with [New]; it is safe for concurrent
// use.
type Telemetry struct {
	tracer         trace.Tracer
	tracerProvider trace.TracerProvider // Config.TracerProvider; nil means the global one
	quiet          quietProvider
	propagator     propagation.TextMapPropagator
	log            *slog.Logger
	onRequest      func(context.Context, *Record)
	trusted        func(*http.Request) bool
	proxies        []netip.Prefix // masked
	geo            *geoDB         // nil without Config.GeoIP
	countryHdr     string
	userAttr       bool

	users, deployments, routes, scopes *valueCap
	mcpMethods, mcpTools               *valueCap

	duration     httpconv.ServerRequestDuration
	requestSize  httpconv.ServerRequestBodySize
	responseSize httpconv.ServerResponseBodySize
	upstream     metric.Float64Histogram
	io           metric.Int64Counter
	streams      metric.Int64UpDownCounter
	websockets   metric.Int64UpDownCounter
	decisions    metric.Int64Counter
	decisionMu   sync.RWMutex
	decisionOpts map[[2]string][]metric.AddOption // by {scope, outcome}
	transitions  metric.Int64Counter
	breakerState metric.Int64Gauge
}

// New returns a Telemetry for cfg, or an error if the GeoIP database cannot
// be opened, CountryHeader is not a header name, or an instrument cannot be
// created.
func New(cfg Config) (*Telemetry, error) {
	if cfg.CountryHeader != "" && !validHeaderName(cfg.CountryHeader) {
		return nil, fmt.Errorf("telemetry: Config.CountryHeader %q is not a header name",
			cfg.CountryHeader)
	}
	t := &Telemetry{
		propagator: cfg.Propagator,
		log:        cfg.AccessLog,
		onRequest:  cfg.OnRequest,
		trusted:    clientip.Trusted(cfg.TrustedProxies),
		countryHdr: http.CanonicalHeaderKey(cfg.CountryHeader),
		userAttr:   !cfg.DisableUserAttribute,

		decisionOpts: make(map[[2]string][]metric.AddOption),
	}
	for _, p := range cfg.TrustedProxies {
		t.proxies = append(t.proxies, p.Masked())
	}
	if t.propagator == nil {
		t.propagator = otel.GetTextMapPropagator()
	}
	t.tracerProvider = cfg.TracerProvider
	t.tracer = t.provider().Tracer(scope)

	limit := cfg.MaxAttributeValues
	if limit == 0 {
		limit = 1000
	}
	t.users, t.deployments, t.routes = newValueCap(limit), newValueCap(limit), newValueCap(limit)
	t.scopes = newValueCap(16)
	t.mcpMethods, t.mcpTools = newValueCap(mcpMethodValues), newValueCap(mcpToolValues)

	mp := cfg.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if err := t.instruments(mp.Meter(scope)); err != nil {
		return nil, fmt.Errorf("telemetry: creating instruments: %w", err)
	}

	if cfg.GeoIP != "" {
		db, err := openGeoDB(cfg.GeoIP)
		if err != nil {
			return nil, fmt.Errorf("telemetry: opening GeoIP database: %w", err)
		}
		t.geo = db
	}
	return t, nil
}

// instruments creates the metric instruments on m.
func (t *Telemetry) instruments(m metric.Meter) error {
	var err, e error
	t.duration, e = httpconv.NewServerRequestDuration(m)
	err = errors.Join(err, e)
	t.requestSize, e = httpconv.NewServerRequestBodySize(m)
	err = errors.Join(err, e)
	t.responseSize, e = httpconv.NewServerResponseBodySize(m)
	err = errors.Join(err, e)
	t.upstream, e = m.Float64Histogram("gateway.upstream.duration",
		metric.WithDescription("Time from a request to a deployment until its response headers."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(
			0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	err = errors.Join(err, e)
	t.io, e = m.Int64Counter("gateway.io",
		metric.WithDescription("Body bytes received from and sent to clients, as they flow."),
		metric.WithUnit("By"))
	err = errors.Join(err, e)
	t.streams, e = m.Int64UpDownCounter("gateway.streams.active",
		metric.WithDescription("Responses being streamed: flushed before they were complete."),
		metric.WithUnit("{stream}"))
	err = errors.Join(err, e)
	t.websockets, e = m.Int64UpDownCounter("gateway.websockets.active",
		metric.WithDescription("Open connections taken over from HTTP, such as WebSockets."),
		metric.WithUnit("{connection}"))
	err = errors.Join(err, e)
	t.decisions, e = m.Int64Counter("gateway.limit.decisions",
		metric.WithDescription("Rate-limit counter checks, by scope and outcome."),
		metric.WithUnit("{decision}"))
	err = errors.Join(err, e)
	t.transitions, e = m.Int64Counter("gateway.breaker.transitions",
		metric.WithDescription("Circuit breaker state changes."),
		metric.WithUnit("{transition}"))
	err = errors.Join(err, e)
	t.breakerState, e = m.Int64Gauge("gateway.breaker.state",
		metric.WithDescription("1 for a deployment's current breaker state, 0 for those it left."),
		metric.WithUnit("{state}"))
	return errors.Join(err, e)
}

// Close releases the GeoIP database. Requests still being served then find
// no country. Close is safe to call more than once.
func (t *Telemetry) Close() error {
	if t.geo == nil {
		return nil
	}
	return t.geo.close()
}

// validHeaderName reports whether s is an HTTP field name (an RFC 9110
// token).
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}
