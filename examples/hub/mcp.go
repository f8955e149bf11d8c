package main

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpSessionTimeout closes MCP sessions that have been idle this long, so
// clients that vanish without ending their session do not pile up.
const mcpSessionTimeout = 10 * time.Minute

// newMCPApp returns the mcp-tools-42 demo: an MCP server with the tools add
// and echo, served over Streamable HTTP at /mcp.
func newMCPApp(logger *slog.Logger) http.Handler {
	server := mcp.NewServer(&mcp.Implementation{Name: "hub-demo-tools", Version: "v1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Adds two numbers."}, addTool)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "Returns its text unchanged."}, echoTool)

	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(
		func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{SessionTimeout: mcpSessionTimeout, Logger: logger},
	))
	return mux
}

type addInput struct {
	A float64 `json:"a" jsonschema:"the first addend"`
	B float64 `json:"b" jsonschema:"the second addend"`
}

type addOutput struct {
	Sum float64 `json:"sum" jsonschema:"a + b"`
}

// addTool answers with the sum as text, and as structured content.
func addTool(_ context.Context, _ *mcp.CallToolRequest, in addInput) (
	*mcp.CallToolResult, addOutput, error,
) {
	sum := in.A + in.B
	text := strconv.FormatFloat(sum, 'g', -1, 64)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}},
		addOutput{Sum: sum}, nil
}

type echoInput struct {
	Text string `json:"text" jsonschema:"the text to return"`
}

type echoOutput struct {
	Text string `json:"text" jsonschema:"the text it was given"`
}

// echoTool answers with its text, as text and as structured content.
func echoTool(_ context.Context, _ *mcp.CallToolRequest, in echoInput) (
	*mcp.CallToolResult, echoOutput, error,
) {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}},
		echoOutput(in), nil
}
