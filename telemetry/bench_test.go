package telemetry_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/mcphub/apigateway/telemetry"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the handlers rather than a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkTelemetry compares a handler that writes 1 KiB with the same
// handler behind the Telemetry Handler: with the SDK providers (every span
// sampled, metrics aggregated, a JSON access log to io.Discard) and with
// the zero Config (global no-op providers, no access log).
func BenchmarkTelemetry(b *testing.B) {
	payload := make([]byte, 1024)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := telemetry.FromContext(r.Context()); ok {
			rec.UserID, rec.DeploymentID, rec.Route = "u1", "d1", route
		}
		w.Write(payload)
	})
	sdk, err := telemetry.New(telemetry.Config{
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())),
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())),
		Propagator:     propagation.TraceContext{},
		AccessLog:      slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	noop, err := telemetry.New(telemetry.Config{})
	if err != nil {
		b.Fatal(err)
	}
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"bare", app},
		{"sdk", sdk.Handler(app)},
		{"noop", noop.Handler(app)},
	}
	req := httptest.NewRequest("GET", "/api/gateway/u1/d1/x?q=1", nil)
	req.Header.Set("User-Agent", "bench/1")

	for _, hh := range handlers {
		b.Run(hh.name, func(b *testing.B) {
			b.ReportAllocs()
			w := &discardWriter{h: make(http.Header)}
			for b.Loop() {
				hh.h.ServeHTTP(w, req)
			}
		})
	}
}

// rewindBody is a request body that can be read again after Reset, so a
// benchmark can send the same request without making a new one.
type rewindBody struct{ *bytes.Reader }

func (rewindBody) Close() error { return nil }

// BenchmarkMCPLabel measures the labelling of MCP requests: the Handler
// with the SDK providers in front of a handler that reads the body, for a
// tools/call POST labelled from its body or from its headers, and for
// requests it does not label: the same body as text/plain, and a GET.
func BenchmarkMCPLabel(b *testing.B) {
	var tel *telemetry.Telemetry
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := telemetry.FromContext(r.Context()); ok {
			rec.UserID, rec.DeploymentID, rec.Route = "u1", "d1", route
		}
		r = tel.LabelMCP(r)
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"jsonrpc":"2.0","id":3,"result":{"content":[]}}`))
	})
	var err error
	tel, err = telemetry.New(telemetry.Config{
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())),
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())),
		AccessLog:      slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	h := tel.Handler(app)
	payload := []byte(`{"jsonrpc":"2.0","id":3,"method":"tools/call",` +
		`"params":{"name":"search","arguments":{"query":"gateway telemetry","limit":10}}}`)

	cases := []struct {
		name, method, contentType string
		header                    map[string]string
	}{
		{"body", "POST", "application/json", nil},
		{"headers", "POST", "application/json",
			map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "search"}},
		{"unlabelled-post", "POST", "text/plain", nil},
		{"unlabelled-get", "GET", "", nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			body := rewindBody{bytes.NewReader(nil)}
			req := httptest.NewRequest(c.method, "/api/gateway/u1/d1/mcp", nil)
			if c.method == "POST" {
				req.Body = body
				req.ContentLength = int64(len(payload))
			}
			req.Header.Set("Content-Type", c.contentType)
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			w := &discardWriter{h: make(http.Header)}
			for b.Loop() {
				body.Reset(payload)
				h.ServeHTTP(w, req)
			}
		})
	}
}
