package telemetry

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcphub/apigateway/internal/problem"
	"github.com/mcphub/apigateway/internal/requestid"
)

// Handler returns a handler that measures every request it passes to next.
// It puts a [Record] in the request's context for next to fill, starts a
// server span, counts body bytes in both directions as they flow, and when
// next returns (or panics: the panic goes on after the request is
// recorded) records the metrics, ends the span, writes the access log line
// and calls Config.OnRequest.
//
// Before it calls next, the Handler labels an MCP request that carries an
// Mcp-Method header (the stateless protocol generation) with that JSON-RPC
// method and, for tools/call, the Mcp-Name tool name. It never reads the
// body: labels from the body come from [Telemetry.LabelMCP], which the
// chain calls once the request is authorized. A method or tool name that
// is not 1 to 64 (tool: 128) characters from [A-Za-z0-9_./-] is left out.
//
// The response writer next receives streams as the one it wraps: nothing
// is buffered, and Flush, Hijack and the deadline setters reach the
// server's writer through [http.ResponseController]. A response counts as
// a stream, in gateway.streams.active, from its first Flush until next
// returns; a hijacked connection counts in gateway.websockets.active until
// it is closed.
//
// The trace context of a request is continued only when it comes from one
// of Config.TrustedProxies; from anyone else it is linked to the new trace
// but not continued, so clients cannot choose trace ids or sampling.
func (t *Telemetry) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := newExchange(time.Now())
		rec := &x.rec
		ctx, span := t.startServerSpan(r)
		// A tracer that records nothing (a no-op provider) leaves a new
		// root span without a valid context; its client spans would be as
		// empty, so the Transport skips them.
		rec.untraced = !span.SpanContext().IsValid()
		x.Context = ctx
		ctx = x // carries rec, as NewContext(ctx, rec) would
		// The request is copied, never changed: net/http still needs the
		// original body after the handler returns.
		in := r.WithContext(ctx)
		labelMCPHeaders(r, rec)
		if in.Body != nil && in.Body != http.NoBody {
			in.Body = &body{ReadCloser: in.Body, t: t, rec: rec, ctx: ctx}
		}
		rw := &x.w
		rw.Reset(w, nil)
		rw.t, rw.rec, rw.ctx = t, rec, ctx

		// Recording is deferred so that a request whose handler panics (as
		// ReverseProxy does, with http.ErrAbortHandler, when a stream
		// breaks) is measured too; the panic is not recovered.
		finished := false
		defer func() { t.finish(rw, r, in, span, !finished) }()
		next.ServeHTTP(rw, in)
		finished = true
	})
}

// startServerSpan starts r's server span, continuing the trace r carries
// if r came from a trusted proxy and linking to it otherwise.
func (t *Telemetry) startServerSpan(r *http.Request) (context.Context, trace.Span) {
	ctx := r.Context()
	remote := t.propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	trusted := t.trusted != nil && t.trusted(r)
	if trusted {
		ctx = remote
	}
	provider := t.provider()
	if t.quiet.is(provider) {
		// What the tracer would have returned: the span already in ctx.
		return ctx, trace.SpanFromContext(ctx)
	}

	m := method(r.Method)
	opts := make([]trace.SpanStartOption, 0, 4)
	opts = append(opts, serverSpan, trace.WithAttributes(
		semconv.HTTPRequestMethodKey.String(m),
		semconv.URLScheme(scheme(r)),
		semconv.URLPath(reportedPath(r.URL)),
	))
	if sc := trace.SpanContextFromContext(remote); !trusted && sc.IsValid() && sc.IsRemote() {
		opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	parentless := !trace.SpanContextFromContext(ctx).IsValid()
	ctx, span := t.tracer.Start(ctx, m, opts...)
	if parentless && !span.SpanContext().IsValid() {
		// Every tracer that records gives a root span a new trace id.
		t.quiet.set(provider)
	}
	return ctx, span
}

// serverSpan is the kind option of every server span, made once.
var serverSpan = trace.WithSpanKind(trace.SpanKindServer)

// finish completes rec's results and records the request: metrics, span,
// access log, then Config.OnRequest. outer is the request the Handler
// received, in the copy it passed on.
func (t *Telemetry) finish(w *writer, outer, in *http.Request, span trace.Span, panicked bool) {
	rec := w.rec
	rec.Duration = time.Since(rec.Start)
	rec.Status = status(w, outer, panicked)
	w.endStream()

	rec.BytesIn, rec.BytesOut = rec.live.bytesIn.Load(), rec.live.bytesOut.Load()
	if d := rec.live.upstream.Load(); d != 0 {
		rec.UpstreamDuration = time.Duration(d)
	}
	if rec.Route == "" {
		rec.Route = in.Pattern
	}
	rec.RequestID, _ = requestid.FromContext(outer.Context())
	rec.Method = outer.Method
	rec.Path = reportedPath(outer.URL)
	rec.UserAgent = truncate(outer.UserAgent(), maxUserAgent)
	rec.ClientIP = t.clientAddr(outer)
	rec.Country, rec.City = t.locate(outer, rec.ClientIP)

	ctx := in.Context()
	t.recordMetrics(ctx, rec, outer)
	t.endServerSpan(span, rec)
	t.logRequest(ctx, rec)
	if t.onRequest != nil {
		t.onRequest(context.WithoutCancel(ctx), rec)
	}
}

// status returns the status to record for a finished request.
func status(w *writer, r *http.Request, panicked bool) int {
	switch s := w.Status(); {
	case s != 0:
		return s
	case w.Hijacked():
		return http.StatusSwitchingProtocols
	case r.Context().Err() != nil:
		return problem.StatusClientClosedRequest
	case panicked:
		return http.StatusInternalServerError
	}
	return http.StatusOK // what net/http sends for a handler that wrote nothing
}

// recordMetrics records the HTTP server metrics of a finished request.
func (t *Telemetry) recordMetrics(ctx context.Context, rec *Record, r *http.Request) {
	if !t.duration.Inst().Enabled(ctx) && !t.requestSize.Inst().Enabled(ctx) &&
		!t.responseSize.Inst().Enabled(ctx) {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 9)
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(method(r.Method)),
		semconv.URLScheme(scheme(r)),
		semconv.HTTPResponseStatusCode(rec.Status),
		DeploymentIDKey.String(t.deployments.value(rec.DeploymentID)),
	)
	if rec.Route != "" {
		attrs = append(attrs, semconv.HTTPRoute(t.routes.value(rec.Route)))
	}
	if t.userAttr {
		attrs = append(attrs, UserIDKey.String(t.users.value(rec.UserID)))
	}
	if rec.Status >= 500 {
		attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(rec.Status)))
	}
	// The MCP labels come from the client, so like the ids they create
	// series only for a request the gateway let through to a deployment.
	if rec.MCPMethod != "" && rec.DeploymentID != "" {
		attrs = append(attrs, MCPMethodNameKey.String(t.mcpMethods.value(rec.MCPMethod)))
		if rec.MCPTool != "" {
			attrs = append(attrs, GenAIToolNameKey.String(t.mcpTools.value(rec.MCPTool)))
		}
	}
	set := attribute.NewSet(attrs...)

	t.duration.RecordSet(ctx, rec.Duration.Seconds(), set)
	t.requestSize.RecordSet(ctx, rec.BytesIn, set)
	t.responseSize.RecordSet(ctx, rec.BytesOut, set)
}

// endServerSpan names the server span after the route, adds what the
// request's handlers found out, and ends it.
func (t *Telemetry) endServerSpan(span trace.Span, rec *Record) {
	defer span.End()
	if !span.IsRecording() {
		return
	}

	if rec.Route != "" {
		span.SetName(method(rec.Method) + " " + rec.Route)
		span.SetAttributes(semconv.HTTPRoute(rec.Route))
	}
	span.SetAttributes(
		semconv.HTTPResponseStatusCode(rec.Status),
		semconv.HTTPRequestBodySize(int(rec.BytesIn)),
		semconv.HTTPResponseBodySize(int(rec.BytesOut)),
	)
	if rec.Status >= 500 {
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(rec.Status)))
		span.SetStatus(codes.Error, "")
	}
	if rec.ClientIP.IsValid() {
		span.SetAttributes(semconv.ClientAddress(rec.ClientIP.String()))
	}
	if rec.Country != unknownCountry {
		span.SetAttributes(semconv.GeoCountryISOCode(rec.Country))
	}
	optional := [...]struct {
		key attribute.Key
		val string
	}{
		{semconv.UserAgentOriginalKey, rec.UserAgent},
		{semconv.GeoLocalityNameKey, rec.City},
		{RequestIDKey, rec.RequestID},
		{UserIDKey, rec.UserID},
		{DeploymentIDKey, rec.DeploymentID},
		{LimitOutcomeKey, rec.LimitOutcome},
		{LimitScopeKey, rec.LimitScope},
		{BreakerStateKey, rec.BreakerState},
		{MCPMethodNameKey, rec.MCPMethod},
		{GenAIToolNameKey, rec.MCPTool},
	}
	for _, a := range optional {
		if a.val != "" {
			span.SetAttributes(a.key.String(a.val))
		}
	}
}

// method returns m if it is a method the HTTP semantic conventions know,
// "_OTHER" if not, so that made-up methods cannot create series.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace, "QUERY":
		return m
	}
	return "_OTHER"
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// Limits on the lengths of client-supplied strings in logs and spans.
const (
	maxPath      = 2048
	maxUserAgent = 256
)

// reportedPath is u's path as logs, spans and hooks see it: escaped as
// sent, with no path parameters, and at most maxPath bytes. Parameters
// (";jsessionid=..." after a segment) carry session ids just as query
// strings do, so only the semicolon that introduced them is kept.
func reportedPath(u *url.URL) string {
	p := u.EscapedPath()
	if strings.IndexByte(p, ';') < 0 {
		return truncate(p, maxPath)
	}
	var b strings.Builder
	b.Grow(len(p))
	for p != "" {
		seg, rest, slash := strings.Cut(p, "/")
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i+1]
		}
		b.WriteString(seg)
		if slash {
			b.WriteByte('/')
		}
		p = rest
	}
	return truncate(b.String(), maxPath)
}

// truncate returns s cut to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
