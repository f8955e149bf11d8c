package telemetry

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/mcphub/apigateway/internal/respwriter"
)

// writer is the response writer the Handler passes on. The shared
// respwriter.Writer records the status and reaches Flush, Hijack and the
// deadline setters through Unwrap; writer adds what it cannot offer: each
// Write is counted as it happens, so a long stream is measured while it
// runs, and a hijacked connection is wrapped so that the bytes of a
// WebSocket are counted too.
//
// writer and the body, reader and conn below keep the request's context:
// their io methods cannot take one, and the measurements they make need it
// to link exemplars to the request's span.
type writer struct {
	respwriter.Writer
	t   *Telemetry
	rec *Record
	ctx context.Context

	stream metric.AddOption // the stream gauge's attributes, once flushed
}

// Write writes b and counts what was written.
func (w *writer) Write(b []byte) (int, error) {
	n, err := w.Writer.Write(b)
	if n > 0 {
		w.t.countOut(w.ctx, w.rec, n)
	}
	return n, err
}

// Flush sends what is buffered to the client. The first Flush of a
// response that is not finished marks it as a stream.
func (w *writer) Flush() {
	if w.stream == nil {
		w.stream = metric.WithAttributeSet(attribute.NewSet(w.t.idAttrs(w.rec)...))
		w.t.streams.Add(w.ctx, 1, w.stream)
	}
	w.Writer.Flush()
}

// Hijack takes over the connection and returns it wrapped, so that what
// is read from and written to it is counted. The buffered reader is
// wrapped as well, since it may hold bytes read before the takeover.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := w.Writer.Hijack()
	if err != nil {
		return c, brw, err
	}

	gauge := metric.WithAttributeSet(attribute.NewSet(w.t.idAttrs(w.rec)...))
	counted := &conn{Conn: c, t: w.t, rec: w.rec, ctx: w.ctx, gauge: gauge}
	w.t.websockets.Add(w.ctx, 1, gauge)
	// net/http resets the buffered writer onto the raw connection at
	// hijack time, so it is empty and can be pointed at the wrapper
	// instead.
	brw.Writer.Flush()
	brw.Writer.Reset(counted)
	r := bufio.NewReaderSize(&reader{r: brw.Reader, t: w.t, rec: w.rec, ctx: w.ctx}, 16)
	return counted, bufio.NewReadWriter(r, brw.Writer), nil
}

// endStream ends the stream gauge's count of the response, if it was
// counted.
func (w *writer) endStream() {
	if w.stream != nil {
		w.t.streams.Add(w.ctx, -1, w.stream)
	}
}

// body is the request body the Handler passes on; it counts what is read
// as it is read.
type body struct {
	io.ReadCloser
	t   *Telemetry
	rec *Record
	ctx context.Context
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.t.countIn(b.ctx, b.rec, n)
	}
	return n, err
}

// reader counts what is read from a hijacked connection's buffer.
type reader struct {
	r   io.Reader
	t   *Telemetry
	rec *Record
	ctx context.Context
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.countIn(r.ctx, r.rec, n)
	}
	return n, err
}

// conn is a hijacked connection whose traffic is counted. Closing it ends
// its count in the WebSocket gauge.
type conn struct {
	net.Conn
	t     *Telemetry
	rec   *Record
	ctx   context.Context
	gauge metric.AddOption
	once  sync.Once
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.t.countIn(c.ctx, c.rec, n)
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.t.countOut(c.ctx, c.rec, n)
	}
	return n, err
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.t.websockets.Add(c.ctx, -1, c.gauge)
	})
	return c.Conn.Close()
}

// countIn counts n bytes received from rec's client.
func (t *Telemetry) countIn(ctx context.Context, rec *Record, n int) {
	rec.live.bytesIn.Add(int64(n))
	if t.io.Enabled(ctx) {
		opts := t.ioOptionsFor(rec, &rec.live.inOpts, semconv.NetworkIODirectionReceive)
		t.io.Add(ctx, int64(n), opts...)
	}
}

// countOut counts n bytes sent to rec's client.
func (t *Telemetry) countOut(ctx context.Context, rec *Record, n int) {
	rec.live.bytesOut.Add(int64(n))
	if t.io.Enabled(ctx) {
		opts := t.ioOptionsFor(rec, &rec.live.outOpts, semconv.NetworkIODirectionTransmit)
		t.io.Add(ctx, int64(n), opts...)
	}
}
