// Command benchgw serves the gateway in front of one upstream, for load
// tests: the harness in ../shared/bench (run.sh) measures it against a bare
// Go proxy, nginx, Caddy and HAProxy. See docs/performance.md.
//
// It serves user "u"'s deployment "d" at /api/gateway/u/d/, proxied to
// -upstream, with every stage of the gateway on: bearer authentication,
// the ownership check (cached), per-user and per-deployment rate limits
// (limits high enough never to refuse, counted in memory or, with
// -redis-url, in Redis), the circuit breaker, CORS, security headers and
// telemetry. The token is printed at start, or fixed with -token.
//
// Telemetry runs on no-op OpenTelemetry providers unless -metrics is set,
// which records metrics into an in-process SDK reader (nothing exported);
// the access log is off unless -access-log is set, as the reference
// proxies log nothing either.
//
//	go run ./examples/benchgw -addr 127.0.0.1:18810 -upstream http://127.0.0.1:18801
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/gateway"
	"github.com/mcphub/apigateway/limit"
	"github.com/mcphub/apigateway/telemetry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18810", "listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:18801", "the deployment's upstream URL")
	token := flag.String("token", "", "bearer token of user u (empty: a random one, printed)")
	redisURL := flag.String("redis-url", "",
		"count rate limits in this Redis (redis://HOST:PORT/DB) instead of memory")
	redisPool := flag.Int("redis-pool", 64, "Redis connection pool size")
	metrics := flag.Bool("metrics", false,
		"record metrics with the OpenTelemetry SDK (in process, not exported)")
	accessLog := flag.Bool("access-log", false, "write the JSON access log to stderr")
	pprofAddr := flag.String("pprof", "",
		"serve net/http/pprof on this loopback address, for profiles under load")
	flag.Parse()

	if *pprofAddr != "" {
		// The default mux holds the pprof handlers; it is served on its
		// own listener, never the gateway's.
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}

	if *token == "" {
		b := make([]byte, 16)
		rand.Read(b)
		*token = hex.EncodeToString(b)
	}
	limits := limit.Config{
		PerUser:       limit.Rate{Limit: 1 << 40, Period: time.Hour},
		PerDeployment: limit.Rate{Limit: 1 << 40, Period: time.Hour},
	}
	if *redisURL != "" {
		opt, err := redis.ParseURL(*redisURL)
		if err != nil {
			log.Fatalf("-redis-url: %v", err)
		}
		opt.ContextTimeoutEnabled = true
		opt.PoolSize = *redisPool
		client := redis.NewClient(opt)
		defer client.Close()
		if limits.Store, err = limit.NewRedisStore(client, "apigateway:benchgw"); err != nil {
			log.Fatalf("-redis-url: %v", err)
		}
	}
	tc := telemetry.Config{
		MeterProvider:  metricnoop.NewMeterProvider(),
		TracerProvider: tracenoop.NewTracerProvider(),
	}
	if *metrics {
		tc.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	}
	if *accessLog {
		tc.AccessLog = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}

	tokens, err := auth.NewBearerVerifier(auth.StaticTokens(map[string]string{*token: "u"}))
	if err != nil {
		log.Fatal(err)
	}
	store := gateway.DeploymentStoreFunc(func(_ context.Context, id string) (
		gateway.Deployment, error) {
		if id != "d" {
			return gateway.Deployment{}, gateway.ErrDeploymentNotFound
		}
		return gateway.Deployment{ID: "d", OwnerID: "u", Status: gateway.StatusRunning,
			UpstreamURL: *upstream}, nil
	})
	gw, err := gateway.New(gateway.Config{
		Verifier:    tokens,
		Deployments: store,
		CacheTTL:    time.Minute,
		CORS:        gateway.CORSConfig{AllowedOrigins: []string{"https://app.example.test"}},
		Limits:      limits,
		Telemetry:   tc,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()

	fmt.Printf("benchgw listening on http://%s: /api/gateway/u/d/ -> %s\n", *addr, *upstream)
	fmt.Printf("token=%s\n", *token)
	srv := &http.Server{
		Addr:              *addr,
		Handler:           gw.Wrap(http.NotFoundHandler()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	log.Fatal(srv.ListenAndServe())
}
