package telemetry

import (
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
// can do it for every request.
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

// LabelMCP labels an MCP request that its headers did not label, from a
// bounded look at the start of its body: for a JSON POST, at most 16 KiB
// are read until the JSON-RPC method and, for tools/call, params.name are
// found, and the returned request (a shallow copy; r is not changed)
// replays them before the rest of the body streams on unchanged. The
// labels go to the request's [Record], if its context has one. A body that
// is not a JSON-RPC 2.0 request (a batch, a response, malformed JSON), or
// that does not reach its method and tool name within those 16 KiB, is
// left unlabelled.
//
// Call it only once the request is authorized, as the gateway does right
// before proxying: reading the body means waiting for the client, and a
// caller who was never authenticated must not be able to make the gateway
// wait. A request that carries Mcp-Method (labelled from its headers), or
// has no Record, is returned as it is.
func (t *Telemetry) LabelMCP(r *http.Request) *http.Request {
	rec, ok := FromContext(r.Context())
	// A request with Mcp-Method is labelled by its headers alone, or not at
	// all when they are invalid.
	if !ok || r.Header.Get("Mcp-Method") != "" || r.Method != http.MethodPost || r.Body == nil ||
		r.Body == http.NoBody || !isJSON(r.Header.Get("Content-Type")) {
		return r
	}

	p := &peekReader{r: r.Body}
	if r.ContentLength > 0 && r.ContentLength <= mcpPeekSize {
		p.buf = make([]byte, 0, r.ContentLength)
	}
	rec.MCPMethod, rec.MCPTool = scanJSONRPC(json.NewDecoder(p))
	if len(p.buf) == 0 && p.err == nil {
		return r
	}
	out := new(http.Request)
	*out = *r
	out.Body = &replayBody{ReadCloser: r.Body, peeked: p.buf, err: p.err}
	return out
}

// scanJSONRPC reads a JSON-RPC request object from dec until it has found
// the method and, for tools/call, params.name. It returns them if the
// object says it is JSON-RPC 2.0 and the method is a valid label, and
// empty strings for anything else: a batch, a response, a value that is
// not an object, malformed JSON, or an object that does not fit in the
// peek window before all of it was found. A tool name that is not a
// valid label leaves the tool empty.
func scanJSONRPC(dec *json.Decoder) (method, tool string) {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", ""
	}
	var s rpcScan
	var skip skipValue
	for !s.done() {
		tok, err := dec.Token()
		if err != nil {
			return "", ""
		}
		if tok == json.Delim('}') {
			break
		}
		switch key, _ := tok.(string); key {
		case "jsonrpc":
			s.version = ""
			err = dec.Decode(&s.version)
		case "method":
			s.method = ""
			err = dec.Decode(&s.method)
		case "params":
			err = s.scanParams(dec)
		default:
			err = dec.Decode(&skip)
		}
		if err != nil {
			return "", ""
		}
	}

	if s.version != "2.0" || !validLabel(s.method, maxMCPMethod) {
		return "", ""
	}
	if s.method == mcpToolsCall {
		return string(s.method), string(s.name)
	}
	return string(s.method), ""
}

// rpcScan is what scanJSONRPC has found so far.
type rpcScan struct {
	version, method, name label
}

// done reports whether s has all it looks for, so the scan can stop.
func (s *rpcScan) done() bool {
	return s.version == "2.0" && s.method != "" && (s.method != mcpToolsCall || s.name != "")
}

// scanParams reads a params value from dec and keeps its "name" member, if
// it is an object with one. It stops early when that completes the scan,
// and otherwise reads the whole value, so that the scan can go on.
func (s *rpcScan) scanParams(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	var skip skipValue
	switch tok {
	case json.Delim('{'):
		for dec.More() {
			if tok, err = dec.Token(); err != nil {
				return err
			}
			if key, _ := tok.(string); key == "name" {
				s.name = ""
				err = dec.Decode(&s.name)
				if err == nil && s.done() {
					return nil
				}
			} else {
				err = dec.Decode(&skip)
			}
			if err != nil {
				return err
			}
		}
	case json.Delim('['):
		for dec.More() {
			if err := dec.Decode(&skip); err != nil {
				return err
			}
		}
	default:
		return nil // a scalar, already read
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// A label is a JSON string value that may be a method or tool name. It
// decodes only a string of label characters without escapes, up to
// maxMCPTool long, and leaves anything else, such as a number, an object
// or a long string, empty without an error, so that the scan goes on.
type label string

func (l *label) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' ||
		!validLabel(b[1:len(b)-1], maxMCPTool) {
		return nil
	}
	*l = label(b[1 : len(b)-1])
	return nil
}

// skipValue decodes any JSON value into nothing, without allocating.
type skipValue struct{}

func (*skipValue) UnmarshalJSON([]byte) error { return nil }

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
