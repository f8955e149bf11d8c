package breaker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
)

// RoundTripper returns a transport that sends each request through next,
// guarded by the breaker Config.Key names for it (by default the one its
// context names, see [NewContext]); a request that has none goes straight
// to next. Nil next means
// [http.DefaultTransport].
//
// While the breaker is open, the request is refused with an [*OpenError]
// without contacting the upstream, and its body is closed. Otherwise the
// request goes to next, and next's response or error is returned
// unchanged: a 503 counted as a failure still reaches the caller, and the
// response body is neither read nor buffered, so streams and protocol
// switches (101) pass through. A response counts as soon as its headers
// arrive; a stream that breaks later does not count. Requests are never
// retried.
//
// A request whose context is canceled before the upstream answers (its
// client went away), or whose body cannot be read (the client's upload
// broke off, or a body size limit cut it), does not count: neither says
// anything about the upstream.
func (b *Breakers) RoundTripper(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{b: b, next: next}
}

type transport struct {
	b    *Breakers
	next http.RoundTripper
}

var _ http.RoundTripper = (*transport)(nil)

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	key, ok := t.b.keyOf(r)
	if !ok || key == "" {
		return t.next.RoundTrip(r)
	}
	e := t.b.breaker(key)
	if !e.cb.TryAcquirePermit() {
		if r.Body != nil {
			r.Body.Close() // a RoundTripper closes the body, even on errors
		}
		return nil, &OpenError{Key: key, RetryAfter: e.cb.RemainingDelay()}
	}

	// Note failures to read the client's body; the request is copied, as a
	// RoundTripper must not modify the one it is given.
	var body *clientBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &clientBody{ReadCloser: r.Body}
		r = r.WithContext(r.Context())
		r.Body = body
	}
	settled := false
	defer func() {
		if !settled {
			e.forget() // next panicked; leave no permit held
		}
	}()

	resp, err := t.next.RoundTrip(r)

	settled = true
	if err != nil && clientFault(r, body) {
		e.forget()
	} else {
		e.record(t.b.isFailure(resp, err))
	}
	return resp, err
}

// clientFault reports whether r failed because of its client: its context
// was canceled (the client went away, or the host gave up), or its body
// could not be read.
func clientFault(r *http.Request, body *clientBody) bool {
	return errors.Is(r.Context().Err(), context.Canceled) || body != nil && body.failed.Load()
}

// CloseIdleConnections closes the idle connections of the wrapped
// transport, when it has such a method.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// clientBody is a request body that notes whether reading it failed.
type clientBody struct {
	io.ReadCloser
	failed atomic.Bool // read by RoundTrip while the transport may still be writing
}

func (c *clientBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		c.failed.Store(true)
	}
	return n, err
}
