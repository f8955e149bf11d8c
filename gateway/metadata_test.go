package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mcphub/apigateway/gateway"
)

func TestUnauthenticatedMCPClientsLearnWhereToSignIn(t *testing.T) {
	f := newFixture(t, gateway.Config{ProtectedResource: &gateway.ResourceMetadata{
		AuthorizationServers: []string{"/", "https://auth.example.test"},
		Scopes:               []string{"deployments"},
	}})
	origin := f.srv.URL

	resp, _ := f.get(t, "/api/gateway/user-1/dep-1/mcp?x=1", "")
	challenge := resp.Header.Get("WWW-Authenticate")
	want := `resource_metadata="` + origin + `/.well-known/oauth-protected-resource/api/gateway/user-1/dep-1/mcp"`
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(challenge, want) {
		t.Fatalf("got %d, WWW-Authenticate %q; want 401 with %s", resp.StatusCode, challenge, want)
	}

	meta, err := http.Get(origin + "/.well-known/oauth-protected-resource/api/gateway/user-1/dep-1/mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Body.Close()
	var doc struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		Scopes               []string `json:"scopes_supported"`
	}
	if err := json.NewDecoder(meta.Body).Decode(&doc); err != nil || meta.StatusCode != 200 {
		t.Fatalf("metadata: %d, %v", meta.StatusCode, err)
	}
	if doc.Resource != origin+"/api/gateway/user-1/dep-1/mcp" {
		t.Errorf("resource = %q, want the MCP URL the client used", doc.Resource)
	}
	if len(doc.AuthorizationServers) != 2 || doc.AuthorizationServers[0] != origin+"/" ||
		doc.AuthorizationServers[1] != "https://auth.example.test" {
		t.Errorf("authorization_servers = %q", doc.AuthorizationServers)
	}
	if len(doc.Scopes) != 1 || doc.Scopes[0] != "deployments" {
		t.Errorf("scopes_supported = %q", doc.Scopes)
	}

	// Metadata is the same for any well-formed deployment path, so it
	// reveals nothing about which deployments exist.
	for path, status := range map[string]int{
		"/.well-known/oauth-protected-resource/api/gateway/user-9/no-such-dep/mcp": 200,
		"/.well-known/oauth-protected-resource/api/gateway/user-1/../x/":           404,
	} {
		resp := f.raw(t, "GET", path)
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != status {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, status)
		}
	}
}

func TestWithoutResourceMetadataTheChallengeIsPlain(t *testing.T) {
	f := newFixture(t, gateway.Config{})
	resp, _ := f.get(t, "/api/gateway/user-1/dep-1/mcp", "")
	if c := resp.Header.Get("WWW-Authenticate"); strings.Contains(c, "resource_metadata") {
		t.Errorf("WWW-Authenticate = %q, want no resource_metadata", c)
	}
	resp = f.raw(t, "GET", "/.well-known/oauth-protected-resource/api/gateway/user-1/dep-1/mcp")
	body, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(body), "authorization_servers") {
		t.Error("metadata served although not configured")
	}
}

func TestNewRefusesBadResourceMetadata(t *testing.T) {
	for name, m := range map[string]gateway.ResourceMetadata{
		"no servers":        {},
		"relative server":   {AuthorizationServers: []string{"auth"}},
		"protocol-relative": {AuthorizationServers: []string{"//evil.example"}},
		"origin with path":  {AuthorizationServers: []string{"/"}, PublicOrigin: "https://p.example/x"},
	} {
		cfg := gateway.Config{Verifier: sessionsOrTokens(t), Deployments: &fakeStore{}, ProtectedResource: &m}
		if _, err := gateway.New(cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
}

// Metadata built from the request's Host must not be shared by caches
// between hosts; with a configured public origin it may be.
func TestMetadataCachingFollowsWhereItsOriginComesFrom(t *testing.T) {
	const path = "/.well-known/oauth-protected-resource/api/gateway/user-1/dep-1/mcp"
	for _, tt := range []struct {
		publicOrigin, wantCache, wantServer string
	}{
		{"", "private, max-age=300", "http://evil.example/"},
		{"https://platform.example", "public, max-age=300", "https://platform.example/"},
	} {
		f := newFixture(t, gateway.Config{ProtectedResource: &gateway.ResourceMetadata{
			AuthorizationServers: []string{"/"},
			PublicOrigin:         tt.publicOrigin,
		}})
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Host = "evil.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			AuthorizationServers []string `json:"authorization_servers"`
		}
		json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if got := resp.Header.Get("Cache-Control"); got != tt.wantCache {
			t.Errorf("PublicOrigin %q: Cache-Control = %q, want %q", tt.publicOrigin, got, tt.wantCache)
		}
		if tt.publicOrigin == "" && !strings.Contains(strings.ToLower(strings.Join(resp.Header.Values("Vary"), ",")), "host") {
			t.Errorf("Vary = %q, want Host", resp.Header.Values("Vary"))
		}
		if len(doc.AuthorizationServers) != 1 || doc.AuthorizationServers[0] != tt.wantServer {
			t.Errorf("PublicOrigin %q: authorization_servers = %q, want [%s]",
				tt.publicOrigin, doc.AuthorizationServers, tt.wantServer)
		}
	}
}
