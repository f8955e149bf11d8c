// Command hub is a small hosting platform that puts demo deployments behind
// the gateway, to try it by hand and to test it end to end.
//
// Start it with
//
//	go run ./examples/hub
//
// It listens on 127.0.0.1:8080 (-addr HOST:PORT changes that) and first
// prints the demo credentials, one per line:
//
//	demo user=user-123 token=...
//	demo user=user-456 token=...
//	demo login=http://127.0.0.1:8080/login password=...
//
// They are new on every start; with -demo-seed STRING they, and the keys
// that sign session cookies, are derived from STRING instead, so scripts can
// know them in advance. Anyone who knows the seed knows the credentials: use
// it for demos and tests only. Logs are JSON on stderr.
//
// The gateway rate-limits each user (-user-rate, default 1200-M: 1200 a
// minute) and each deployment (-deployment-rate, default 2400-M), in ulule's
// N-S|M|H|D format. Counters live in memory; -redis-url redis://HOST:PORT/DB
// shares them between hubs started with the same URL. Browsers may call
// deployments from the origins in -cors-origins (comma-separated, default
// http://localhost:5173, a Vite dev server).
//
// API and MCP clients send a token:
//
//	curl -H "Authorization: Bearer $TOKEN" \
//	  http://127.0.0.1:8080/api/gateway/user-123/my-api-def456/api/v1/users
//
// A browser signs in at /login with a demo user and the printed password,
// and then finds its deployments on the home page. The deployments are real
// HTTP servers on their own loopback ports, started by the hub:
//
//	user-123/openwebui-abc123   web app: relative links, a redirect, a cookie,
//	                            server-sent events, a WebSocket echo
//	user-123/my-api-def456      JSON API, with /echo describing each request
//	user-123/webapp-789         static site
//	user-123/mcp-tools-42       MCP server (Streamable HTTP at /mcp, every
//	                            generation), tools add, echo and slow
//	user-123/mcp-legacy-43      the same MCP server over the legacy HTTP+SSE
//	                            transport, its stream at /sse
//	user-123/stopped-app-000    stopped: answered 503
//	user-123/broken-app-500     running, but its upstream refuses connections:
//	                            502s, then fast 503s once its breaker opens
//	user-456/private-app-777    web app of the other user
//
// Monitoring: /metrics is the Prometheus exposition of the gateway's
// OpenTelemetry metrics (requests by deployment and status, durations,
// bytes, limit decisions, breaker states); metrics and traces also go to an
// OTLP collector when OTEL_EXPORTER_OTLP_ENDPOINT is set. Every request is
// one JSON access-log line on stderr. -geoip-db PATH adds client countries
// from a MaxMind-format database. /api/usage shows the signed-in user (cookie
// or token) their own recent usage per deployment.
//
// Load and soak tests that need a deployment they can stop and start set
// HUB_EXTRA_UPSTREAM=URL: the hub then also lists user-123/external-app-900,
// running at URL.
//
// The hub serves plain HTTP and is meant for loopback: its session cookie is
// not marked Secure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// shutdownTimeout bounds the wait for open requests and streams when the
// hub is asked to stop; whatever is still open then is cut.
const shutdownTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "hub:", err)
		os.Exit(1)
	}
}

// errUsage reports bad command-line arguments; the flag package has already
// explained them.
var errUsage = errors.New("usage error")

// run is the whole program: it parses args, starts the hub, prints the demo
// credentials to stdout and serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("hub", flag.ContinueOnError)
	flags.SetOutput(stderr)
	addr := flags.String("addr", "127.0.0.1:8080", "listen on `HOST:PORT`")
	seed := flags.String("demo-seed", "",
		"derive demo tokens, password and session keys from `STRING` (demos and tests only)")
	userRate := flags.String("user-rate", defaultUserRate,
		"rate limit per user across their deployments, as `N-S|M|H|D` (\"unlimited\" lifts it)")
	deploymentRate := flags.String("deployment-rate", defaultDeploymentRate,
		"rate limit per deployment across its callers, as `N-S|M|H|D`")
	redisURL := flags.String("redis-url", "",
		"share rate-limit counters through the Redis at `URL` (redis://HOST:PORT/DB); empty counts in memory")
	geoDB := flags.String("geoip-db", "", "look client countries up in the MaxMind-format database at `PATH`")
	corsOrigins := flags.String("cors-origins", "http://localhost:5173",
		"comma-separated `ORIGINS` browsers may call deployments from (empty: none)")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "hub: unexpected arguments %q\n", flags.Args())
		flags.Usage()
		return errUsage
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	limits, closeLimits, err := limitConfig(*userRate, *deploymentRate, *redisURL, logger)
	if err != nil {
		fmt.Fprintln(stderr, "hub:", err)
		flags.Usage()
		return errUsage
	}
	defer closeLimits()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	h, err := newHub(ctx, options{Seed: *seed, Logger: logger, Limits: limits,
		CORSOrigins: splitList(*corsOrigins), GeoIPDB: *geoDB,
		ExtraUpstream: os.Getenv("HUB_EXTRA_UPSTREAM")})
	if err != nil {
		ln.Close()
		return err
	}
	defer h.Close()

	if err := writeDemoLines(stdout, "http://"+ln.Addr().String(), h.secrets); err != nil {
		ln.Close()
		return fmt.Errorf("printing demo credentials: %w", err)
	}
	return serve(ctx, newServer(h, logger), ln, logger)
}

// newServer returns the hub's HTTP server. It sets no ReadTimeout or
// WriteTimeout: those bound a whole request or response, and would cut
// server-sent events, MCP streams and request bodies that are streamed
// through the gateway. Slow clients are bounded by ReadHeaderTimeout and
// IdleTimeout instead.
func newServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serve serves on ln until ctx is done, then shuts srv down, giving open
// requests shutdownTimeout to finish.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, logger *slog.Logger) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("hub serving", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}

	logger.Info("hub shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("cutting requests still open at shutdown", "err", err)
		srv.Close()
	}
	<-served
	logger.Info("hub stopped serving")
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
