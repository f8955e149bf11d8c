package telemetry_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcphub/apigateway/telemetry"
)

// spansOf returns the ended server and client spans, failing the test if
// there is not exactly one of each.
func spansOf(t *testing.T, h *harness) (server, client sdktrace.ReadOnlySpan) {
	t.Helper()
	for _, s := range h.spans.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindServer:
			if server != nil {
				t.Fatal("two server spans")
			}
			server = s
		case trace.SpanKindClient:
			if client != nil {
				t.Fatal("two client spans")
			}
			client = s
		}
	}
	if server == nil || client == nil {
		t.Fatalf("got server span %v, client span %v", server, client)
	}
	return server, client
}

const inboundParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestTraceContextReachesTheDeployment(t *testing.T) {
	tests := []struct {
		name    string
		trusted []netip.Prefix
		inbound string
		// continued: the server span is a child of the inbound context;
		// otherwise it starts a trace and links to it.
		continued bool
	}{
		{name: "no inbound context"},
		{name: "inbound from an untrusted client", inbound: inboundParent},
		{name: "inbound from a trusted proxy", inbound: inboundParent, continued: true,
			trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, telemetry.Config{TrustedProxies: tt.trusted})
			arrived, state := make(chan string, 1), make(chan string, 1)
			upstream := func(w http.ResponseWriter, r *http.Request) {
				arrived <- r.Header.Get("Traceparent")
				state <- r.Header.Get("Tracestate")
			}
			front := startStreamingGateway(t, h, http.HandlerFunc(upstream))
			req, _ := http.NewRequest("GET", front.URL+"/api/gateway/u1/d1/x", nil)
			req.Header.Set("Authorization", "Bearer good")
			if tt.inbound != "" {
				req.Header.Set("Traceparent", tt.inbound)
				req.Header.Set("Tracestate", "client=1")
			}

			if status, _ := do(t, front.Client(), req); status != 200 {
				t.Fatalf("got status %d", status)
			}

			h.record(t)
			server, client := spansOf(t, h)
			want := "00-" + server.SpanContext().TraceID().String() + "-" +
				client.SpanContext().SpanID().String() + "-01"
			if got := <-arrived; got != want {
				t.Errorf("deployment got traceparent %q, want %q", got, want)
			}
			if got, want := <-state, map[bool]string{true: "client=1"}[tt.continued]; got != want {
				t.Errorf("deployment got tracestate %q, want %q", got, want)
			}
			if client.Parent().SpanID() != server.SpanContext().SpanID() {
				t.Error("the client span is not a child of the server span")
			}
			if server.Name() != "GET "+route {
				t.Errorf("server span name %q, want %q", server.Name(), "GET "+route)
			}

			inboundTrace, inboundSpan := "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
			gotTrace := server.SpanContext().TraceID().String()
			gotParent := server.Parent().SpanID().String()
			switch {
			case tt.continued && (gotTrace != inboundTrace || gotParent != inboundSpan):
				t.Errorf("trusted inbound context not continued: trace %s, parent %s", gotTrace, gotParent)
			case !tt.continued && gotTrace == inboundTrace:
				t.Error("an untrusted client chose the trace id")
			case !tt.continued && tt.inbound != "" &&
				(len(server.Links()) != 1 ||
					server.Links()[0].SpanContext.TraceID().String() != inboundTrace):
				t.Errorf("untrusted inbound context not linked: links %v", server.Links())
			}
		})
	}
}

func TestServerSpanCarriesGatewayOutcome(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	front := startGateway(t, h)

	runScenarios(t, h, front)

	var limited sdktrace.ReadOnlySpan
	for _, s := range h.spans.Ended() {
		for _, kv := range s.Attributes() {
			if kv.Key == "http.response.status_code" && kv.Value.AsInt64() == 429 {
				limited = s
			}
		}
	}
	if limited == nil {
		t.Fatalf("no span for the 429:\n%s", dumpSpans(h.spans.Ended()))
	}
	got := make(map[string]string)
	for _, kv := range limited.Attributes() {
		got[string(kv.Key)] = kv.Value.String()
	}
	want := map[string]string{
		string(telemetry.UserIDKey):       "u1",
		string(telemetry.DeploymentIDKey): "d-limited",
		string(telemetry.LimitOutcomeKey): "limited",
		string(telemetry.LimitScopeKey):   "deployment",
		"http.route":                      route,
		"client.address":                  "127.0.0.1",
		"url.path":                        "/api/gateway/u1/d-limited/x",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("span attribute %s: got %q, want %q", k, got[k], v)
		}
	}
	if got[string(telemetry.RequestIDKey)] == "" {
		t.Error("span has no request id")
	}
}

func TestHijackedConnectionCountsBufferedBytes(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n"
	upgrade := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		// The client sent its first line with the request, so net/http
		// may already hold it in the buffer.
		line, err := brw.ReadString('\n')
		if err != nil || line != "hello\n" {
			t.Errorf("read %q, %v", line, err)
		}
		brw.WriteString(head + "world\n")
		brw.Flush()
	})
	front := httptest.NewServer(h.tel.Handler(upgrade))
	defer front.Close()

	conn := dialRaw(t, front.Listener.Addr().String(),
		"GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\nhello\n")
	defer conn.Close()

	rec := h.record(t)
	if rec.Status != 101 || rec.BytesIn != int64(len("hello\n")) ||
		rec.BytesOut != int64(len(head+"world\n")) {
		t.Errorf("got status %d, bytes in %d, out %d; want 101, %d, %d",
			rec.Status, rec.BytesIn, rec.BytesOut, len("hello\n"), len(head+"world\n"))
	}
}

func TestClientSpanDescribesTheUpstreamCall(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	front := startStreamingGateway(t, h, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "down for maintenance")
	}))
	req, _ := http.NewRequest("GET", front.URL+"/api/gateway/u1/d1/status?since=yesterday", nil)
	req.Header.Set("Authorization", "Bearer good")

	if status, _ := do(t, front.Client(), req); status != http.StatusServiceUnavailable {
		t.Fatalf("got status %d", status)
	}

	h.record(t)
	_, client := spansOf(t, h)
	got := make(map[string]string)
	for _, kv := range client.Attributes() {
		got[string(kv.Key)] = kv.Value.String()
	}
	full, err := url.Parse(got["url.full"])
	if err != nil || full.Scheme != "http" || full.Path != "/status" || full.RawQuery != "" ||
		full.Hostname() != "127.0.0.1" || full.Hostname() != got["server.address"] ||
		full.Port() != got["server.port"] {
		t.Errorf("url.full %q, server.address %q, server.port %q",
			got["url.full"], got["server.address"], got["server.port"])
	}
	for _, k := range []string{"url.full", "server.address", "server.port"} {
		delete(got, k)
	}
	want := map[string]string{
		"http.request.method":             "GET",
		"http.response.status_code":       "503",
		"error.type":                      "503",
		string(telemetry.DeploymentIDKey): "d1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("client span attributes (-want +got):\n%s", diff)
	}
	if client.Status().Code != codes.Error {
		t.Errorf("client span status %v, want Error", client.Status())
	}
}

func TestClientSpanEndsWithTheResponseBody(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "head ")
		http.NewResponseController(w).Flush()
		<-release
		io.WriteString(w, "tail")
	}))
	defer upstream.Close()
	client := &http.Client{Transport: h.tel.Transport(nil)}

	resp, err := client.Get(upstream.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.spans.Ended()); n != 0 {
		t.Errorf("%d spans ended before the body was read", n)
	}
	close(release)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	if string(b) != "head tail" {
		t.Errorf("got body %q", b)
	}
	if ended := h.spans.Ended(); len(ended) != 1 || ended[0].SpanKind() != trace.SpanKindClient {
		t.Errorf("got ended spans %v, want the client span", ended)
	}
}
