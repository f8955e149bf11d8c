package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/mcphub/apigateway/gateway"
	"github.com/mcphub/apigateway/limit"
	"github.com/mcphub/apigateway/telemetry"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// requestCounts returns the count of http.server.request.duration points
// by status code and deployment id.
func requestCounts(t *testing.T, reader *sdkmetric.ManualReader) map[[2]string]uint64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[[2]string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "http.server.request.duration" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				status, _ := dp.Attributes.Value("http.response.status_code")
				dep, _ := dp.Attributes.Value(attribute.Key(telemetry.DeploymentIDKey))
				counts[[2]string{status.String(), dep.String()}] += dp.Count
			}
		}
	}
	return counts
}

// Metrics and the access log see every request, refused ones included, and
// name users and deployments only for requests that were authorized.
func TestEveryRequestIsMeasuredAndLogged(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	var logs lockedBuffer
	f := newFixture(t, gateway.Config{
		Telemetry: telemetry.Config{
			MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
			AccessLog:     slog.New(slog.NewJSONHandler(&logs, nil)),
		},
		Limits: limit.Config{PerUser: limit.Rate{Limit: 2, Period: time.Minute}},
	})
	f.get(t, "/api/gateway/user-1/dep-1/?token=SECRET-Q", tokenUser1)
	f.get(t, "/api/gateway/user-1/dep-1/", "")         // 401
	f.get(t, "/api/gateway/user-1/dep-2/", tokenUser1) // 404, someone else's
	f.get(t, "/api/gateway/junk%20path/x/", tokenUser1)
	f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1)
	f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1) // 429

	got := requestCounts(t, reader)
	want := map[[2]string]uint64{{"200", "dep-1"}: 2, {"401", ""}: 1, {"404", ""}: 2, {"429", "dep-1"}: 1}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("requests with status %s and deployment %q: %d, want %d (all: %v)", k[0], k[1], got[k], n, got)
		}
	}
	if _, leaked := got[[2]string{"404", "dep-2"}]; leaked {
		t.Error("a refused request created a series for another user's deployment")
	}

	lines := logs.lines()
	if len(lines) != 6 {
		t.Fatalf("access log has %d lines, want 6", len(lines))
	}
	first := lines[0]
	for k, v := range map[string]any{"path": "/api/gateway/user-1/dep-1/", "status": float64(200),
		"user_id": "user-1", "deployment_id": "dep-1"} {
		if first[k] != v {
			t.Errorf("access log %s = %v, want %v", k, first[k], v)
		}
	}
	if strings.Contains(logs.b.String(), "SECRET-") || strings.Contains(logs.b.String(), "Bearer") {
		t.Errorf("access log leaks a credential or the query: %s", logs.b.String())
	}
}

// MCP tool calls are labelled with their method and tool once authorized;
// the upstream still receives the body byte for byte.
func TestMCPToolCallsAreLabelled(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	var logs lockedBuffer
	f := newFixture(t, gateway.Config{Telemetry: telemetry.Config{
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		AccessLog:     slog.New(slog.NewJSONHandler(&logs, nil)),
	}})
	var got []byte
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	t.Cleanup(app.Close)
	f.store.set(gateway.Deployment{ID: "dep-m", OwnerID: "user-1", Status: gateway.StatusRunning, UpstreamURL: app.URL})

	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}`
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/gateway/user-1/dep-m/mcp", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tokenUser1)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if string(got) != body {
		t.Errorf("upstream body = %q, want it unchanged", got)
	}
	lines := logs.lines()
	if len(lines) != 1 || lines[0]["mcp_method"] != "tools/call" || lines[0]["mcp_tool"] != "add" {
		t.Errorf("access log = %v, want mcp_method tools/call and mcp_tool add", lines)
	}
}
