package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/mcphub/apigateway/telemetry"
)

// With the global tracer provider, which records nothing until the host
// installs an SDK, requests get no spans and send no trace context; once
// the host installs one, even after New, they get both. The test changes
// the process-wide provider, so it does not run in parallel.
func TestGlobalTracerIsFollowedAfterNew(t *testing.T) {
	var traceparent string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traceparent = r.Header.Get("Traceparent")
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)
	tel, err := telemetry.New(telemetry.Config{Propagator: propagation.TraceContext{}})
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: tel.Transport(upstream.Client().Transport),
	}
	h := tel.Handler(proxy)
	get := func() {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/api/gateway/u/d/x", nil))
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
	}

	for range 2 { // the first request finds the tracer quiet, the second relies on it
		get()
		if traceparent != "" {
			t.Fatalf("before an SDK is installed: upstream got traceparent %q, want none", traceparent)
		}
	}

	spans := tracetest.NewSpanRecorder()
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	otel.SetTracerProvider(sdk)
	t.Cleanup(func() {
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		sdk.Shutdown(context.Background())
	})
	get()
	if traceparent == "" {
		t.Error("after an SDK is installed: upstream got no traceparent")
	}
	if got := len(spans.Ended()); got != 2 {
		t.Errorf("after an SDK is installed: got %d spans, want a server and a client span", got)
	}
}
