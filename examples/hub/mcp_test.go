package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bearer adds an Authorization header to every request it sends.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func TestMCPThroughGateway(t *testing.T) {
	th := startHub(t)
	transport := &mcp.StreamableClientTransport{
		Endpoint:   th.url + "/api/gateway/user-123/mcp-tools-42/mcp",
		HTTPClient: &http.Client{Transport: bearer{th.token("user-123"), th.client.Transport}},
		MaxRetries: -1,
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "hub-test", Version: "v0.0.1"}, nil)

	session, err := client.Connect(t.Context(), transport, nil)
	if err != nil {
		t.Fatalf("Connect (initialize): %v", err)
	}
	defer session.Close()
	if got := session.InitializeResult().ServerInfo.Name; got != "hub-demo-tools" {
		t.Errorf("server name = %q, want hub-demo-tools", got)
	}

	listAndAdd(t, session, "add", "echo")
}

// listAndAdd lists the tools of session, expecting want among them, and
// checks that add(2, 3) answers 5.
func listAndAdd(t *testing.T, session *mcp.ClientSession, want ...string) {
	t.Helper()
	ctx := t.Context()
	tools, err := session.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("tools = %q, want %q among them", names, w)
		}
	}

	res, err := session.CallTool(ctx, &mcp.CallToolParams{
		Name:      "add",
		Arguments: map[string]any{"a": 2, "b": 3},
	})
	if err != nil {
		t.Fatalf("CallTool(add): %v", err)
	}
	if res.IsError || len(res.Content) != 1 {
		t.Fatalf("CallTool(add) = %+v, want one content item", res)
	}
	if text, ok := res.Content[0].(*mcp.TextContent); !ok || text.Text != "5" {
		t.Errorf("add(2, 3) = %#v, want text 5", res.Content[0])
	}
}

func TestMCPNeedsToken(t *testing.T) {
	th := startHub(t)
	transport := &mcp.StreamableClientTransport{
		Endpoint:   th.url + "/api/gateway/user-123/mcp-tools-42/mcp",
		HTTPClient: th.client,
		MaxRetries: -1,
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "hub-test", Version: "v0.0.1"}, nil)

	session, err := client.Connect(t.Context(), transport, nil)
	if err == nil {
		session.Close()
		t.Fatal("Connect succeeded without a token")
	}
	// The SDK reports the HTTP status text of a refused request.
	if !strings.Contains(err.Error(), http.StatusText(http.StatusUnauthorized)) {
		t.Errorf("Connect: %v, want it refused as Unauthorized", err)
	}
}

func TestMCPClientsWithoutTokenFindTheResourceMetadata(t *testing.T) {
	th := startHub(t)
	resp, _ := th.do(t, http.MethodPost, "/api/gateway/user-123/mcp-tools-42/mcp",
		http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"}},
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	challenge := resp.Header.Get("WWW-Authenticate")
	const metaPath = "/.well-known/oauth-protected-resource/api/gateway/user-123/mcp-tools-42/mcp"
	wantParam := `resource_metadata="` + th.url + metaPath + `"`
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(challenge, wantParam) {
		t.Fatalf("got %d, WWW-Authenticate %q; want 401 naming the resource metadata", resp.StatusCode, challenge)
	}
	resp, body := th.get(t, metaPath, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"authorization_servers":["`+th.url+`/"]`) {
		t.Errorf("metadata: %d %s", resp.StatusCode, body)
	}
}
