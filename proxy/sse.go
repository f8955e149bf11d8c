package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxEventLine bounds the part of a server-sent events line that the proxy
// holds back while it waits for the end of the line. A longer line passes
// through unrewritten.
const maxEventLine = 64 << 10

// isEventStream reports whether h describes a text/event-stream body.
func isEventStream(h http.Header) bool {
	mediaType, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(mediaType), "text/event-stream")
}

// encoded reports whether h names a content coding other than identity.
func encoded(h http.Header) bool {
	ce := h.Get("Content-Encoding")
	return ce != "" && !strings.EqualFold(strings.TrimSpace(ce), "identity")
}

// acceptsEventStream reports whether a request with headers h takes
// text/event-stream answers.
func acceptsEventStream(h http.Header) bool {
	for _, v := range h["Accept"] {
		if strings.Contains(strings.ToLower(v), "text/event-stream") {
			return true
		}
	}
	return false
}

// mayCarryEvents reports whether res is, or will be read by its client as,
// an event stream: it says so, or it is a successful answer to a GET that
// asked for one. The second kind matters because MCP clients read the
// legacy SSE stream whatever its Content-Type, so a deployment could
// otherwise send endpoint events the proxy never looks at.
func mayCarryEvents(res *http.Response) bool {
	if isEventStream(res.Header) {
		return true
	}
	req := res.Request
	return req != nil && req.Method == http.MethodGet && res.StatusCode >= 200 && res.StatusCode < 300 &&
		acceptsEventStream(req.Header)
}

// dropStreamEncodings keeps a request that takes event streams from
// inviting a compressed one: the proxy must read a stream's endpoint
// events, and refuses a stream it cannot read.
func dropStreamEncodings(h http.Header) {
	if acceptsEventStream(h) {
		delete(h, "Accept-Encoding")
	}
}

// scopeEndpointEvents puts the endpoint events of an event stream under
// t.Prefix. The legacy MCP HTTP+SSE transport (2024-11-05) names the URL
// the client must post its messages to in an event of type endpoint; the
// server chose that path for its own root, not for the gateway's prefix.
// The body's length changes, so the response is sent without one.
func scopeEndpointEvents(res *http.Response, t *Target) {
	base := upstreamBase(t.Upstream)
	prefix := strings.TrimSuffix(t.Prefix, "/")
	res.Body = newEndpointRewriter(res.Body, func(v string) string {
		return endpointOnDeployment(v, t.Upstream, base, prefix, upstreamPath(t))
	})
	res.ContentLength = -1
	delete(res.Header, "Content-Length")
}

// endpointOnDeployment is the public form of an endpoint event's URL: its
// path and query under the deployment's prefix, whatever scheme and host
// it named. Unlike a redirect, which may rightly lead elsewhere, the
// endpoint is where the client posts its messages with the credentials it
// connected with; a deployment naming another host there would have the
// client hand that host the user's platform token.
func endpointOnDeployment(v string, upstream *url.URL, base, prefix, from string) string {
	u := browserForm(v)
	if scheme, after, ok := strings.Cut(u, ":"); ok && validScheme(scheme) {
		u = after
		if u == "" || !isSlash(u[0]) {
			// What follows a scheme is never a URL of its own
			// ("x:http://host"): keep it a path.
			u = "/" + u
		}
	}
	if len(u) >= 2 && isSlash(u[0]) && isSlash(u[1]) {
		_, u = splitAuthority(strings.TrimLeft(u, `/\`))
		u = "/" + strings.TrimLeft(u, `/\`)
	}
	return publicLocation(u, upstream, base, prefix, from)
}

// endpointRewriter passes an event stream through as it arrives and
// rewrites the data lines of endpoint events. It holds back only the
// current line until its end (CRLF, LF or CR), and a line longer than
// maxEventLine not even that: such a line passes through unrewritten.
//
// An event's data is rewritten only when its event field comes before its
// data lines, as every MCP server library writes it; reordering would mean
// holding back whole events. An event field naming endpoint that comes
// after data has passed is turned into a comment, so the event reaches the
// client as an ordinary message. Event names are compared as clients
// compare them at their most lenient: without surrounding space, in any
// case. A data line of an endpoint event too long to hold back is
// dropped.
type endpointRewriter struct {
	body    io.ReadCloser
	rewrite func(string) string

	buf  []byte // what the last read from body returned
	line []byte // the current, incomplete line
	out  []byte // bytes ready for the caller, from off on
	off  int
	err  error // the error body returned, reported once out is drained

	endpoint  bool // the current event is an endpoint event
	sawData   bool // data of the current event has passed, unrewritten or not
	long      bool // the current line outgrew maxEventLine
	dropLong  bool // and is dropped rather than passed through
	started   bool // the first line has been read
	afterCR   bool // the last line ended in CR, so a leading LF belongs to it
	droppedCR bool // and that line was dropped, so that LF goes too
}

func newEndpointRewriter(body io.ReadCloser, rewrite func(string) string) *endpointRewriter {
	return &endpointRewriter{body: body, rewrite: rewrite, buf: make([]byte, 32<<10)}
}

// Read returns the stream's bytes as soon as their lines are complete,
// reading from the body only when nothing is ready.
func (r *endpointRewriter) Read(p []byte) (int, error) {
	for r.off == len(r.out) {
		if r.err != nil {
			return 0, r.err
		}
		r.out, r.off = r.out[:0], 0
		n, err := r.body.Read(r.buf)
		r.feed(r.buf[:n])
		if err != nil {
			// The stream ended: a held-back line is read as a line, as
			// clients read it, and leaves without a terminator.
			if len(r.line) > 0 || r.long {
				r.finish(0, false)
			}
			if r.afterCR && !r.droppedCR {
				r.out = append(r.out, '\n') // a lone CR, as above in feed
			}
			r.afterCR, r.droppedCR = false, false
			r.err = err
		}
	}
	n := copy(p, r.out[r.off:])
	r.off += n
	return n, nil
}

// Close closes the upstream body.
func (r *endpointRewriter) Close() error {
	return r.body.Close()
}

// feed splits b into lines, moving each complete line to out.
func (r *endpointRewriter) feed(b []byte) {
	for len(b) > 0 {
		if r.afterCR {
			r.afterCR = false
			dropped := r.droppedCR
			r.droppedCR = false
			if b[0] == '\n' {
				if !dropped {
					r.out = append(r.out, '\n')
				}
				b = b[1:]
				continue
			}
			if !dropped {
				// A lone CR ends a line for the standard's parsers but not
				// for clients that split at LF (the Go SDK): made a CRLF,
				// it ends the same line for both.
				r.out = append(r.out, '\n')
			}
		}
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			r.hold(b)
			return
		}
		r.hold(b[:i])
		r.endLine(b[i])
		b = b[i+1:]
	}
}

// hold adds b to the current line, or passes it through once the line is
// too long to hold back. Such a line is dropped instead, terminator and
// all, when it may matter to an endpoint event: inside one, where it could
// name any host, and when it is an event field, whose name clients read
// however long it is.
func (r *endpointRewriter) hold(b []byte) {
	if r.long {
		if !r.dropLong {
			r.out = append(r.out, b...)
		}
		return
	}
	r.line = append(r.line, b...)
	if len(r.line) > maxEventLine {
		line := r.takeLine()
		name, _, _ := eventField(line)
		r.dropLong = r.endpoint || string(name) == "event"
		if !r.dropLong {
			r.out = append(r.out, line...)
			if string(name) == "data" {
				r.sawData = true // and passed unread
			}
		}
		r.line = r.line[:0]
		r.long = true
	}
}

// takeLine returns the current line, without the byte order mark that
// may open the stream: clients ignore one, so it must not hide the name
// of the first field from the proxy.
func (r *endpointRewriter) takeLine() []byte {
	line := r.line
	if !r.started {
		r.started = true
		line = bytes.TrimPrefix(line, []byte("\uFEFF"))
	}
	return line
}

// endLine moves the current line and its terminator to out.
func (r *endpointRewriter) endLine(term byte) {
	r.afterCR = term == '\r'
	r.finish(term, true)
}

// finish moves the current line to out, rewritten if it is the data of an
// endpoint event, and its terminator when it has one, and follows the
// event's fields.
func (r *endpointRewriter) finish(term byte, terminated bool) {
	if r.long {
		drop := r.dropLong
		r.long, r.dropLong = false, false
		switch {
		case drop:
			// A CR ending a dropped line takes its LF along.
			r.droppedCR = r.afterCR
		case terminated:
			r.out = append(r.out, term)
		}
		return
	}

	line := r.takeLine()
	r.line = r.line[:0]
	name, value, at := eventField(line)
	switch {
	case len(line) == 0:
		// A blank line ends the event.
		r.endpoint, r.sawData = false, false
	case string(name) == "event":
		endpoint := bytes.EqualFold(bytes.TrimSpace(value), []byte("endpoint"))
		if endpoint && r.sawData && !r.endpoint {
			r.out = append(r.out, ':')
			break
		}
		r.endpoint = endpoint
		r.out = append(r.out, line...)
	case string(name) == "data":
		first := !r.sawData
		r.sawData = true
		if !r.endpoint {
			r.out = append(r.out, line...)
			break
		}
		if !first {
			// Clients join an event's data lines, and browsers then drop
			// the LF between them: lines rewritten one by one could add
			// up to another URL. An endpoint has one line.
			r.out = append(r.out, ':')
			break
		}
		r.out = append(r.out, line[:at]...)
		r.out = append(r.out, r.rewrite(strings.TrimSpace(string(value)))...)
	default:
		r.out = append(r.out, line...)
	}
	if terminated {
		r.out = append(r.out, term)
	}
}

// eventField splits an event stream line into its field name and value;
// at is where the value starts. A line starting with a colon is a comment,
// whose name is empty.
func eventField(line []byte) (name, value []byte, at int) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return line, nil, len(line)
	}
	at = i + 1
	if at < len(line) && line[at] == ' ' {
		at++
	}
	return line[:i], line[at:], at
}
