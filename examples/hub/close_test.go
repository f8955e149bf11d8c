package main

import (
	"net/http"
	"strings"
	"testing"
)

// Closing the hub ends the MCP sessions that clients opened and never
// ended, which the SDK would otherwise keep until they had been idle for
// mcpSessionTimeout.
func TestCloseEndsMCPSessionsLeftOpen(t *testing.T) {
	th := startHub(t)
	req, _ := http.NewRequest("POST", th.url+"/api/gateway/user-123/mcp-tools-42/mcp", strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",`+
			`"capabilities":{},"clientInfo":{"name":"leaves-it-open","version":"1"}}}`))
	req.Header.Set("Authorization", "Bearer "+th.token("user-123"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := th.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Mcp-Session-Id") == "" {
		t.Fatalf("initialize: status %d, no Mcp-Session-Id", resp.StatusCode)
	}
	app := mcpAppOf(t, th.hub)
	if n := sessionCount(app); n != 1 {
		t.Fatalf("before Close: %d sessions, want 1", n)
	}

	th.Close()

	if n := sessionCount(app); n != 0 {
		t.Errorf("after Close: %d sessions, want 0", n)
	}
}

// mcpAppOf returns the hub's mcp-tools-42 handler.
func mcpAppOf(t *testing.T, h *hub) *mcpApp {
	t.Helper()
	for _, c := range h.apps.closers {
		if app, ok := c.(*mcpApp); ok {
			return app
		}
	}
	t.Fatal("the hub has no MCP app to close")
	return nil
}

func sessionCount(app *mcpApp) int {
	n := 0
	for range app.server.Sessions() {
		n++
	}
	return n
}
