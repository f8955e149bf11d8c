package telemetry_test

import (
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
