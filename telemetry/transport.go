package telemetry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Transport returns a RoundTripper that measures each request it passes to
// next (http.DefaultTransport when nil): it starts a client span, a child
// of the server span in the request's context, injects the trace context
// into the outgoing headers with Config.Propagator, records the time to
// the response headers in gateway.upstream.duration and adds it to the
// [Record] in the context. The span ends when the response body is read
// to its end or closed; for a 101 Switching Protocols response, at once.
//
// The span's url.full has no query string and no user info, and a failed
// call's span carries only the kind of error (error.type), never its
// message, since either may hold a credential.
//
// When the Handler's tracer gave the request no span (a no-op tracer
// provider), no client span is started either, and when the propagator
// sends no fields, the request's headers are passed on without a copy: a
// gateway without tracing pays for neither.
func (t *Telemetry) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{t: t, next: next}
}

type transport struct {
	t    *Telemetry
	next http.RoundTripper
}

var _ http.RoundTripper = (*transport)(nil)

func (tr *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	t := tr.t
	rec, _ := FromContext(r.Context())
	m := method(r.Method)
	ctx, span := r.Context(), trace.Span(nil)
	if rec == nil || !rec.untraced {
		ctx, span = t.tracer.Start(ctx, m, clientSpan, trace.WithAttributes(clientAttrs(r, m)...))
	}
	out := r
	if ctx != r.Context() {
		out = r.WithContext(ctx)
	}
	if fields := t.propagator.Fields(); len(fields) > 0 {
		// A RoundTripper must not change the request it is given, so the
		// headers the propagator sets go on a copy.
		if out == r {
			out = r.WithContext(ctx)
		}
		out.Header = r.Header.Clone()
		if out.Header == nil {
			out.Header = make(http.Header)
		}
		// What the client sent in the propagator's headers (a tracestate,
		// a baggage) must not ride along with the gateway's trace context.
		for _, f := range fields {
			out.Header.Del(f)
		}
		t.propagator.Inject(ctx, propagation.HeaderCarrier(out.Header))
	}

	start := time.Now()
	resp, err := tr.next.RoundTrip(out)
	d := time.Since(start)

	if rec != nil {
		rec.AddUpstreamDuration(d)
	}
	t.recordUpstream(ctx, rec, m, resp, err, d)
	if span == nil {
		return resp, err
	}
	return endClientSpan(span, rec, resp, err)
}

// clientSpan is the kind option of every client span, made once.
var clientSpan = trace.WithSpanKind(trace.SpanKindClient)

// recordUpstream records one upstream call in gateway.upstream.duration.
func (t *Telemetry) recordUpstream(ctx context.Context, rec *Record, m string,
	resp *http.Response, err error, d time.Duration) {
	if !t.upstream.Enabled(ctx) {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 3)
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(m))
	if rec != nil {
		attrs = append(attrs, DeploymentIDKey.String(t.deployments.value(rec.DeploymentID)))
	}
	if err != nil {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errorType(err)))
	} else {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(resp.StatusCode))
	}
	t.upstream.Record(ctx, d.Seconds(), metric.WithAttributes(attrs...))
}

// endClientSpan adds the outcome of an upstream call to its span and ends
// the span, or hands it to the response body to end once the body is read.
func endClientSpan(span trace.Span, rec *Record, resp *http.Response,
	err error) (*http.Response, error) {
	if !span.IsRecording() {
		// Nothing set on it would be kept; only End matters.
		span.End()
		return resp, err
	}
	if rec != nil && rec.DeploymentID != "" {
		span.SetAttributes(DeploymentIDKey.String(rec.DeploymentID))
	}
	if err != nil {
		kind := errorType(err)
		span.SetAttributes(semconv.ErrorTypeKey.String(kind))
		span.SetStatus(codes.Error, kind)
		span.End()
		return resp, err
	}

	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
		span.SetStatus(codes.Error, "")
	}
	// A 101's body is the upgraded connection, which ReverseProxy needs
	// as an io.ReadWriteCloser; it is not wrapped, and the span ends at
	// the handshake.
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil {
		span.End()
		return resp, nil
	}
	resp.Body = &spanBody{ReadCloser: resp.Body, span: span}
	return resp, nil
}

// clientAttrs returns the client span's attributes for r.
func clientAttrs(r *http.Request, m string) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(m))
	if u := r.URL; u != nil {
		full := u.Scheme + "://" + u.Host + reportedPath(u)
		attrs = append(attrs, semconv.URLFull(truncate(full, maxPath)))
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil {
			host = u.Host
		}
		attrs = append(attrs, semconv.ServerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, semconv.ServerPort(p))
		}
	}
	return attrs
}

// errorType names the kind of a failed upstream call without quoting its
// message.
func errorType(err error) string {
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &opErr):
		return opErr.Op // "dial", "read", "write"
	}
	return semconv.ErrorTypeOther.Value.AsString()
}

// spanBody ends the client span when the response body is read to its end
// or closed, whichever comes first.
type spanBody struct {
	io.ReadCloser
	span trace.Span
	once sync.Once
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.end(err)
	}
	return n, err
}

func (b *spanBody) Close() error {
	err := b.ReadCloser.Close()
	b.end(nil)
	return err
}

func (b *spanBody) end(err error) {
	b.once.Do(func() {
		if err != nil && err != io.EOF {
			b.span.SetStatus(codes.Error, "reading response body: "+errorType(err))
		}
		b.span.End()
	})
}
