package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// Bounds on what the Handler reads to label an MCP request.
const (
	// mcpPeekSize is how much of a request body the Handler looks at to
	// find the JSON-RPC method and tool name.
	mcpPeekSize = 16 << 10
	// maxMCPMethod and maxMCPTool bound the length of a label; longer
	// values are dropped, not shortened, so a label is always a real name.
	maxMCPMethod = 64
	maxMCPTool   = 128
	// mcpMethodValues and mcpToolValues cap the distinct labels in
	// metrics, across all deployments; later ones become [Other].
	mcpMethodValues = 50
	mcpToolValues   = 100
)

// mcpToolsCall is the one method whose requests name a tool.
const mcpToolsCall = "tools/call"

// labelMCPHeaders labels r from the Mcp-Method and Mcp-Name headers that
// the stateless generation of MCP sends. It reads no body, so the Handler
// can do it for every request; [Telemetry.LabelMCP] replaces these labels
// with the body's when the body is a JSON-RPC request.
func labelMCPHeaders(r *http.Request, rec *Record) {
	m := r.Header.Get("Mcp-Method")
	if m == "" || !validLabel(m, maxMCPMethod) {
		return
	}
	rec.MCPMethod = m
	if n := r.Header.Get("Mcp-Name"); m == mcpToolsCall && validLabel(n, maxMCPTool) {
		rec.MCPTool = n
	}
}

// LabelMCP labels an MCP request from a bounded look at the start of its
// body. For a JSON POST it reads at most 16 KiB, up to the end of the
// top-level JSON value, and the returned request (a shallow copy; r is not
// changed) replays them before the rest of the body streams on unchanged.
// The labels go to the request's [Record], if its context has one.
//
// The labels are what a server decoding the body with a standard JSON
// parser acts on: escapes in strings are decoded, and a member given twice
// counts as its last occurrence, as with encoding/json and JSON.parse. So
// the whole object must end within the 16 KiB: a request whose object
// does not, such as a tools/call with large arguments, is not labelled
// from its body, since a later member could change its method or tool.
//
// When the body is a JSON-RPC 2.0 request, its method and, for tools/call,
// params.name replace the labels the Handler took from the Mcp-Method and
// Mcp-Name headers, even when they are not valid labels (and so leave the
// request unlabelled): a server acts on the body, not on the headers. The
// headers' labels stand for a request whose body is anything else: a
// batch, a response, malformed JSON, an object that does not end within
// the 16 KiB, a body that is not JSON, or no body at all.
//
// Call it only once the request is authorized, as the gateway does right
// before proxying: reading the body means waiting for the client, and a
// caller who was never authenticated must not be able to make the gateway
// wait. A request that has no Record, or is not a POST with a JSON body,
// is returned as it is.
func (t *Telemetry) LabelMCP(r *http.Request) *http.Request {
	rec, ok := FromContext(r.Context())
	if !ok || r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody ||
		!isJSON(r.Header.Get("Content-Type")) {
		return r
	}

	p := &peekReader{r: r.Body}
	if r.ContentLength > 0 && r.ContentLength <= mcpPeekSize {
		p.buf = make([]byte, 0, r.ContentLength)
	}
	if method, tool, ok := scanJSONRPC(json.NewDecoder(p)); ok {
		rec.MCPMethod, rec.MCPTool = method, tool
	}
	if len(p.buf) == 0 && p.err == nil {
		return r
	}
	out := new(http.Request)
	*out = *r
	out.Body = &replayBody{ReadCloser: r.Body, peeked: p.buf, err: p.err}
	return out
}

// scanJSONRPC reads one JSON value from dec and reports whether it is a
// JSON-RPC 2.0 request: an object with "jsonrpc" "2.0" and a "method"
// member. If it is, it returns the method and, for tools/call,
// params.name, each empty when it is not a valid label. Members are
// matched by their exact, unescaped keys, and the last of a repeated
// member wins, as a server's JSON parser would have it. A value that is
// not read to its end without error, such as malformed JSON or an object
// longer than the peek window, is not a request.
func scanJSONRPC(dec *json.Decoder) (method, tool string, ok bool) {
	// The decoder reads no further than the value's end and checks that it
	// is valid JSON, so rpcScan's walk over it can be simple.
	var s rpcScan
	if err := dec.Decode(&s); err != nil || s.version != "2.0" || !s.hasMethod {
		return "", "", false
	}
	if !validLabel(s.method, maxMCPMethod) {
		return "", "", true
	}
	if s.method == mcpToolsCall {
		return string(s.method), string(s.name), true
	}
	return string(s.method), "", true
}

// rpcScan is what scanJSONRPC finds in a JSON-RPC request object.
type rpcScan struct {
	version, method, name label
	hasMethod             bool
}

// UnmarshalJSON takes the members of the top-level object b that label
// it, leaving s empty if b is not an object. encoding/json calls it with
// one valid JSON value, so the walk need not check the syntax, only stay
// within b.
func (s *rpcScan) UnmarshalJSON(b []byte) error {
	members(b, func(key, v []byte) {
		switch {
		case keyIs(key, "jsonrpc"):
			s.version.set(v)
		case keyIs(key, "method"):
			s.hasMethod = true
			s.method.set(v)
		case keyIs(key, "params"):
			// A repeated params replaces the earlier one whole.
			s.name = ""
			members(v, func(key, v []byte) {
				if keyIs(key, "name") {
					s.name.set(v)
				}
			})
		}
	})
	return nil
}

// members calls fn with the raw key and value of each member of the JSON
// object b, in order; for any other value it does nothing. b must be valid
// JSON.
func members(b []byte, fn func(key, value []byte)) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	for i = skipSpace(b, i+1); i < len(b) && b[i] == '"'; i = skipSpace(b, i+1) {
		k := i
		i = valueEnd(b, i)
		key := b[k:i]
		if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
			return
		}
		v := skipSpace(b, i+1)
		i = valueEnd(b, v)
		fn(key, b[v:i])
		if i = skipSpace(b, i); i >= len(b) || b[i] != ',' {
			return
		}
	}
}

// valueEnd returns the index just past the JSON value that starts at
// b[i], or len(b).
func valueEnd(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			continue
		case '}', ']':
			if depth == 0 {
				return i // the end of a number or literal
			}
			depth--
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i // the end of a number or literal
			}
			continue
		default:
			continue // in a number or literal
		}
		if depth == 0 {
			return min(i+1, len(b))
		}
	}
	return len(b)
}

// skipSpace returns the index of the first byte from b[i] on that is not
// JSON white space, or len(b).
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// keyIs reports whether the raw JSON string key, once unescaped, is name.
func keyIs(key []byte, name string) bool {
	if bytes.IndexByte(key, '\\') < 0 {
		return len(key) == len(name)+2 && string(key[1:len(key)-1]) == name
	}
	// Rare, and only from a client that means it: a key needs no escape.
	var k string
	return json.Unmarshal(key, &k) == nil && k == name
}

// A label is a JSON string value that may be a method or tool name.
type label string

// maxEscapedLabel is the longest JSON string, quotes included, that can
// hold a label: every character written as a \uXXXX escape.
const maxEscapedLabel = 6*maxMCPTool + 2

// set decodes the raw JSON value v into l: a string, escapes and all, of
// label characters up to maxMCPTool long. Like a Go string field, l keeps
// its value for a JSON null, so that `"name":"slow","name":null` is still
// slow, as a Go server would see it; any other value, such as a number, an
// object or a long string, leaves l empty.
func (l *label) set(v []byte) {
	if string(v) == "null" {
		return
	}
	*l = ""
	if len(v) < 2 || len(v) > maxEscapedLabel || v[0] != '"' || v[len(v)-1] != '"' {
		return
	}
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		if validLabel(s, maxMCPTool) {
			*l = label(s)
		}
		return
	}
	// Rare, and only from a client that means it: a label needs no escape.
	var u string
	if json.Unmarshal(v, &u) == nil && validLabel(u, maxMCPTool) {
		*l = label(u)
	}
}

// validLabel reports whether s is 1 to max characters from
// [A-Za-z0-9_./-]: enough for MCP's method and tool names, and nothing
// that could disturb a log line or a metrics backend.
func validLabel[T string | []byte | label](s T, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '_', c == '.', c == '/', c == '-':
		default:
			return false
		}
	}
	return true
}

// isJSON reports whether the Content-Type ct is application/json, with
// any parameters.
func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// errPeekFull ends a scan that reached the end of the peek window.
var errPeekFull = errors.New("telemetry: MCP peek window is full")

// peekReader reads from r and keeps what it read, up to mcpPeekSize
// bytes; after that it reports errPeekFull without reading.
type peekReader struct {
	r   io.Reader
	buf []byte
	err error // r's error, to be given back after buf
}

func (p *peekReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	room := mcpPeekSize - len(p.buf)
	if room <= 0 {
		return 0, errPeekFull
	}
	if len(b) > room {
		b = b[:room]
	}
	n, err := p.r.Read(b)
	p.buf = append(p.buf, b[:n]...)
	p.err = err
	return n, err
}

// replayBody is a request body of which the first bytes, peeked, were
// already read: it returns them, then the error the peek met if any, then
// reads on from the body it wraps.
type replayBody struct {
	io.ReadCloser
	peeked []byte
	err    error
}

func (b *replayBody) Read(p []byte) (int, error) {
	if len(b.peeked) > 0 {
		n := copy(p, b.peeked)
		b.peeked = b.peeked[n:]
		if len(b.peeked) == 0 {
			b.peeked = nil // let the peek buffer go
			return n, b.err
		}
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.ReadCloser.Read(p)
}
