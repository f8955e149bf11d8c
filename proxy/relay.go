package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// relay is the http.ResponseWriter ReverseProxy writes to. It sits between
// ReverseProxy and the writer the proxy was given, and corrects two things
// ReverseProxy does on its own:
//
//   - 1xx responses: ReverseProxy copies the upstream's informational
//     headers into the response header map unfiltered, hop-by-hop ones
//     included, writes them, then clears the whole map, which also loses
//     the headers middleware had set for the final response (request id,
//     CORS). The relay stages what ReverseProxy writes, sends a 1xx with
//     the staged headers only, filtered and scoped to the deployment as
//     the final response's are, and leaves the outer map alone.
//   - 101 Switching Protocols: ReverseProxy hijacks the connection and
//     writes the 101 itself, so no middleware sees a status line and none
//     can adjust the headers. The relay instead merges the upstream's 101
//     headers, calls WriteHeader(101) on the outer writer (middleware hooks
//     run) and lets net/http send that on Hijack; ReverseProxy's own copy
//     of the 101 goes to a discarding buffer.
type relay struct {
	w       http.ResponseWriter
	target  *Target     // the deployment the response comes from
	staged  http.Header // what ReverseProxy sets before the final status
	upgrade http.Header // the upstream's vetted 101 headers

	final    bool // a final status went to w, or the connection was hijacked
	hijacked bool
}

// relayKey is the context key under which ServeHTTP stores the relay of a
// WebSocket handshake, for modifyResponse.
type relayKey struct{}

// Header returns the staged header map until the final status is written,
// then the outer writer's.
func (w *relay) Header() http.Header {
	if w.final && !w.hijacked {
		return w.w.Header()
	}
	if w.staged == nil {
		w.staged = stagedHeaders.Get().(http.Header)
	}
	return w.staged
}

// stagedHeaders holds empty header maps for relays to stage headers in.
// A map is given back once its values have been handed to the outer
// writer, so that its room (an upstream's dozen headers, say) is made once
// rather than per response.
var stagedHeaders = sync.Pool{New: func() any { return make(http.Header) }}

// WriteHeader relays an informational status with the staged headers
// alone, or adds the staged headers to the outer writer's and writes a
// final status.
func (w *relay) WriteHeader(code int) {
	switch {
	case w.hijacked:
		return
	case w.final:
		w.w.WriteHeader(code) // superfluous; let the server say so
		return
	case code >= 100 && code < 200 && code != http.StatusSwitchingProtocols:
		w.informational(code)
		return
	}

	w.final = true
	if w.staged != nil {
		addHeaders(w.w.Header(), w.staged)
		// The values now belong to the outer map; the map itself is free.
		clear(w.staged)
		stagedHeaders.Put(w.staged)
		w.staged = nil
	}
	w.w.WriteHeader(code)
}

// informational sends a 1xx status carrying the staged headers, treated
// as the final response's are: Location and Content-Location put under the
// deployment's prefix, and without hop-by-hop headers or those only the
// gateway may send. Nor does it carry the gateway's request id and
// rate-limit headers, which the gateway does not fill in until the final
// status, or cookies: the final response is where a deployment sets them.
// The outer writer's headers are set aside meanwhile: net/http writes the
// whole map with a 1xx.
func (w *relay) informational(code int) {
	removeHopByHop(w.staged)
	for k := range w.staged {
		if k == "Set-Cookie" || gatewayOwned(k) || gatewayReport(k) {
			delete(w.staged, k)
		}
	}
	if t := w.target; t != nil && t.Upstream != nil {
		scopeLocations(w.staged, t)
	}

	h := w.w.Header()
	saved := make(http.Header, len(h))
	for k, vv := range h {
		saved[k] = vv
	}
	clear(h)
	for k, vv := range w.staged {
		h[k] = vv
	}
	w.w.WriteHeader(code)
	clear(h)
	for k, vv := range saved {
		h[k] = vv
	}
	clear(w.staged)
}

// Write writes body bytes, sending a 200 status first if none was sent.
func (w *relay) Write(b []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.final {
		w.WriteHeader(http.StatusOK)
	}
	return w.w.Write(b)
}

// FlushError sends buffered data to the client, sending a 200 status first
// if none was sent.
func (w *relay) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.final {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.w).Flush()
}

var errUnvettedHijack = errors.New("proxy: hijack without a vetted 101 response")

// Hijack writes the upstream's 101 through the outer writer and takes over
// the connection. ReverseProxy calls it only after modifyResponse accepted
// a 101, which it then writes to the returned buffer; that copy is
// discarded because net/http has already sent the 101 on Hijack.
func (w *relay) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.upgrade == nil || w.final {
		return nil, nil, errUnvettedHijack
	}
	addHeaders(w.w.Header(), w.upgrade)
	w.final = true
	w.w.WriteHeader(http.StatusSwitchingProtocols)
	conn, brw, err := http.NewResponseController(w.w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	// The 101 left before the hijack, so the client may already have sent
	// its first frames, and net/http's background read may hold them in
	// brw.Reader. ReverseProxy reads the client through the returned conn,
	// so that conn must drain the buffer first or those bytes are lost.
	return bufferedConn{Conn: conn, r: brw.Reader},
		bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(io.Discard, 64)), nil
}

// bufferedConn is a hijacked connection whose reads go through the
// server's buffered reader, which may hold bytes read before the hijack.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// addHeaders adds the upstream's headers in src to the response headers
// in dst, which hold what the gateway's middleware set before proxying
// (request id, rate-limit state, CORS). The gateway owns those: where both
// have a header, the gateway's value stays and the upstream's is dropped,
// so no header arrives twice or contradicts the gateway. Vary is the
// exception: both sides' reasons to vary hold, so the two lists are
// merged. Set-Cookie is appended as usual. src's slices are handed over,
// not copied.
func addHeaders(dst, src http.Header) {
	for k, vv := range src {
		cur, ok := dst[k]
		switch {
		case !ok:
			dst[k] = vv
		case k == "Vary":
			dst[k] = mergeVary(cur, vv)
		case k == "Set-Cookie":
			dst[k] = append(cur[:len(cur):len(cur)], vv...)
		}
	}
}

// mergeVary returns the Vary field listing every header named in a or b,
// once each, in the order first seen.
func mergeVary(a, b []string) []string {
	var names []string
	seen := make(map[string]bool)
	for _, line := range append(a[:len(a):len(a)], b...) {
		for name := range strings.SplitSeq(line, ",") {
			name = strings.TrimSpace(name)
			if key := strings.ToLower(name); name != "" && !seen[key] {
				seen[key] = true
				names = append(names, name)
			}
		}
	}
	return []string{strings.Join(names, ", ")}
}

// Unwrap returns the outer writer, for [http.ResponseController].
func (w *relay) Unwrap() http.ResponseWriter { return w.w }

// canHijack reports whether the innermost writer under w can hijack its
// connection. Wrappers that implement Unwrap are looked through, since
// their Hijack methods only pass the call on.
func canHijack(w http.ResponseWriter) bool {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			_, ok := w.(http.Hijacker)
			return ok
		}
		w = u.Unwrap()
	}
}
