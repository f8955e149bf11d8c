package main

import (
	"net/http"
	"strings"
	"testing"
)

func TestMCPPreflightFromTheDevServerOrigin(t *testing.T) {
	s := startRun(t, "-addr", "127.0.0.1:0")
	base := strings.TrimSuffix(s.login, "/login")
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, base+"/api/gateway/user-123/mcp-tools-42/mcp", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,mcp-protocol-version,mcp-session-id")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	resp := preflight("http://localhost:5173")
	if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Errorf("preflight from the default origin: %d, Access-Control-Allow-Origin %q",
			resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	if got := preflight("http://localhost:9999").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("preflight from another origin: Access-Control-Allow-Origin = %q, want none", got)
	}

	req, _ := http.NewRequest("POST", base+"/api/gateway/user-123/mcp-tools-42/mcp", strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",`+
			`"capabilities":{},"clientInfo":{"name":"browser","version":"1"}}}`))
	req.Header.Set("Origin", "http://localhost:5173")
	req.Header.Set("Authorization", "Bearer "+s.tokens["user-123"])
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Mcp-Session-Id") == "" {
		t.Fatalf("initialize: status %d, no Mcp-Session-Id", resp.StatusCode)
	}
	exposed := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers"))
	if !strings.Contains(exposed, "mcp-session-id") {
		t.Errorf("Access-Control-Expose-Headers = %q, want Mcp-Session-Id", exposed)
	}
}
