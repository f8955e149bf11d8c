package telemetry

import (
	"context"
	"log/slog"
	"time"
)

// logRequest writes rec's access log line, if there is an access log. The
// line carries ids, sizes, durations and decisions; it never carries the
// query string, path parameters or a header other than User-Agent, so no
// token, cookie or session id can reach it.
//
// The line's attributes: request_id, method, path, route, status, user_id,
// deployment_id, bytes_in, bytes_out, duration_ms, upstream_ms, client_ip,
// country, city, limit, limit_scope, breaker, mcp_method, mcp_tool,
// user_agent.
func (t *Telemetry) logRequest(ctx context.Context, rec *Record) {
	if t.log == nil || !t.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	clientIP := ""
	if rec.ClientIP.IsValid() {
		clientIP = rec.ClientIP.String()
	}
	t.log.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("request_id", rec.RequestID),
		slog.String("method", rec.Method),
		slog.String("path", rec.Path),
		slog.String("route", rec.Route),
		slog.Int("status", rec.Status),
		slog.String("user_id", rec.UserID),
		slog.String("deployment_id", rec.DeploymentID),
		slog.Int64("bytes_in", rec.BytesIn),
		slog.Int64("bytes_out", rec.BytesOut),
		slog.Float64("duration_ms", milliseconds(rec.Duration)),
		slog.Float64("upstream_ms", milliseconds(rec.UpstreamDuration)),
		slog.String("client_ip", clientIP),
		slog.String("country", rec.Country),
		slog.String("city", rec.City),
		slog.String("limit", rec.LimitOutcome),
		slog.String("limit_scope", rec.LimitScope),
		slog.String("breaker", rec.BreakerState),
		slog.String("mcp_method", rec.MCPMethod),
		slog.String("mcp_tool", rec.MCPTool),
		slog.String("user_agent", rec.UserAgent),
	)
}

// milliseconds returns d in milliseconds, to the microsecond.
func milliseconds(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
