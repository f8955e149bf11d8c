package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpSessionTimeout closes MCP sessions that have been idle this long, so
// clients that vanish without ending their session do not pile up.
const mcpSessionTimeout = 10 * time.Minute

// maxSlowSeconds caps the work the slow tool pretends to do.
const maxSlowSeconds = 10

// slowInterval is the time between two progress notifications of the slow
// tool.
const slowInterval = time.Second

// newMCPServer returns the demo MCP server with the tools add, echo and
// slow.
func newMCPServer() *mcp.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "hub-demo-tools", Version: "v1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Adds two numbers."}, addTool)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "Returns its text unchanged."}, echoTool)
	mcp.AddTool(server, &mcp.Tool{
		Name: "slow",
		Description: "Works for the given number of seconds (at most 10), " +
			"reporting progress each second.",
	}, slowTool)
	return server
}

// newMCPApp returns the mcp-tools-42 demo: the demo MCP server over
// Streamable HTTP at /mcp, for every protocol generation the SDK speaks.
// Session-based clients (2025-03-26 to 2025-11-25) get sessions whose
// recent events are kept in memory, so a client whose stream breaks can
// resume it with Last-Event-ID. Clients of the stateless generation
// (2026-07-28 and later, which name their version on every request) are
// served without a session; the SDK serves the two modes from different
// handlers, so requests are sent to one or the other by that version.
func newMCPApp(logger *slog.Logger) *mcpApp {
	server := newMCPServer()
	getServer := func(*http.Request) *mcp.Server { return server }
	sessions := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		SessionTimeout: mcpSessionTimeout,
		Logger:         logger,
		EventStore:     mcp.NewMemoryEventStore(nil),
	})
	stateless := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		Stateless: true,
		Logger:    logger,
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		if isStatelessMCP(r) {
			stateless.ServeHTTP(w, r)
			return
		}
		sessions.ServeHTTP(w, r)
	})
	return &mcpApp{Handler: mux, server: server}
}

// An mcpApp is the mcp-tools-42 demo's handler, which the hub closes when
// it stops.
type mcpApp struct {
	http.Handler
	server *mcp.Server
}

// Close ends every session of the app's MCP server. The SDK keeps a
// session, whatever becomes of the connections it came over, until its
// client ends it or it has been idle for mcpSessionTimeout; a client that
// never ends it would otherwise outlive the hub.
func (a *mcpApp) Close() error {
	var errs []error
	for s := range a.server.Sessions() {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// firstStatelessMCPVersion is the first protocol version without sessions.
const firstStatelessMCPVersion = "2026-07-28"

// isStatelessMCP reports whether r speaks the stateless generation of the
// protocol. Its clients send Mcp-Protocol-Version on every request, their
// first included; versions are dates, so they compare as strings.
func isStatelessMCP(r *http.Request) bool {
	v := r.Header.Get("Mcp-Protocol-Version")
	return len(v) == len(firstStatelessMCPVersion) && v >= firstStatelessMCPVersion
}

// newLegacyMCPApp returns the mcp-legacy-43 demo: the demo MCP server over
// the legacy HTTP+SSE transport (2024-11-05), its event stream at /sse.
// The stream's endpoint event names /sse?sessionid=..., a path the gateway
// puts back under the deployment's prefix.
func newLegacyMCPApp() http.Handler {
	server := newMCPServer()
	mux := http.NewServeMux()
	mux.Handle("/sse", mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return server }, nil))
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

type slowInput struct {
	Seconds int `json:"seconds" jsonschema:"how many seconds to work, at most 10"`
}

type slowOutput struct {
	Seconds int `json:"seconds" jsonschema:"how many seconds it worked"`
}

// slowTool works for the seconds it is asked to (capped at maxSlowSeconds),
// sending a progress notification each second when the request carries a
// progress token, so that streaming through the gateway is visible.
func slowTool(ctx context.Context, req *mcp.CallToolRequest, in slowInput) (
	*mcp.CallToolResult, slowOutput, error,
) {
	n := min(max(in.Seconds, 0), maxSlowSeconds)
	token := req.Params.GetProgressToken()
	tick := time.NewTicker(slowInterval)
	defer tick.Stop()
	for i := 1; i <= n; i++ {
		select {
		case <-ctx.Done():
			return nil, slowOutput{}, ctx.Err()
		case <-tick.C:
		}
		if token == nil {
			continue
		}
		err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
			ProgressToken: token,
			Progress:      float64(i),
			Total:         float64(n),
			Message:       fmt.Sprintf("%d of %d seconds", i, n),
		})
		if err != nil {
			return nil, slowOutput{}, err
		}
	}
	text := fmt.Sprintf("worked for %d seconds", n)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}},
		slowOutput{Seconds: n}, nil
}
