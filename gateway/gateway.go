package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/justinas/alice"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/breaker"
	"github.com/mcphub/apigateway/internal/clientip"
	"github.com/mcphub/apigateway/internal/requestid"
	"github.com/mcphub/apigateway/internal/respwriter"
	"github.com/mcphub/apigateway/limit"
	"github.com/mcphub/apigateway/proxy"
	"github.com/mcphub/apigateway/telemetry"
)

// A Gateway is the http.Handler a platform mounts under its prefix. It
// serves /{prefix}/{user_id}/{deployment_id}/{path...}: every request is
// authenticated, checked against the deployment's owner and status, and
// proxied to the deployment's upstream. Create one with [New].
type Gateway struct {
	prefix       string
	logger       *slog.Logger
	errorHandler func(w http.ResponseWriter, r *http.Request, err error)
	lookup       *lookup
	breakers     *breaker.Breakers
	telemetry    *telemetry.Telemetry
	routeName    string // the route template telemetry reports
	retryAfter   time.Duration
	maxBody      int64
	verifier     auth.SessionVerifier
	authn        *auth.Authenticator
	limits       *limit.Limiter
	origins      originSet                // allowed for every deployment
	trusted      func(*http.Request) bool // peer is a trusted proxy
	metadata     *ResourceMetadata        // nil: none published
	metaHandler  http.Handler             // serves metadata, with ids and headers
	handler      http.Handler
}

// New returns a Gateway for cfg, or an error naming what is missing or
// invalid in it.
func New(cfg Config) (*Gateway, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("gateway: Config.Verifier is required")
	}
	if cfg.Deployments == nil {
		return nil, errors.New("gateway: Config.Deployments is required")
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = "/api/gateway/"
	}
	if !strings.HasPrefix(prefix, "/") || strings.ContainsAny(prefix, "?#%\\") {
		return nil, fmt.Errorf("gateway: Config.Prefix %q must be a plain absolute path", cfg.Prefix)
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}

	g := &Gateway{
		prefix:       prefix,
		routeName:    prefix + "{user_id}/{deployment_id}/*",
		logger:       cfg.Logger,
		errorHandler: cfg.ErrorHandler,
		verifier:     cfg.Verifier,
		retryAfter:   orDefault(cfg.NotRunningRetryAfter, 10*time.Second),
		maxBody:      cfg.MaxRequestBodyBytes,
	}
	if g.errorHandler == nil {
		g.errorHandler = WriteError
	}
	ttl := cfg.CacheTTL
	if ttl == 0 {
		ttl = 5 * time.Second
	}
	size := cfg.CacheSize
	if size <= 0 {
		size = 10_000
	}
	var err error
	if cfg.StaleIfError < 0 {
		return nil, errors.New("gateway: Config.StaleIfError is negative")
	}
	g.lookup, err = newLookup(cfg.Deployments, lookupConfig{
		size:         size,
		ttl:          ttl,
		timeout:      orDefault(cfg.LookupTimeout, 5*time.Second),
		staleIfError: cfg.StaleIfError,
		onStale:      g.logStale,
	})
	if err != nil {
		return nil, err
	}

	g.trusted = clientip.Trusted(cfg.TrustedProxies)
	ac := auth.Config{
		Verifier:     cfg.Verifier,
		LoginURL:     cfg.LoginURL,
		ErrorHandler: g.errorHandler,
	}
	if cfg.ProtectedResource != nil {
		m := *cfg.ProtectedResource
		if err := m.validate(); err != nil {
			return nil, fmt.Errorf("gateway: Config.ProtectedResource: %w", err)
		}
		g.metadata = &m
		ac.ResourceMetadata = g.metadataURL
	}
	authn, err := auth.New(ac)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	transport := cfg.Transport
	if transport == nil {
		transport = proxy.NewTransport(proxy.TransportConfig{
			ResponseHeaderTimeout: cfg.UpstreamHeaderTimeout,
		})
	}
	tc := cfg.Telemetry
	if len(tc.TrustedProxies) == 0 {
		tc.TrustedProxies = cfg.TrustedProxies
	}
	if g.telemetry, err = telemetry.New(tc); err != nil {
		return nil, fmt.Errorf("gateway: Config.Telemetry: %w", err)
	}
	if g.breakers, err = g.newBreakers(cfg); err != nil {
		g.telemetry.Close()
		return nil, err
	}
	trusted := g.trusted
	upstream, err := proxy.New(proxy.Config{
		Transport:      g.breakers.RoundTripper(g.telemetry.Transport(transport)),
		SessionCookie:  cfg.SessionCookie,
		TrustForwarded: trusted,
		ErrorHandler:   g.upstreamFailed,
		Logger:         cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	headers := proxy.DefaultSecurityHeaders()
	if cfg.SecurityHeaders != nil {
		headers = *cfg.SecurityHeaders
	}
	limits, err := g.newLimiter(cfg)
	if err != nil {
		g.telemetry.Close()
		return nil, err
	}

	corsHandler, err := g.newCORS(cfg.CORS)
	if err != nil {
		g.telemetry.Close()
		return nil, err
	}

	// The per-address limit comes before CORS: answering a preflight for a
	// deployment's own origins may cost a store lookup, and floods of
	// those should be cheap to refuse too.
	chain := alice.New(requestid.Middleware(trusted), g.telemetry.Handler, headers.Handler, g.recover)
	if cfg.Limits.PerClientIP != (limit.Rate{}) {
		chain = chain.Append(limits.ClientIPHandler)
	}
	g.metaHandler = alice.New(requestid.Middleware(trusted), headers.Handler).ThenFunc(g.serveMetadata)
	g.authn, g.limits = authn, limits
	g.handler = chain.Append(corsHandler, g.admit).Then(upstream)
	return g, nil
}

// newLimiter builds the rate limiter from cfg.Limits, filling what the
// gateway knows: its trusted proxies, its error handler, and each
// deployment's own rate.
func (g *Gateway) newLimiter(cfg Config) (*limit.Limiter, error) {
	lc := cfg.Limits
	if len(lc.TrustedProxies) == 0 {
		lc.TrustedProxies = cfg.TrustedProxies
	}
	if lc.ErrorHandler == nil {
		lc.ErrorHandler = g.errorHandler
	}
	if lc.DeploymentRate == nil {
		lc.DeploymentRate = deploymentRate
	}
	hostHook := lc.OnDecision
	lc.OnDecision = func(ctx context.Context, d limit.Decision) {
		g.telemetry.LimitDecision(ctx, string(d.Scope), string(d.Outcome))
		if hostHook != nil {
			hostHook(ctx, d)
		}
	}
	l, err := limit.New(lc)
	if err != nil {
		return nil, fmt.Errorf("gateway: Config.Limits: %w", err)
	}
	return l, nil
}

// newBreakers builds the per-deployment circuit breakers from
// cfg.Breakers; a deployment's own settings come from the cached lookup.
func (g *Gateway) newBreakers(cfg Config) (*breaker.Breakers, error) {
	bc := cfg.Breakers
	if bc.Logger == nil {
		bc.Logger = cfg.Logger
	}
	hostHook := bc.OnStateChange
	bc.OnStateChange = func(id string, from, to breaker.State) {
		g.telemetry.BreakerStateChanged(id, from.String(), to.String())
		if hostHook != nil {
			hostHook(id, from, to)
		}
	}
	if bc.Key == nil {
		// The deployment's id, from the target authorize set: one context
		// value fewer per request than a key of the breaker's own.
		bc.Key = func(r *http.Request) (string, bool) {
			t, ok := proxy.FromContext(r.Context())
			if !ok {
				return "", false
			}
			return t.DeploymentID, true
		}
	}
	if bc.For == nil {
		bc.For = func(id string) (breaker.Settings, bool) {
			d, ok := g.lookup.cached(id)
			return d.Breaker, ok && d.Breaker != (breaker.Settings{})
		}
	}
	b, err := breaker.New(bc)
	if err != nil {
		return nil, fmt.Errorf("gateway: Config.Breakers: %w", err)
	}
	return b, nil
}

// deploymentRate is the limiter's per-deployment override: the Rate of the
// deployment authorize found, when it has one.
func deploymentRate(ctx context.Context, _ string) (limit.Rate, bool) {
	d, ok := ctx.Value(deploymentKey{}).(*resolved)
	if !ok || d.Rate == (limit.Rate{}) {
		return limit.Rate{}, false
	}
	return d.Rate, true
}

type deploymentKey struct{}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// ServeHTTP serves one gateway request. Requests outside the prefix are
// answered 404.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.handler.ServeHTTP(w, r)
}

// Wrap returns a handler that serves requests under the gateway's prefix
// itself, and the protected resource metadata of its deployments when
// Config.ProtectedResource is set, and passes every other request to
// platform. Prefer it to registering the gateway on an http.ServeMux:
// ServeMux cleans "..", "." and "//" out of paths, and redirects, before
// any handler runs, which changes paths that deployments should see
// verbatim.
func (g *Gateway) Wrap(platform http.Handler) http.Handler {
	metadataPrefix := wellKnownMetadata + g.prefix
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, g.prefix):
			g.handler.ServeHTTP(w, r)
		case g.metadata != nil && strings.HasPrefix(r.URL.Path, metadataPrefix):
			g.metaHandler.ServeHTTP(w, r)
		default:
			platform.ServeHTTP(w, r)
		}
	})
}

// Forget drops what the gateway cached about a deployment, so its next
// request sees the store's current owner, status and upstream, and resets
// its circuit breaker, so a redeployed instance gets requests at once. Call
// it after a redeploy, a stop or a transfer to apply the change at once
// rather than within Config.CacheTTL.
func (g *Gateway) Forget(deploymentID string) {
	g.lookup.forget(deploymentID)
	g.breakers.Reset(deploymentID)
}

// Close releases what the gateway holds open: the GeoIP database. Requests
// still in flight finish without a country.
func (g *Gateway) Close() error {
	return g.telemetry.Close()
}

// BreakerState reports the state of a deployment's circuit breaker on this
// replica.
func (g *Gateway) BreakerState(deploymentID string) breaker.State {
	return g.breakers.State(deploymentID)
}

// recover turns a panic below it into a 500 problem response, logged with
// the request id. http.ErrAbortHandler is passed on: it is how a handler
// (ReverseProxy among them) asks the server to drop a connection whose
// response cannot be completed.
func (g *Gateway) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The security headers middleware outside has wrapped w already;
		// only its Unwritten is needed here, so reuse it.
		rw, ok := w.(*respwriter.Writer)
		if !ok {
			rw = respwriter.Wrap(w, nil)
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			if g.logger != nil {
				id, _ := requestid.FromContext(r.Context())
				g.logger.ErrorContext(r.Context(), "gateway: panic serving request",
					"request_id", id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
			if !rw.Unwritten() {
				panic(http.ErrAbortHandler)
			}
			g.errorHandler(w, r, fmt.Errorf("gateway: panic: %v", v))
		}()
		next.ServeHTTP(rw, r)
	})
}

// admit runs the gateway's own checks on a request, in order: its route,
// its credentials, the deployment's owner and status, and the rate limits.
// A request that passes them all goes on to next with what they found in
// its context. The checks are steps of one handler, not a chain of
// middleware, so that the request and its context are copied once rather
// than once per check.
func (g *Gateway) admit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := g.route(w, r)
		if !ok {
			return
		}
		id, ok := g.authn.Authenticate(w, r)
		if !ok {
			return
		}
		// The request is proxied from here, not from within authorize:
		// its large frame is gone by then, so connection goroutines need
		// less stack while the response streams.
		if r, ok := g.authorize(w, r, &rt, id); ok {
			next.ServeHTTP(w, r)
		}
	})
}

// route parses the path, answering 404 for one that names no deployment
// and 308 to the slash form for a deployment's root without its slash.
// TRACE and CONNECT are refused: a deployment has no use for them, and
// TRACE would echo the request back to scripts. It reports whether the
// request may go on.
func (g *Gateway) route(w http.ResponseWriter, r *http.Request) (route, bool) {
	if r.Method == http.MethodTrace || r.Method == http.MethodConnect {
		g.errorHandler(w, r, ErrMethodNotAllowed)
		return route{}, false
	}
	rt, err := parseRoute(g.prefix, r.URL.EscapedPath())
	switch {
	case errors.Is(err, errNeedsSlash):
		target := rt.prefix + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		w.WriteHeader(http.StatusPermanentRedirect)
		return route{}, false
	case err != nil:
		g.errorHandler(w, r, err)
		return route{}, false
	}
	if rec, ok := telemetry.FromContext(r.Context()); ok {
		rec.Route = g.routeName
	}
	return rt, true
}

// authorize lets a request through only to a running deployment owned by
// the authenticated user named in the path, and within the rate limits:
// it returns the request to proxy, carrying the identity and the target,
// or answers the request itself and reports false. Another user's
// deployment and a missing one get the same answer, so ids cannot be
// probed.
func (g *Gateway) authorize(w http.ResponseWriter, r *http.Request, rt *route,
	id auth.Identity) (*http.Request, bool) {
	// The identity goes into the request's context once, with the rest,
	// when the request passes; a refusal gets a copy of the request with
	// it, so that error handlers see the same context either way.
	ctx := auth.NewContext(r.Context(), id)
	refuse := func(err error) { g.errorHandler(w, r.WithContext(ctx), err) }
	if id.UserID != rt.userID {
		refuse(ErrDeploymentNotFound)
		return nil, false
	}

	d, err := g.lookup.deployment(ctx, rt.deploymentID)
	switch {
	case err != nil:
		if g.logger != nil {
			reqID, _ := requestid.FromContext(ctx)
			g.logger.WarnContext(ctx, "gateway: deployment lookup failed",
				"request_id", reqID, "deployment_id", rt.deploymentID, "error", err)
		}
		refuse(err)
		return nil, false
	case !d.found || d.OwnerID != id.UserID:
		refuse(ErrDeploymentNotFound)
		return nil, false
	case d.Status != StatusRunning:
		refuse(&NotRunningError{DeploymentID: d.ID, Status: d.Status, RetryAfter: g.retryAfter})
		return nil, false
	case id.Credential == auth.CredentialCookie && needsOriginCheck(r) && !g.originAllowed(r, &d):
		refuse(ErrCrossOrigin)
		return nil, false
	}

	target := proxy.Target{
		Upstream:           d.upstream,
		Prefix:             rt.prefix,
		Path:               rt.rest,
		UserID:             rt.userID,
		DeploymentID:       rt.deploymentID,
		StripAuthorization: g.carriesPlatformToken(ctx, r, id),
	}
	if limitBytes := g.bodyLimit(&d); limitBytes > 0 && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > limitBytes {
			refuse(fmt.Errorf("%w: %w", proxy.ErrClientBody, &http.MaxBytesError{Limit: limitBytes}))
			return nil, false
		}
		// A body without a declared length (or lying about it) is cut
		// at the limit while it streams; the proxy then answers 413.
		limited := *r
		limited.Body = http.MaxBytesReader(w, r.Body, limitBytes)
		r = &limited
	}
	subject := limit.Subject{UserID: rt.userID, DeploymentID: rt.deploymentID}
	if rec, ok := telemetry.FromContext(ctx); ok {
		// Only now: ids in metrics come from authorized requests alone.
		rec.UserID, rec.DeploymentID = rt.userID, rt.deploymentID
		rec.BreakerState = g.breakers.State(rt.deploymentID).String()
		// MCP labels may need a look at the body: only now that the
		// caller is authorized is it worth waiting for. The tool
		// they name is what per-tool limits count.
		r = g.telemetry.LabelMCP(r)
		if rec.MCPMethod == mcpToolsCall {
			subject.Tool = rec.MCPTool
		}
	}
	// The breaker finds the deployment's id in the target (see
	// newBreakers), and the limiter is called with the subject rather than
	// reading it from the context: each context value costs allocations.
	// The target is copied into its context node, so it stays on the stack.
	ctx = proxy.NewContext(ctx, &target)
	if d.Rate != (limit.Rate{}) {
		// A copy, so that d itself, which most requests never store,
		// stays on the stack too.
		rated := d
		ctx = context.WithValue(ctx, deploymentKey{}, &rated)
	}
	r = r.WithContext(ctx)
	return r, g.limits.Check(w, r, subject)
}

// bodyLimit is the request body limit for d: its own when set, the
// gateway's otherwise; zero or less means none.
func (g *Gateway) bodyLimit(d *resolved) int64 {
	if d.MaxRequestBodyBytes != 0 {
		return d.MaxRequestBodyBytes
	}
	return g.maxBody
}

// mcpToolsCall is the MCP method whose requests name a tool.
const mcpToolsCall = "tools/call"

// logStale records that a deployment was served from its last verified
// answer because the store failed.
func (g *Gateway) logStale(ctx context.Context, id string, err error) {
	if g.logger != nil {
		g.logger.WarnContext(ctx, "gateway: deployment store failed; serving the last verified answer",
			"deployment_id", id, "error", err)
	}
}

// maxAuthorizationTokens is how many credentials in the Authorization
// headers of a cookie-authenticated request the gateway checks against the
// verifier; see carriesPlatformToken.
const maxAuthorizationTokens = 4

// carriesPlatformToken reports whether r's Authorization headers hold a
// credential of the platform, which must not reach the deployment. When
// the bearer token authenticated the request, they do. When the session
// cookie did, they may hold the application's own token, which must pass,
// or a platform token sent along with the cookie, which must not. What
// may be a credential in every element of every Authorization header (a
// header may list several, comma-separated, and a token may come with or
// without a scheme, or inside Basic credentials; see credentialsIn) is
// shown to the verifier alone, as a bearer token; only when it refuses
// them all are the headers taken for the application's. A
// verifier that cannot decide counts as a yes: a broken app request is
// better than a leaked platform token. So do more than
// maxAuthorizationTokens elements, which no application sends: each costs
// the verifier a lookup, before the request's rate limits are counted.
// The verifier sees ctx, the request's context with its identity.
func (g *Gateway) carriesPlatformToken(ctx context.Context, r *http.Request,
	id auth.Identity) bool {
	if id.Credential == auth.CredentialBearer {
		return true
	}
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return false
	}
	probe := &http.Request{Method: r.Method, URL: r.URL, Header: make(http.Header, 1)}
	probe = probe.WithContext(ctx)
	checked := 0
	for _, v := range values {
		for element := range strings.SplitSeq(v, ",") {
			for _, token := range credentialsIn(element) {
				if checked++; checked > maxAuthorizationTokens {
					return true
				}
				probe.Header.Set("Authorization", "Bearer "+token)
				if _, err := g.verifier.Verify(probe); !errors.Is(err, auth.ErrUnauthenticated) {
					return true
				}
			}
		}
	}
	return false
}

// credentialsIn returns what may be a credential in one element of an
// Authorization header: every word but a scheme's name, without the
// quotes or semicolon a careless client leaves around it, and for Basic
// the user name and password it encodes. Well-formed headers give one
// ("Bearer x", "Token x", a bare "x"); the rest must not hide a platform
// token behind a word more.
func credentialsIn(element string) []string {
	var found []string
	fields := strings.Fields(element)
	for i, f := range fields {
		f = strings.Trim(f, `"';`)
		switch {
		case f == "":
			continue
		case i < len(fields)-1 && isAuthScheme(f):
			continue
		}
		found = append(found, f)
		if i > 0 && strings.EqualFold(fields[0], "Basic") {
			if raw, ok := decodeBase64(f); ok {
				user, password, _ := strings.Cut(string(raw), ":")
				found = append(found, user, password)
			}
		}
	}
	return found
}

// decodeBase64 decodes s in any of the base64 alphabets and paddings a
// client may use for Basic credentials.
func decodeBase64(s string) ([]byte, bool) {
	for _, enc := range [...]*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			return raw, true
		}
	}
	return nil, false
}

// isAuthScheme reports whether word names a common HTTP authentication
// scheme, which is never a credential itself.
func isAuthScheme(word string) bool {
	for _, scheme := range [...]string{"Bearer", "Basic", "Token", "Digest"} {
		if strings.EqualFold(word, scheme) {
			return true
		}
	}
	return false
}

// upstreamFailed logs a request the proxy could not complete, with its
// request id, so the id in the problem response finds the cause, and then
// answers it. A client that went away is routine and logged at debug level.
func (g *Gateway) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	if g.logger != nil {
		level := slog.LevelWarn
		if errors.Is(err, proxy.ErrClientGone) || errors.Is(err, proxy.ErrClientBody) ||
			errors.Is(err, proxy.ErrBadUpgrade) || errors.Is(err, breaker.ErrOpen) {
			level = slog.LevelDebug // routine, or already logged when the breaker opened
		}
		reqID, _ := requestid.FromContext(r.Context())
		var deployment string
		if t, ok := proxy.FromContext(r.Context()); ok {
			deployment = t.DeploymentID
		}
		g.logger.Log(r.Context(), level, "gateway: upstream request failed",
			"request_id", reqID, "deployment_id", deployment, "error", err)
	}
	if rec, ok := telemetry.FromContext(r.Context()); ok && errors.Is(err, breaker.ErrOpen) {
		rec.BreakerState = breaker.Open.String()
	}
	g.errorHandler(w, r, err)
}
