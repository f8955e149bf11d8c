package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/breaker"
	"github.com/mcphub/apigateway/limit"
	"github.com/mcphub/apigateway/telemetry"
)

// The benchmarks below measure one stage of the gateway's chain each, as
// the gateway configures it, in front of a handler that does nothing, on
// one goroutine. Together with BenchmarkCORS they account for most of what
// BenchmarkGatewayChainNoNetwork costs beyond BenchmarkProxyBareNoNetwork;
// the packages' own benchmarks (limit, breaker, telemetry) go further.

var nothing = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// benchStage serves r to h b.N times, each time with a new response
// header map, as net/http would (its one allocation is in the figures).
// The stages copy a request rather than change it, so r can be reused.
func benchStage(b *testing.B, h http.Handler, r *http.Request) {
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(&discardWriter{h: make(http.Header)}, r)
	}
}

// BenchmarkAuth is bearer-token authentication by auth.Require with
// auth.StaticTokens, the identity put in the request's context.
func BenchmarkAuth(b *testing.B) {
	tokens, _ := auth.NewBearerVerifier(auth.StaticTokens(map[string]string{"bench-token": "u"}))
	authn, err := auth.New(auth.Config{Verifier: tokens})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/api/gateway/u/d/small", nil)
	r.Header["Authorization"] = benchAuth["Authorization"]
	benchStage(b, authn.Require(nothing), r)
}

// BenchmarkLimit is the per-user and per-deployment counters of a
// memory store, under limits never reached, with the rate-limit headers.
func BenchmarkLimit(b *testing.B) {
	l, err := limit.New(limit.Config{
		PerUser:       limit.Rate{Limit: 1 << 40, Period: time.Hour},
		PerDeployment: limit.Rate{Limit: 1 << 40, Period: time.Hour},
	})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/api/gateway/u/d/small", nil)
	r = r.WithContext(limit.NewContext(r.Context(), limit.Subject{UserID: "u", DeploymentID: "d"}))
	benchStage(b, l.Handler(nothing), r)
}

// BenchmarkBreaker is one deployment's closed circuit breaker around
// memTransport: the breaker's own cost is what it adds to
// BenchmarkBreakerBare.
func BenchmarkBreaker(b *testing.B) {
	br, err := breaker.New(breaker.Config{})
	if err != nil {
		b.Fatal(err)
	}
	benchRoundTrip(b, br.RoundTripper(memTransport{}))
}

// BenchmarkBreakerBare is memTransport alone, the baseline of
// BenchmarkBreaker.
func BenchmarkBreakerBare(b *testing.B) {
	benchRoundTrip(b, memTransport{})
}

func benchRoundTrip(b *testing.B, rt http.RoundTripper) {
	ctx := breaker.NewContext(context.Background(), "d")
	r, _ := http.NewRequestWithContext(ctx, "GET", "http://upstream.invalid:8080/small", nil)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := rt.RoundTrip(r)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

// BenchmarkTelemetry is the telemetry Handler with the default Config:
// the global OpenTelemetry providers, no-ops until a host installs an SDK,
// and no access log.
func BenchmarkTelemetry(b *testing.B) {
	tel, err := telemetry.New(telemetry.Config{})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/api/gateway/u/d/small", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	benchStage(b, tel.Handler(nothing), r)
}
