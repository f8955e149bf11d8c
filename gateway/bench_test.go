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
	"strings"
	"sync"
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
	runParallel(b, bareProxy(up.URL, nil), "/api/gateway/u/d/small", nil)
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
	gw := newBenchGateway(b, up.URL, nil, tc)
	runParallel(b, gw, "/api/gateway/u/d/small", benchAuth)
}

// benchAuth is the header every benchmark request authenticates with.
var benchAuth = http.Header{"Authorization": {"Bearer bench-token"}}

// newBenchGateway returns a gateway with every stage on: bearer
// authentication, CORS, the ownership check against a cache that stays
// warm, both rate-limit counters in memory under limits never reached,
// the breaker, the proxy and telemetry configured by tc. Every request
// for user u's deployments goes to upstreamURL through transport (nil
// means the gateway's own).
func newBenchGateway(b testing.TB, upstreamURL string, transport http.RoundTripper,
	tc telemetry.Config) *gateway.Gateway {
	b.Helper()
	store := gateway.DeploymentStoreFunc(func(_ context.Context, id string) (
		gateway.Deployment, error) {
		return gateway.Deployment{ID: id, OwnerID: "u", Status: gateway.StatusRunning,
			UpstreamURL: upstreamURL}, nil
	})
	tokens, _ := auth.NewBearerVerifier(auth.StaticTokens(map[string]string{"bench-token": "u"}))
	gw, err := gateway.New(gateway.Config{
		Verifier:    tokens,
		Deployments: store,
		CacheTTL:    time.Hour,
		Telemetry:   tc,
		Transport:   transport,
		CORS:        gateway.CORSConfig{AllowedOrigins: []string{"https://app.example.test"}},
		Limits: limit.Config{
			PerUser:       limit.Rate{Limit: 1 << 40, Period: time.Hour},
			PerDeployment: limit.Rate{Limit: 1 << 40, Period: time.Hour},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { gw.Close() })
	return gw
}

// memTransport answers every request with the same 1 KiB 200 response,
// built in memory: no socket, no connection pool, no upstream server. In
// front of it the proxies' own work is all that is measured.
type memTransport struct{}

// memUpstream is the upstream URL the no-network benchmarks name; nothing
// resolves or dials it.
const memUpstream = "http://upstream.invalid:8080"

var memBody = bytes.Repeat([]byte("x"), 1024)

func (memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		Status:     "200 OK",
		StatusCode: http.StatusOK,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":   {"text/plain"},
			"Content-Length": {"1024"},
		},
		ContentLength: int64(len(memBody)),
		Body:          io.NopCloser(bytes.NewReader(memBody)),
		Request:       r,
	}, nil
}

// runSequential serves requests for path one after another on one
// goroutine, so that ns/op is the time one request takes, not that time
// divided by the cores as under RunParallel.
func runSequential(b *testing.B, h http.Handler, path string, header http.Header) {
	b.ReportAllocs()
	for b.Loop() {
		serveOne(b, h, path, header)
	}
}

// serveOne serves one GET of path to h. The response goes to a
// discardWriter, which, like net/http's own writer, starts with a fresh
// header map and copies nothing.
func serveOne(tb testing.TB, h http.Handler, path string, header http.Header) {
	r := httptest.NewRequest("GET", path, nil)
	r.RemoteAddr = "192.0.2.1:1234"
	for k, v := range header {
		r.Header[k] = v
	}
	w := &discardWriter{h: make(http.Header)}
	h.ServeHTTP(w, r)
	if w.code != http.StatusOK {
		tb.Fatalf("status %d", w.code)
	}
}

// discardWriter is a ResponseWriter that keeps the status and drops the
// body.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *discardWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}

// BenchmarkProxyBareNoNetwork is BenchmarkProxyBare with memTransport in
// place of the upstream: the cost of httputil.ReverseProxy alone.
func BenchmarkProxyBareNoNetwork(b *testing.B) {
	runSequential(b, bareProxy(memUpstream, memTransport{}), "/api/gateway/u/d/small", benchAuth)
}

// BenchmarkGatewayChainNoNetwork is BenchmarkGatewayChain with memTransport
// in place of the upstream. What it costs beyond BenchmarkProxyBareNoNetwork
// is the gateway's own work per request.
func BenchmarkGatewayChainNoNetwork(b *testing.B) {
	gw := newBenchGateway(b, memUpstream, memTransport{}, telemetry.Config{})
	runSequential(b, gw, "/api/gateway/u/d/small", benchAuth)
}

// bareProxy is the baseline proxy: httputil.ReverseProxy with Rewrite
// removing the gateway's prefix and setting the upstream URL and the
// X-Forwarded headers, and a pool of copy
// buffers as the gateway has (without one, ReverseProxy allocates 32 KiB
// per response, which would flatter the gateway), and nothing else. It is
// the same proxy as bare-go in ../shared/bench.
func bareProxy(upstreamURL string, transport http.RoundTripper) http.Handler {
	target, _ := url.Parse(upstreamURL)
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Path = strings.TrimPrefix(pr.Out.URL.Path, "/api/gateway/u/d")
			pr.Out.URL.RawPath = ""
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport:  transport,
		BufferPool: &bufferPool{},
	}
}

// bufferPool is an httputil.BufferPool of 32 KiB buffers.
type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[32 << 10]byte); ok {
		return b[:]
	}
	return new([32 << 10]byte)[:]
}

func (p *bufferPool) Put(b []byte) {
	if len(b) == 32<<10 {
		p.pool.Put((*[32 << 10]byte)(b))
	}
}
