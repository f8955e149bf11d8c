package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcphub/apigateway/gateway"
)

// mcpUpstream is an MCP server deployment built with the official Go SDK,
// recording the MCP request headers that reach it.
type mcpUpstream struct {
	mu      sync.Mutex
	methods []string // Mcp-Method of each POST, "" when absent
	params  []string // every Mcp-Param-Region value
}

func (u *mcpUpstream) record(r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if r.Method == http.MethodPost {
		u.methods = append(u.methods, r.Header.Get("Mcp-Method"))
	}
	u.params = append(u.params, r.Header.Values("Mcp-Param-Region")...)
}

func (u *mcpUpstream) seen() (methods, params []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.methods), slices.Clone(u.params)
}

// startMCPUpstream serves an SDK server with one tool, where, whose region
// argument is bound to the Mcp-Param-Region header: clients of the
// stateless generation send it, and the SDK server refuses a call whose
// headers do not match its body. stateless picks the SDK's stateless
// handler, which speaks only the stateless generation, over its
// session-based one, which speaks every generation before it.
func startMCPUpstream(t *testing.T, stateless bool) (*mcpUpstream, string) {
	t.Helper()
	server := mcp.NewServer(&mcp.Implementation{Name: "gateway-test", Version: "v0.0.1"}, nil)
	server.AddTool(&mcp.Tool{
		Name: "where",
		InputSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"region": map[string]any{"type": "string", "x-mcp-header": "Region"},
			},
		},
	}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}}, nil
	})
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{Stateless: stateless})
	u := &mcpUpstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.record(r)
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return u, srv.URL
}

// A current SDK client probes with the stateless generation's discovery
// call first and falls back to a classic initialize when the server keeps
// sessions; both paths, and the headers each generation adds, must pass
// through the gateway unchanged.
func TestMCPClientProbesAndSettlesThroughTheGateway(t *testing.T) {
	tests := []struct {
		name        string
		stateless   bool
		wantVersion string
		wantSession bool
	}{
		{"stateless server", true, "2026-07-28", false},
		{"session server", false, "2025-11-25", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, upURL := startMCPUpstream(t, tt.stateless)
			f := newFixture(t, gateway.Config{})
			f.store.set(gateway.Deployment{ID: "dep-1", OwnerID: "user-1",
				Status: gateway.StatusRunning, UpstreamURL: upURL})
			transport := &mcp.StreamableClientTransport{
				Endpoint:   f.srv.URL + "/api/gateway/user-1/dep-1/mcp",
				HTTPClient: &http.Client{Transport: bearerTransport{tokenUser1}},
				MaxRetries: -1,
			}
			client := mcp.NewClient(&mcp.Implementation{Name: "probe", Version: "v0.0.1"}, nil)

			session, err := client.Connect(t.Context(), transport, nil)

			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			defer session.Close()
			if got := session.InitializeResult().ProtocolVersion; got != tt.wantVersion {
				t.Errorf("negotiated %q, want %q", got, tt.wantVersion)
			}
			if got := session.ID() != ""; got != tt.wantSession {
				t.Errorf("session id %q, want one: %v", session.ID(), tt.wantSession)
			}
			if _, err := session.ListTools(t.Context(), nil); err != nil {
				t.Fatalf("ListTools: %v", err)
			}
			res, err := session.CallTool(t.Context(), &mcp.CallToolParams{
				Name:      "where",
				Arguments: map[string]any{"region": "eu-west"},
			})
			if err != nil || res.IsError {
				t.Fatalf("CallTool(where) = %+v, %v", res, err)
			}
			if text := res.Content[0].(*mcp.TextContent).Text; text != `{"region":"eu-west"}` {
				t.Errorf("where got arguments %s, want the region", text)
			}

			methods, params := up.seen()
			if len(methods) == 0 || methods[0] != "server/discover" {
				t.Errorf("first request's Mcp-Method = %q, want the client's server/discover probe", methods)
			}
			if tt.stateless {
				if !slices.Contains(methods, "tools/call") {
					t.Errorf("Mcp-Method values %q lack tools/call", methods)
				}
				if !slices.Equal(params, []string{"eu-west"}) {
					t.Errorf("Mcp-Param-Region values %q, want [eu-west]", params)
				}
			}
		})
	}
}

// bearerTransport adds a bearer token to every request.
type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}
