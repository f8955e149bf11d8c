package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcphub/apigateway/internal/problem"
)

// wellKnownMetadata is the path prefix RFC 9728 puts in front of a
// resource's path to form the URL of its metadata.
const wellKnownMetadata = "/.well-known/oauth-protected-resource"

// ResourceMetadata is the OAuth protected resource metadata (RFC 9728) the
// gateway publishes for its deployments, so that MCP clients that
// implement MCP authorization learn from a 401 where to sign in.
type ResourceMetadata struct {
	// AuthorizationServers are the issuer URLs of the authorization
	// servers clients may get tokens from. An entry that is an absolute
	// path ("/", "/oauth") is taken relative to the origin the request was
	// sent to. Required.
	AuthorizationServers []string

	// Scopes are the scopes a client should ask for. Empty means none are
	// listed.
	Scopes []string

	// PublicOrigin, such as "https://platform.example", is the origin
	// resource URLs are built on. Empty means the origin each request was
	// sent to (its Host, and https when it came over TLS or a trusted
	// proxy says so); the metadata is then marked private to caches, since
	// a client chooses its Host. Set it in production.
	PublicOrigin string
}

func (m *ResourceMetadata) validate() error {
	if len(m.AuthorizationServers) == 0 {
		return errors.New("AuthorizationServers is required")
	}
	for _, s := range m.AuthorizationServers {
		u, err := url.Parse(s)
		if err != nil || (!u.IsAbs() && !strings.HasPrefix(s, "/")) || strings.HasPrefix(s, "//") {
			return fmt.Errorf("authorization server %q is neither an absolute URL nor an absolute path", s)
		}
	}
	if m.PublicOrigin != "" {
		u, err := url.Parse(m.PublicOrigin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") {
			return fmt.Errorf("PublicOrigin %q is not scheme://host[:port]", m.PublicOrigin)
		}
	}
	return nil
}

// origin returns the origin resource URLs are built on for r.
func (g *Gateway) origin(r *http.Request) string {
	if o := g.metadata.PublicOrigin; o != "" {
		return strings.TrimSuffix(o, "/")
	}
	return g.scheme(r) + "://" + r.Host
}

// metadataURL is the auth challenge's resource_metadata for r: the
// metadata of the resource r asked for, its path without the query.
func (g *Gateway) metadataURL(r *http.Request) string {
	return g.origin(r) + wellKnownMetadata + r.URL.EscapedPath()
}

// serveMetadata answers GET /.well-known/oauth-protected-resource/{path},
// for any path under the gateway that names a deployment. It says nothing
// about whether the deployment exists, so ids cannot be probed here.
func (g *Gateway) serveMetadata(w http.ResponseWriter, r *http.Request) {
	resource := strings.TrimPrefix(r.URL.EscapedPath(), wellKnownMetadata)
	if _, err := parseRoute(g.prefix, resource); err != nil && !errors.Is(err, errNeedsSlash) {
		problem.Write(w, r, problem.NotFound.With("No deployment is served at this path."))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		problem.Write(w, r, problem.MethodNotAllowed.With("Protected resource metadata is read with GET."))
		return
	}

	origin := g.origin(r)
	servers := make([]string, len(g.metadata.AuthorizationServers))
	for i, s := range g.metadata.AuthorizationServers {
		if strings.HasPrefix(s, "/") {
			s = origin + s
		}
		servers[i] = s
	}
	doc := struct {
		Resource               string   `json:"resource"`
		AuthorizationServers   []string `json:"authorization_servers"`
		ScopesSupported        []string `json:"scopes_supported,omitempty"`
		BearerMethodsSupported []string `json:"bearer_methods_supported"`
	}{origin + resource, servers, g.metadata.Scopes, []string{"header"}}

	w.Header().Set("Content-Type", "application/json")
	if g.metadata.PublicOrigin != "" {
		w.Header().Set("Cache-Control", "public, max-age=300")
	} else {
		// Built from the request's Host: a shared cache that served it
		// for another Host would send clients to whatever authorization
		// server a forged Host named.
		w.Header().Set("Cache-Control", "private, max-age=300")
		w.Header().Add("Vary", "Host")
	}
	if r.Method == http.MethodHead {
		return
	}
	json.NewEncoder(w).Encode(doc)
}
