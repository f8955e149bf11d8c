package telemetry_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcphub/apigateway/telemetry"
)

// upstreamBody is what an upstream received: the body's length and
// SHA-256.
type upstreamBody struct {
	n   int
	sum [sha256.Size]byte
}

func bodyOf(b []byte) upstreamBody { return upstreamBody{len(b), sha256.Sum256(b)} }

// startMCPGateway serves the fake gateway behind the Handler of h, with
// deployment d1 proxying to an upstream that reports every body it reads
// on the returned channel.
func startMCPGateway(t *testing.T, h *harness) (*httptest.Server, chan upstreamBody) {
	t.Helper()
	got := make(chan upstreamBody, 256)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("upstream reading the body: %v", err)
		}
		got <- bodyOf(b)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	t.Cleanup(upstream.Close)
	g := &fakeGateway{
		tel:         h.tel,
		tokens:      map[string]string{"good": "u1"},
		deployments: map[string]fakeDeployment{"d1": {owner: "u1", upstream: upstream.URL}},
	}
	front := httptest.NewServer(h.tel.Handler(g))
	t.Cleanup(front.Close)
	return front, got
}

// mcpRequest is one request to the fake gateway's MCP deployment.
type mcpRequest struct {
	method      string            // "" means POST
	contentType string            // "" means application/json
	header      map[string]string // more headers
	body        []byte
	chunked     bool // hide the body's length, so it is sent chunked
	token       string
}

// send sends mr to front and returns the finished Record.
func (mr mcpRequest) send(t *testing.T, h *harness, front *httptest.Server) *telemetry.Record {
	t.Helper()
	method := mr.method
	if method == "" {
		method = "POST"
	}
	var body io.Reader
	if mr.body != nil {
		body = bytes.NewReader(mr.body)
		if mr.chunked {
			body = io.MultiReader(body)
		}
	}
	req, err := http.NewRequest(method, front.URL+"/api/gateway/u1/d1/mcp", body)
	if err != nil {
		t.Fatal(err)
	}
	ct := mr.contentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	token := mr.token
	if token == "" {
		token = "good"
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range mr.header {
		req.Header.Set(k, v)
	}
	do(t, front.Client(), req)
	return h.record(t)
}

// checkUpstream fails t unless the upstream received exactly want.
func checkUpstream(t *testing.T, got chan upstreamBody, want []byte) {
	t.Helper()
	select {
	case b := <-got:
		if b != bodyOf(want) {
			t.Errorf("upstream got %d bytes with SHA-256 %x, want %d bytes with %x",
				b.n, b.sum, len(want), sha256.Sum256(want))
		}
	default:
		t.Error("the upstream received no request")
	}
}

// mcpSeries returns the MCP attributes of every http.server.request.duration
// series, as "method tool" strings with their counts.
func mcpSeries(t *testing.T, h *harness) map[string]uint64 {
	t.Helper()
	series := make(map[string]uint64)
	for set, n := range histogramCounts(t, metric(t, h.collect(t), "http.server.request.duration")) {
		var m, tool string
		for _, kv := range strings.Fields(set) {
			if v, ok := strings.CutPrefix(kv, string(telemetry.MCPMethodNameKey)+"="); ok {
				m = v
			}
			if v, ok := strings.CutPrefix(kv, string(telemetry.GenAIToolNameKey)+"="); ok {
				tool = v
			}
		}
		if m != "" || tool != "" {
			series[m+" "+tool] += n
		}
	}
	return series
}

// spanAttr returns the value of key on the last ended span, or "".
func spanAttr(h *harness, key attribute.Key) string {
	spans := h.spans.Ended()
	for i := len(spans) - 1; i >= 0; i-- {
		if spans[i].SpanKind() != trace.SpanKindServer {
			continue
		}
		for _, kv := range spans[i].Attributes() {
			if kv.Key == key {
				return kv.Value.AsString()
			}
		}
		return ""
	}
	return ""
}

func TestMCPLabels(t *testing.T) {
	toolsCall := []byte(`{"jsonrpc":"2.0","id":3,"method":"tools/call",` +
		`"params":{"name":"add","arguments":{"a":1,"b":2}}}`)
	tests := []struct {
		name         string
		req          mcpRequest
		method, tool string
	}{
		{"headers and body", mcpRequest{
			header: map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "add"},
			body:   toolsCall,
		}, "tools/call", "add"},
		{"headers without a body", mcpRequest{
			method: "GET",
			header: map[string]string{"Mcp-Method": "tools/list"},
		}, "tools/list", ""},
		{"headers with a body that is not JSON", mcpRequest{
			contentType: "text/plain",
			header:      map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "search"},
			body:        toolsCall,
		}, "tools/call", "search"},
		{"headers with a malformed body", mcpRequest{
			header: map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "search"},
			body:   []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search"`),
		}, "tools/call", "search"},
		{"headers with a response body", mcpRequest{
			header: map[string]string{"Mcp-Method": "notifications/cancelled"},
			body:   []byte(`{"jsonrpc":"2.0","id":1,"result":{}}`),
		}, "notifications/cancelled", ""},
		{"invalid header, valid body", mcpRequest{
			header: map[string]string{"Mcp-Method": strings.Repeat("m", 65)},
			body:   []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`),
		}, "tools/list", ""},
		{"Mcp-Name of another method", mcpRequest{
			header: map[string]string{"Mcp-Method": "prompts/get", "Mcp-Name": "greet"},
			body:   []byte(`{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"greet"}}`),
		}, "prompts/get", ""},
		{"initialize", mcpRequest{body: []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize",` +
			`"params":{"protocolVersion":"2025-11-25","capabilities":{},` +
			`"clientInfo":{"name":"client","version":"1"}}}`),
		}, "initialize", ""},
		{"tools/list", mcpRequest{
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`),
		}, "tools/list", ""},
		{"tools/call", mcpRequest{body: toolsCall}, "tools/call", "add"},
		{"tools/call, jsonrpc last", mcpRequest{body: []byte(`{"method":"tools/call",` +
			`"params":{"_meta":{"progressToken":7},"arguments":{"q":"x"},"name":"find"},` +
			`"jsonrpc":"2.0","id":4}`),
		}, "tools/call", "find"},
		{"chunked", mcpRequest{body: toolsCall, chunked: true}, "tools/call", "add"},
		{"notification, charset", mcpRequest{
			contentType: "Application/JSON; charset=utf-8",
			body:        []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`),
		}, "notifications/initialized", ""},
		{"tools/call with an invalid name", mcpRequest{
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a b"}}`),
		}, "tools/call", ""},
		{"tools/call with an escaped name", mcpRequest{
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sl\u006fw"}}`),
		}, "tools/call", "slow"},
		{"escaped method", mcpRequest{
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"slow"}}`),
		}, "tools/call", "slow"},
		{"escaped keys", mcpRequest{
			body: []byte(`{"jsonrpc":"2.0","id":1,"m\u0065thod":"tools/call",` +
				`"params":{"n\u0061me":"slow"}}`),
		}, "tools/call", "slow"},
		{"escape to a character no label has", mcpRequest{
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a\u0020b"}}`),
		}, "tools/call", ""},
		{"name given twice", mcpRequest{
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call",` +
				`"params":{"name":"add","arguments":{},"name":"slow"}}`),
		}, "tools/call", "slow"},
		{"name given twice, then null", mcpRequest{
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call",` +
				`"params":{"name":"add","name":"slow","name":null}}`),
		}, "tools/call", "slow"},
		{"params given twice", mcpRequest{
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call",` +
				`"params":{"name":"add"},"params":{"name":"slow"}}`),
		}, "tools/call", "slow"},
		{"params given twice, the last without a name", mcpRequest{
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call",` +
				`"params":{"name":"slow"},"params":{"arguments":{}}}`),
		}, "tools/call", ""},
		{"method given twice", mcpRequest{
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list",` +
				`"params":{"name":"slow"},"method":"tools/call"}`),
		}, "tools/call", "slow"},
		{"Mcp-Method lies", mcpRequest{
			header: map[string]string{"Mcp-Method": "ping"},
			body:   []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}`),
		}, "tools/call", "slow"},
		{"Mcp-Name lies", mcpRequest{
			header: map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "add"},
			body:   []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}`),
		}, "tools/call", "slow"},
		{"Mcp-Name for a body without a name", mcpRequest{
			header: map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "add"},
			body:   []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`),
		}, "tools/call", ""},
		{"SSE stream", mcpRequest{method: "GET", contentType: "text/event-stream"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, telemetry.Config{})
			front, upstream := startMCPGateway(t, h)

			rec := tt.req.send(t, h, front)

			if rec.MCPMethod != tt.method || rec.MCPTool != tt.tool {
				t.Errorf("Record: got %q %q, want %q %q", rec.MCPMethod, rec.MCPTool, tt.method, tt.tool)
			}
			checkUpstream(t, upstream, tt.req.body)
			if got, want := rec.BytesIn, int64(len(tt.req.body)); got != want {
				t.Errorf("Record.BytesIn: got %d, want %d", got, want)
			}
			var want map[string]uint64
			if tt.method != "" {
				want = map[string]uint64{tt.method + " " + tt.tool: 1}
			}
			if diff := cmp.Diff(want, mcpSeries(t, h), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("metric series (-want +got):\n%s", diff)
			}
			if m, tool := spanAttr(h, telemetry.MCPMethodNameKey),
				spanAttr(h, telemetry.GenAIToolNameKey); m != tt.method || tool != tt.tool {
				t.Errorf("span: got %q %q, want %q %q", m, tool, tt.method, tt.tool)
			}
			line := h.logLines(t)[0]
			if line["mcp_method"] != tt.method || line["mcp_tool"] != tt.tool {
				t.Errorf("access log: got %q %q, want %q %q",
					line["mcp_method"], line["mcp_tool"], tt.method, tt.tool)
			}
		})
	}
}

// TestMCPUnlabelled sends bodies that must not be labelled and checks
// that they create no MCP series, span attributes or log values, and
// still reach the upstream byte for byte.
func TestMCPUnlabelled(t *testing.T) {
	pad := strings.Repeat("x", 20<<10)
	tests := []struct {
		name string
		req  mcpRequest
	}{
		{"junk", mcpRequest{body: []byte("\x00\xff{{{not json at all")}},
		{"batch", mcpRequest{body: []byte(`[{"jsonrpc":"2.0","id":1,"method":"tools/list"},` +
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add"}}]`)}},
		{"huge method", mcpRequest{body: []byte(`{"jsonrpc":"2.0","id":1,"method":"` +
			strings.Repeat("m", 5000) + `"}`)}},
		{"method of 65 characters", mcpRequest{body: []byte(`{"jsonrpc":"2.0","id":1,"method":"` +
			strings.Repeat("m", 65) + `"}`)}},
		{"method with a space", mcpRequest{
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list x"}`)}},
		{"method with an escaped space", mcpRequest{
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools\u0020list"}`)}},
		{"method of 65 escaped characters", mcpRequest{body: []byte(`{"jsonrpc":"2.0","id":1,` +
			`"method":"` + strings.Repeat(`\u006d`, 65) + `"}`)}},
		{"method not a string", mcpRequest{body: []byte(`{"jsonrpc":"2.0","id":1,"method":7}`)}},
		{"not JSON-RPC", mcpRequest{body: []byte(`{"method":"card","amount":3}`)}},
		{"JSON-RPC 1.0", mcpRequest{body: []byte(`{"jsonrpc":"1.0","method":"tools/list"}`)}},
		{"response", mcpRequest{body: []byte(`{"jsonrpc":"2.0","id":1,"result":{}}`)}},
		{"malformed after the method", mcpRequest{
			body: []byte(`{"method":"tools/list","params":{,"jsonrpc":"2.0"}`)}},
		{"not application/json", mcpRequest{contentType: "text/plain",
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)}},
		{"method beyond the window", mcpRequest{body: []byte(`{"jsonrpc":"2.0","id":1,` +
			`"params":{"pad":"` + pad + `"},"method":"tools/list"}`)}},
		// A name beyond the window could replace the one within it.
		{"object ending beyond the window", mcpRequest{body: []byte(`{"jsonrpc":"2.0","id":1,` +
			`"method":"tools/call","params":{"name":"add","arguments":{"pad":"` + pad + `"},` +
			`"name":"slow"}}`)}},
		{"method given twice, the last not a label", mcpRequest{
			header: map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "add"},
			body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add"},` +
				`"method":"tools call"}`)}},
		{"JSON-RPC 1.0 given last", mcpRequest{body: []byte(`{"jsonrpc":"2.0","id":1,` +
			`"method":"tools/call","params":{"name":"add"},"jsonrpc":"1.0"}`)}},
		{"header method too long", mcpRequest{
			method: "GET",
			header: map[string]string{"Mcp-Method": strings.Repeat("m", 65)}}},
	}
	h := newHarness(t, telemetry.Config{})
	front, upstream := startMCPGateway(t, h)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.req.send(t, h, front)

			if rec.MCPMethod != "" || rec.MCPTool != "" {
				t.Errorf("Record: got %q %q, want none", rec.MCPMethod, rec.MCPTool)
			}
			checkUpstream(t, upstream, tt.req.body)
		})
	}

	if out := dumpMetrics(h.collect(t)); strings.Contains(out, "mcp.") ||
		strings.Contains(out, "gen_ai.") {
		t.Errorf("metrics hold MCP attributes:\n%s", out)
	}
	if out := dumpSpans(h.spans.Ended()); strings.Contains(out, "mcp.") ||
		strings.Contains(out, "gen_ai.") {
		t.Errorf("spans hold MCP attributes:\n%s", out)
	}
	for _, line := range h.logLines(t) {
		if line["mcp_method"] != "" || line["mcp_tool"] != "" {
			t.Errorf("access log: got %q %q, want none", line["mcp_method"], line["mcp_tool"])
		}
	}
}

// TestMCPBodyUnchanged sends tools/call bodies around and far beyond the
// peek window and checks that the upstream receives every byte, in
// order, and that only those that end within the window are labelled.
func TestMCPBodyUnchanged(t *testing.T) {
	const window = 16 << 10
	// toolsCall returns a tools/call body of exactly n bytes.
	toolsCall := func(n int) []byte {
		head := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"upload",` +
			`"arguments":{"data":"`
		tail := `"}}}`
		b := []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
		for i := len(head); i < len(b)-len(tail); i++ {
			b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i*7%36] // not one repeated byte
		}
		return b
	}
	for _, n := range []int{200, window - 1, window, window + 1, 1 << 20} {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d bytes, chunked %v", n, chunked), func(t *testing.T) {
				h := newHarness(t, telemetry.Config{})
				front, upstream := startMCPGateway(t, h)
				body := toolsCall(n)

				rec := mcpRequest{body: body, chunked: chunked}.send(t, h, front)

				checkUpstream(t, upstream, body)
				if rec.BytesIn != int64(n) {
					t.Errorf("Record.BytesIn: got %d, want %d", rec.BytesIn, n)
				}
				// Only an object that ends within the window is labelled:
				// beyond it, another name could follow.
				want := [2]string{"tools/call", "upload"}
				if n > window {
					want = [2]string{}
				}
				if got := [2]string{rec.MCPMethod, rec.MCPTool}; got != want {
					t.Errorf("Record: got %q, want %q", got, want)
				}
			})
		}
	}
}

// TestMCPLabelsNeedADeployment checks that a request the gateway refused
// is not labelled from its body (the gateway never waited for it) and
// creates no series, so that clients without access cannot fill the caps.
func TestMCPLabelsNeedADeployment(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	front, _ := startMCPGateway(t, h)
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add"}}`)

	rec := mcpRequest{body: body, token: "bad"}.send(t, h, front)

	if rec.Status != http.StatusUnauthorized {
		t.Fatalf("got status %d, want 401", rec.Status)
	}
	if rec.MCPMethod != "" || rec.MCPTool != "" {
		t.Errorf("Record: got %q %q, want no labels from the body of a refused request", rec.MCPMethod, rec.MCPTool)
	}
	if got := mcpSeries(t, h); len(got) != 0 {
		t.Errorf("metric series: got %v, want none", got)
	}
}

// TestMCPCardinalityCap sends more distinct tool names and methods than
// metrics keep and checks that the later ones become "other".
func TestMCPCardinalityCap(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	front, upstream := startMCPGateway(t, h)
	const tools, methods = 105, 55

	for i := range tools {
		body := fmt.Appendf(nil,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool-%d"}}`, i)
		mcpRequest{body: body}.send(t, h, front)
		<-upstream
	}
	for i := range methods {
		mcpRequest{header: map[string]string{"Mcp-Method": fmt.Sprintf("x/m%d", i)}}.send(t, h, front)
		<-upstream
	}

	want := make(map[string]uint64)
	for i := range 100 {
		want[fmt.Sprintf("tools/call tool-%d", i)] = 1
	}
	want["tools/call "+telemetry.Other] = tools - 100
	for i := range 49 { // tools/call took the first place
		want[fmt.Sprintf("x/m%d ", i)] = 1
	}
	want[telemetry.Other+" "] = methods - 49
	if diff := cmp.Diff(want, mcpSeries(t, h)); diff != "" {
		t.Errorf("metric series (-want +got):\n%s", diff)
	}
}

// FuzzMCPLabelsAgreeWithEncodingJSON checks that LabelMCP labels a body
// with what encoding/json decodes from it: exact keys, escapes decoded,
// the last of a repeated member winning, nesting of any depth.
func FuzzMCPLabelsAgreeWithEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add"}}`,
		` { "jsonrpc" : "2.0" , "method" : "tools/call" , "params" : { "name" : "add" } } `,
		`{"jsonrpc":"2.0","method":"tools/call",` +
			`"params":{"arguments":{"name":"x","a":[1,{"name":"y"}]},` +
			`"name":"add","n":-1.5e3,"t":true}}`,
		`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"a\"}","name":"b\\"}}`,
		`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"add","name":"sl\u006fw"}}`,
		`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"add"},"params":[{"name":"x"}]}`,
		`{"jsonrpc":"2.0","method":"tools/call","params":{"Name":"add","NAME":"x"}}`,
		`{"jsonrpc":"2.0","method":"tools/call","params":{"n\u0061me":"add"},"id":{"method":"x"}}`,
		`{"jsonrpc":"2.0","method":"x\/y","params":{"name":"add"},"method":"tools\/call"}`,
		`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"add","x":"}{]["}}`,
		`{"jsonrpc":"2.0","method":"tools/call","params":"name","name":"add"}`,
		`{"jsonrpc":"2.0","method":7}`,
		`["jsonrpc","2.0"]`,
		`"method"`,
	} {
		f.Add([]byte(s))
	}
	tel, err := telemetry.New(telemetry.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// A JSON null leaves a Go string as it was but a map entry nil: the
		// reference below would disagree with servers written in Go.
		if !json.Valid(body) || bytes.Contains(body, []byte("null")) {
			t.Skip()
		}
		var rec telemetry.Record
		r := httptest.NewRequest("POST", "/mcp", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r = r.WithContext(telemetry.NewContext(r.Context(), &rec))

		r = tel.LabelMCP(r)

		got, err := io.ReadAll(r.Body)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("body after LabelMCP: got %q, %v; want %q", got, err, body)
		}
		if method, tool := referenceLabels(body); rec.MCPMethod != method || rec.MCPTool != tool {
			t.Errorf("LabelMCP(%s): got %q %q, want %q %q", body, rec.MCPMethod, rec.MCPTool, method, tool)
		}
	})
}

// referenceLabels returns the labels of body, a valid JSON value, as
// encoding/json decodes it into maps.
func referenceLabels(body []byte) (method, tool string) {
	var top map[string]json.RawMessage
	var version string
	if json.Unmarshal(body, &top) != nil || json.Unmarshal(top["jsonrpc"], &version) != nil ||
		version != "2.0" || json.Unmarshal(top["method"], &method) != nil ||
		!isLabel(method, 64) {
		return "", ""
	}
	var params map[string]json.RawMessage
	if method != "tools/call" || json.Unmarshal(top["params"], &params) != nil ||
		json.Unmarshal(params["name"], &tool) != nil || !isLabel(tool, 128) {
		return method, ""
	}
	return method, tool
}

// isLabel reports whether s is 1 to max characters from [A-Za-z0-9_./-].
func isLabel(s string, max int) bool {
	return len(s) <= max && labelPattern.MatchString(s)
}

var labelPattern = regexp.MustCompile(`^[A-Za-z0-9_./-]+$`)
