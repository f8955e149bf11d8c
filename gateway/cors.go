package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/cors"

	"github.com/mcphub/apigateway/limit"
	"github.com/mcphub/apigateway/proxy"
)

// CORSConfig configures the gateway's CORS policy. The gateway is the one
// CORS authority for deployments: CORS headers a deployment sends are
// dropped. Requests may carry credentials (the session cookie), so an
// allowed origin is echoed, never "*". The zero value allows no
// cross-origin callers except those a deployment lists itself.
type CORSConfig struct {
	// AllowedOrigins lists the origins browsers may call every deployment
	// from, as scheme://host[:port]. A leading "*." in the host allows its
	// subdomains ("https://*.example.com", not example.com itself). "*",
	// "null", paths and other patterns are refused by [New]; the public
	// suffix list is not consulted, so "https://*.co.uk" is accepted and
	// would allow every site under it. Each [Deployment] may add its own
	// through CORSOrigins.
	AllowedOrigins []string

	// AllowedHeaders are request headers allowed besides Authorization,
	// Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version,
	// Mcp-Method, Mcp-Name, Mcp-Param-* (any name), Last-Event-ID and
	// X-Requested-With.
	AllowedHeaders []string

	// ExposedHeaders are response headers exposed to scripts besides
	// Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate, Retry-After,
	// X-Request-Id and the rate-limit headers.
	ExposedHeaders []string

	// MaxAge is how long browsers may cache a preflight's answer. Zero
	// means 10 minutes.
	MaxAge time.Duration

	// AllowPrivateNetwork answers Private Network Access preflights
	// (Access-Control-Request-Private-Network) positively. False leaves
	// them unanswered, so browsers refuse.
	AllowPrivateNetwork bool
}

// corsMethods are the methods cross-origin callers may use: all that web
// apps and MCP clients need (MCP ends sessions with DELETE).
var corsMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}

var corsAllowedHeaders = []string{
	"Authorization", "Content-Type", "Accept", "Mcp-Session-Id", "Mcp-Protocol-Version",
	"Mcp-Method", "Mcp-Name", "Last-Event-ID", "X-Requested-With",
}

// An originSet matches Origin header values against allowed origins.
type originSet struct {
	exact    map[string]bool
	suffixes []originSuffix // from "*." patterns
}

type originSuffix struct {
	scheme string
	suffix string // ".example.com" or ".example.com:8443"
}

// parseOrigins builds the set of patterns, or says which one is refused
// and why.
func parseOrigins(patterns []string) (originSet, error) {
	var s originSet
	for _, p := range patterns {
		if err := s.add(p); err != nil {
			return originSet{}, err
		}
	}
	return s, nil
}

func (s *originSet) add(pattern string) error {
	p := strings.ToLower(strings.TrimSpace(pattern))
	if p == "*" || p == "null" {
		return fmt.Errorf("origin %q would hand credentialed responses to any site", pattern)
	}
	scheme, host, ok := strings.Cut(p, "://")
	if !ok || (scheme != "http" && scheme != "https") || host == "" {
		return fmt.Errorf("origin %q is not http(s)://host[:port]", pattern)
	}
	if strings.ContainsAny(host, "/?#@\\ ") {
		return fmt.Errorf("origin %q must not have a path, query or user", pattern)
	}
	wildcard := strings.HasPrefix(host, "*.")
	rest := strings.TrimPrefix(host, "*.")
	if strings.Contains(rest, "*") {
		return fmt.Errorf("origin %q: only a leading \"*.\" is allowed", pattern)
	}
	if _, err := url.Parse(scheme + "://" + rest); err != nil {
		return fmt.Errorf("origin %q: %v", pattern, err)
	}
	if !wildcard {
		if s.exact == nil {
			s.exact = make(map[string]bool)
		}
		s.exact[scheme+"://"+rest] = true
		return nil
	}
	name, _, _ := strings.Cut(rest, ":")
	if !strings.Contains(name, ".") {
		return fmt.Errorf("origin %q: a wildcard must leave at least two labels (*.example.com)", pattern)
	}
	s.suffixes = append(s.suffixes, originSuffix{scheme: scheme, suffix: "." + rest})
	return nil
}

// match reports whether origin, an Origin header value, is allowed.
func (s *originSet) match(origin string) bool {
	if len(s.exact) == 0 && len(s.suffixes) == 0 {
		return false
	}
	o := strings.ToLower(origin)
	if s.exact[o] {
		return true
	}
	scheme, host, ok := strings.Cut(o, "://")
	if !ok {
		return false
	}
	for _, w := range s.suffixes {
		label, found := strings.CutSuffix(host, w.suffix)
		if found && scheme == w.scheme && label != "" && !strings.ContainsAny(label, ".:/") {
			return true
		}
	}
	return false
}

// newCORS builds the CORS middleware. It runs before routing and
// authentication: preflights carry no credentials, and are answered here
// without touching limits, the deployment or its upstream.
func (g *Gateway) newCORS(cfg CORSConfig) (func(http.Handler) http.Handler, error) {
	origins, err := parseOrigins(cfg.AllowedOrigins)
	if err != nil {
		return nil, fmt.Errorf("gateway: Config.CORS.AllowedOrigins: %w", err)
	}
	g.origins = origins

	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = 10 * time.Minute
	}
	exposed := append([]string{"Mcp-Session-Id", "Mcp-Protocol-Version", "WWW-Authenticate",
		"Retry-After", proxy.HeaderRequestID}, limit.ExposedHeaders()...)
	allowedHeaders := append(append([]string(nil), corsAllowedHeaders...), cfg.AllowedHeaders...)
	opts := cors.Options{
		AllowOriginVaryRequestFunc: g.corsAllows,
		AllowedMethods:             corsMethods,
		AllowedHeaders:             allowedHeaders,
		ExposedHeaders:             append(dedupe(exposed), cfg.ExposedHeaders...),
		MaxAge:                     int(maxAge / time.Second),
		AllowCredentials:           true,
		AllowPrivateNetwork:        cfg.AllowPrivateNetwork,
	}
	named := cors.New(opts)
	// MCP clients send a tool's arguments in Mcp-Param-{Name} headers
	// whose names the tool chooses, so no list can name them all. rs/cors
	// matches header names exactly; a preflight asking for such headers,
	// and otherwise only for allowed ones, is answered by a second policy
	// identical but for accepting (and echoing) any header name.
	opts.AllowedHeaders = []string{"*"}
	withParams := cors.New(opts)
	allowed := make(map[string]bool, len(allowedHeaders))
	for _, h := range allowedHeaders {
		allowed[strings.ToLower(strings.TrimSpace(h))] = true
	}
	return func(next http.Handler) http.Handler {
		strict, params := named.Handler(next), withParams.Handler(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(r.Header["Origin"]) > 1 {
				// Origin is a single value; no browser sends two. rs/cors
				// would echo them all, the second unchecked.
				g.errorHandler(w, r, ErrRepeatedOrigin)
				return
			}
			if r.Method == http.MethodOptions && asksForMCPParams(r.Header["Access-Control-Request-Headers"], allowed) {
				params.ServeHTTP(w, r)
				return
			}
			strict.ServeHTTP(w, r)
		})
	}, nil
}

// mcpParamPrefix starts the name of every header carrying a tool argument.
const mcpParamPrefix = "mcp-param-"

// maxPreflightHeaders bounds how many header names a preflight may ask
// for and still be answered by the Mcp-Param-* policy.
const maxPreflightHeaders = 64

// asksForMCPParams reports whether a preflight's requested headers name at
// least one Mcp-Param-* header and nothing else that allowed lacks.
// Browsers send the names lower-cased and comma-separated in one header.
func asksForMCPParams(requested []string, allowed map[string]bool) bool {
	params, names := false, 0
	for _, line := range requested {
		for name := range strings.SplitSeq(line, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if names++; names > maxPreflightHeaders {
				return false
			}
			switch {
			case name == "":
			case allowed[name]:
			case len(name) > len(mcpParamPrefix) && strings.HasPrefix(name, mcpParamPrefix) && validHeaderName(name):
				params = true
			default:
				return false
			}
		}
	}
	return params
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// corsAllows is the CORS origin check: an origin allowed for every
// deployment, or one the addressed deployment lists. Answering the latter
// means looking the deployment up before authentication (through the
// cache), since preflights carry no credentials.
func (g *Gateway) corsAllows(r *http.Request, origin string) (bool, []string) {
	if origin == "" {
		return false, nil
	}
	if g.origins.match(origin) {
		return true, nil
	}
	rt, err := parseRoute(g.prefix, r.URL.EscapedPath())
	if err != nil {
		return false, nil
	}
	d, err := g.lookup.deployment(r.Context(), rt.deploymentID)
	if err != nil || !d.found || d.OwnerID != rt.userID {
		return false, nil
	}
	return d.origins.match(origin), nil
}

// sameOrigin reports whether origin is the origin r was sent to: a page
// of the platform itself.
func (g *Gateway) sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return false
	}
	return strings.EqualFold(u.Scheme, g.scheme(r))
}

// scheme is the scheme r was sent with: https over TLS, or when a trusted
// proxy says so in X-Forwarded-Proto; http otherwise.
func (g *Gateway) scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if g.trusted != nil && g.trusted(r) && r.Header.Get("X-Forwarded-Proto") == "https" {
		return "https"
	}
	return "http"
}

func dedupe(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0]
	for _, n := range names {
		if k := http.CanonicalHeaderKey(n); !seen[k] {
			seen[k] = true
			out = append(out, n)
		}
	}
	return out
}

// ErrRepeatedOrigin refuses a request with more than one Origin header,
// which no browser sends. Answered 400.
var ErrRepeatedOrigin = errors.New("gateway: more than one Origin header")

// ErrCrossOrigin refuses a WebSocket handshake or a state-changing request
// that a browser sent with the platform's session cookie from an origin the
// deployment does not allow: cross-site WebSocket hijacking or request
// forgery. Answered 403.
var ErrCrossOrigin = errors.New("gateway: cross-origin request with the session cookie refused")

// needsOriginCheck reports whether r, if it came with the ambient session
// cookie, could act for the user on another site's behalf: a WebSocket
// handshake (not covered by CORS at all) or a method that changes state.
func needsOriginCheck(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	}
	return true
}

// originAllowed decides the origin check. Browsers send Origin on every
// WebSocket handshake and cross-origin state-changing request, so a request
// without one comes from a non-browser client, which cannot ride on a
// user's cookie, and is allowed, unless fetch metadata says it is
// cross-site. Otherwise the origin must be the platform's own or one CORS
// allows for the deployment; "null" never is.
func (g *Gateway) originAllowed(r *http.Request, d *resolved) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		site := r.Header.Get("Sec-Fetch-Site")
		return site == "" || site == "same-origin" || site == "none"
	}
	if g.sameOrigin(r, origin) {
		return true
	}
	return g.origins.match(origin) || d.origins.match(origin)
}
