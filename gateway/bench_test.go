package gateway_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/gateway"
	"github.com/mcphub/apigateway/limit"
	"github.com/mcphub/apigateway/telemetry"
)

// benchUpstream answers 1 KiB to every request.
func benchUpstream(b *testing.B) *httptest.Server {
	body := bytes.Repeat([]byte("x"), 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func runParallel(b *testing.B, h http.Handler, path string, header http.Header) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("GET", path, nil)
			r.RemoteAddr = "192.0.2.1:1234"
			for k, v := range header {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkProxyBare is the baseline: a plain httputil.ReverseProxy in
// front of the same upstream as BenchmarkGatewayChain.
func BenchmarkProxyBare(b *testing.B) {
	up := benchUpstream(b)
	target, _ := url.Parse(up.URL)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.SetXForwarded()
	}}
	runParallel(b, rp, "/api/gateway/u/d/small", nil)
}

// BenchmarkGatewayChain is the whole gateway: request id, security
// headers, CORS, authentication, the cached ownership check, both rate
// limit counters in memory, the breaker and the proxy, with telemetry on
// the default no-op providers.
func BenchmarkGatewayChain(b *testing.B) {
	benchmarkChain(b, telemetry.Config{})
}

// BenchmarkGatewayChainTelemetry is BenchmarkGatewayChain with telemetry
// recording for real: SDK metrics, every trace sampled, a JSON access log.
func BenchmarkGatewayChainTelemetry(b *testing.B) {
	benchmarkChain(b, telemetry.Config{
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())),
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())),
		AccessLog:      slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
}

func benchmarkChain(b *testing.B, tc telemetry.Config) {
	up := benchUpstream(b)
	store := gateway.DeploymentStoreFunc(func(_ context.Context, id string) (gateway.Deployment, error) {
		return gateway.Deployment{ID: id, OwnerID: "u", Status: gateway.StatusRunning, UpstreamURL: up.URL}, nil
	})
	tokens, _ := auth.NewBearerVerifier(auth.StaticTokens(map[string]string{"bench-token": "u"}))
	gw, err := gateway.New(gateway.Config{
		Verifier:    tokens,
		Deployments: store,
		CacheTTL:    time.Hour,
		Telemetry:   tc,
		CORS:        gateway.CORSConfig{AllowedOrigins: []string{"https://app.example.test"}},
		Limits: limit.Config{
			PerUser:       limit.Rate{Limit: 1 << 40, Period: time.Hour},
			PerDeployment: limit.Rate{Limit: 1 << 40, Period: time.Hour},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	runParallel(b, gw, "/api/gateway/u/d/small", http.Header{"Authorization": {"Bearer bench-token"}})
}
