package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/gateway"
	"github.com/mcphub/apigateway/limit"
)

// The names the hub and the gateway share.
const (
	gatewayPrefix = "/api/gateway/"
	sessionCookie = "gateway_session"
	loginPath     = "/login"
)

// options configure [newHub]. The zero value works.
type options struct {
	// Seed, when not empty, derives the demo credentials and session keys
	// from it. Empty means random ones.
	Seed string

	// Logger receives the hub's and the gateway's logs. Nil means silent.
	Logger *slog.Logger

	// SessionTTL is how long a login lasts. Zero means 12 hours.
	SessionTTL time.Duration

	// Limits is the gateway's rate-limit configuration. The zero value
	// means the limit package's defaults, counted in memory.
	Limits limit.Config

	// CORSOrigins are the origins browsers may call deployments from.
	// Empty means none.
	CORSOrigins []string

	// GeoIPDB is the path of a MaxMind-format database for client
	// countries. Empty means every country is "unknown".
	GeoIPDB string

	// ExtraUpstream, when set, is the URL of one more running deployment
	// of user-123, extraDeployment, served by a process of the caller's,
	// which can stop and start it. Empty means none.
	ExtraUpstream string
}

// extraDeployment is the id of the deployment at options.ExtraUpstream.
const extraDeployment = "external-app-900"

// A hub is the demo platform: its own pages (home, login, logout), the
// gateway under gatewayPrefix, and the demo deployments behind it.
type hub struct {
	handler http.Handler
	secrets secrets
	store   *memoryStore
	apps    *demoApps
	obs     *observability
	gw      *gateway.Gateway
}

// newHub starts the demo deployments and builds the hub's handler. Close
// the hub to stop the deployments.
func newHub(ctx context.Context, opts options) (*hub, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ttl := opts.SessionTTL
	if ttl == 0 {
		ttl = 12 * time.Hour
	}
	sec := newSecrets(opts.Seed)

	apps, err := startDemoApps(ctx, logger)
	if err != nil {
		return nil, err
	}
	if opts.ExtraUpstream != "" {
		apps.listings = append(apps.listings, listing{
			Deployment: gateway.Deployment{ID: extraDeployment, OwnerID: "user-123",
				Status: gateway.StatusRunning, UpstreamURL: opts.ExtraUpstream},
			Title: "External app at " + opts.ExtraUpstream,
			Entry: "/",
		})
	}
	h := &hub{secrets: sec, apps: apps}
	if h.obs, err = newObservability(ctx); err != nil {
		apps.Close()
		return nil, err
	}
	if h.store, err = newMemoryStore(apps.listings); err != nil {
		h.Close()
		return nil, err
	}
	if h.handler, err = h.routes(sec, ttl, opts, logger); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// routes wires the verifiers, the gateway and the hub's own pages.
func (h *hub) routes(sec secrets, ttl time.Duration, opts options,
	logger *slog.Logger) (http.Handler, error) {
	cookies := sessions.NewCookieStore(sec.hashKey, sec.blockKey)
	cookies.MaxAge(int(ttl / time.Second))
	cookies.Options.Path = "/"
	cookies.Options.HttpOnly = true
	cookies.Options.SameSite = http.SameSiteLaxMode
	cookies.Options.Secure = false // plain HTTP on loopback

	// The cookie goes first: a signed-in browser's request that carries an
	// app's own Authorization header must still be taken for the session.
	revoked := newRevocations()
	byCookie, err := auth.NewCookieVerifier(auth.CookieConfig{Store: cookies, Name: sessionCookie,
		Check: revoked.check})
	if err != nil {
		return nil, fmt.Errorf("creating cookie verifier: %w", err)
	}
	byToken, err := auth.NewBearerVerifier(auth.StaticTokens(sec.tokenUsers()))
	if err != nil {
		return nil, fmt.Errorf("creating bearer verifier: %w", err)
	}
	verifier := auth.FirstOf(byCookie, byToken)

	gw, err := gateway.New(gateway.Config{
		Prefix:        gatewayPrefix,
		Verifier:      verifier,
		Deployments:   h.store,
		SessionCookie: sessionCookie,
		LoginURL:      loginPath,
		Limits:        opts.Limits,
		CORS:          gateway.CORSConfig{AllowedOrigins: opts.CORSOrigins},
		Telemetry:     h.obs.config(logger, opts.GeoIPDB),
		// MCP clients that implement MCP authorization learn from a 401
		// where to sign in; for the demo, the hub itself is the
		// authorization server.
		ProtectedResource: &gateway.ResourceMetadata{AuthorizationServers: []string{"/"}},
		Logger:            logger,
	})
	if err != nil {
		return nil, fmt.Errorf("creating gateway: %w", err)
	}
	h.gw = gw

	login := &loginHandler{
		store:    cookies,
		password: sec.password,
		ttl:      ttl,
		revoked:  revoked,
		logger:   logger,
	}
	home := &homeHandler{verifier: verifier, store: h.store}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", home)
	mux.HandleFunc("GET "+loginPath, login.form)
	mux.HandleFunc("POST "+loginPath, login.signIn)
	mux.HandleFunc("GET /logout", login.signOut)
	mux.HandleFunc("POST /logout", login.signOut)
	mux.Handle("GET /metrics", h.obs.metrics())
	mux.Handle("GET /api/usage", &usageHandler{verifier: verifier, store: h.store, usage: h.obs.usage})
	platform := pageHeaders(http.NewCrossOriginProtection().Handler(mux))

	// Wrap, not a mux pattern: the mux would clean ".." and "//" out of
	// gateway paths before the gateway could refuse them.
	return gw.Wrap(platform), nil
}

// ServeHTTP serves the hub's pages and the gateway.
func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.handler.ServeHTTP(w, r)
}

// Close ends the streams to the demo deployments and stops their servers.
func (h *hub) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := errors.Join(h.apps.Close(), h.obs.Close(ctx))
	if h.gw != nil {
		err = errors.Join(err, h.gw.Close())
	}
	return err
}

// pageHeaders sets the security headers of the hub's own pages, which are
// never framed, cached or sniffed, and load nothing from elsewhere.
func pageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
