// Package respwriter provides the one http.ResponseWriter wrapper the
// gateway's middleware share. It records the status and the bytes written,
// lets a middleware edit the final header map just before it is sent, and
// implements Unwrap so that http.ResponseController still reaches Flush,
// Hijack and the deadline setters of the server's own writer.
package respwriter

import (
	"bufio"
	"net"
	"net/http"
)

// Writer wraps an http.ResponseWriter. The zero value is not usable; call
// [Wrap].
type Writer struct {
	rw       http.ResponseWriter
	beforeFn func(h http.Header, status int)
	status   int
	written  int64
	hijacked bool
}

// Wrap returns a Writer around w. before, when not nil, is called once with
// the header map and the status just before a final (non-1xx) status line
// is written, whether explicitly or by the first Write; it may edit the
// header map. A 101 Switching Protocols counts as final.
func Wrap(w http.ResponseWriter, before func(h http.Header, status int)) *Writer {
	return &Writer{rw: w, beforeFn: before}
}

// Reset makes w a new wrapper around rw, as [Wrap] would return, so that
// a middleware can keep its Writer inside a larger per-request struct and
// allocate both at once.
func (w *Writer) Reset(rw http.ResponseWriter, before func(h http.Header, status int)) {
	*w = Writer{rw: rw, beforeFn: before}
}

// Header returns the header map of the wrapped writer.
func (w *Writer) Header() http.Header { return w.rw.Header() }

// WriteHeader sends the status line. Informational statuses other than 101
// pass through without being recorded; later calls after the final status are
// forwarded so the server can report them, as it would without a wrapper.
func (w *Writer) WriteHeader(status int) {
	if w.status == 0 && (status >= 200 || status == http.StatusSwitchingProtocols) {
		w.status = status
		if w.beforeFn != nil {
			w.beforeFn(w.rw.Header(), status)
		}
	}
	w.rw.WriteHeader(status)
}

// Write writes body bytes, sending a 200 status line first if none was sent.
func (w *Writer) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.rw.Write(b)
	w.written += int64(n)
	return n, err
}

// Flush sends buffered data to the client, if the wrapped writer can.
func (w *Writer) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(w.rw).Flush()
}

// Hijack lets the caller take over the connection, if the wrapped writer
// allows it.
func (w *Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.rw).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *Writer) Unwrap() http.ResponseWriter { return w.rw }

// Status returns the final status written so far, or 0 if none was.
func (w *Writer) Status() int { return w.status }

// Written returns the number of body bytes written through w. Bytes sent on
// a hijacked connection are not counted.
func (w *Writer) Written() int64 { return w.written }

// Hijacked reports whether the connection was taken over.
func (w *Writer) Hijacked() bool { return w.hijacked }

// Unwritten reports whether nothing has been sent yet, so a handler that
// fails can still answer with an error response.
func (w *Writer) Unwritten() bool { return w.status == 0 && !w.hijacked }
