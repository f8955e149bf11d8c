package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/gateway"
	"github.com/mcphub/apigateway/telemetry"
)

// TestCredentialsNeverReachLogsSpansOrMetrics puts a credential in every
// place a client or a deployment can put one, runs requests that succeed,
// upgrade, fail upstream and are refused, with the gateway's and the
// access log at debug level, and finds none of them in the logs, the
// exported spans or the metrics; the user and deployment ids are there.
func TestCredentialsNeverReachLogsSpansOrMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewInMemoryExporter()
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cookie := auth.VerifierFunc(func(r *http.Request) (auth.Identity, error) {
		c, err := r.Cookie("gw_session")
		switch {
		case err != nil:
			return auth.Identity{}, auth.ErrNoCredentials
		case c.Value != "SECRET-S":
			return auth.Identity{}, auth.ErrUnauthenticated
		}
		return auth.Identity{UserID: "user-1", Credential: auth.CredentialCookie}, nil
	})
	bearer, err := auth.NewBearerVerifier(auth.StaticTokens(map[string]string{"SECRET-A": "user-1"}))
	if err != nil {
		t.Fatal(err)
	}
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	f := newFixture(t, gateway.Config{
		Verifier:      auth.FirstOf(cookie, bearer),
		SessionCookie: "gw_session",
		LoginURL:      "/login",
		Logger:        logger,
		Telemetry: telemetry.Config{
			MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
			TracerProvider: tracer,
			Propagator:     propagation.TraceContext{},
			AccessLog:      logger,
		},
	})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "websocket" {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n" +
				"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			return
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Add("Set-Cookie", "sid=SECRET-U; Path=/; HttpOnly")
		w.Header().Add("Set-Cookie", "gw_session=SECRET-F; Path=/")
		w.Header().Set("Location", "/next?token=SECRET-L")
		w.Header().Set("Authorization", "Bearer SECRET-R")
		io.WriteString(w, "ok")
	}))
	t.Cleanup(app.Close)
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + refused.Addr().String()
	refused.Close()
	f.store.set(gateway.Deployment{ID: "dep-1", OwnerID: "user-1", Status: gateway.StatusRunning,
		UpstreamURL: app.URL})
	f.store.set(gateway.Deployment{ID: "dep-9", OwnerID: "user-1", Status: gateway.StatusRunning,
		UpstreamURL: refusedURL + "/?base=SECRET-B"})

	credentials := []string{
		"Authorization: Bearer SECRET-A",
		"Cookie: gw_session=SECRET-S; other=1",
		"Proxy-Authorization: Basic SECRET-P",
	}
	requests := []struct {
		name, method, path string
		headers            []string
		status             int
	}{
		{"proxied", "GET", "/api/gateway/user-1/dep-1/p?access_token=SECRET-Q&code=SECRET-C",
			credentials, 200},
		{"bearer after a bad cookie", "GET", "/api/gateway/user-1/dep-1/p?access_token=SECRET-Q",
			[]string{"Authorization: Bearer SECRET-A", "Cookie: gw_session=SECRET-X"}, 200},
		{"WebSocket", "GET", "/api/gateway/user-1/dep-1/ws?token=SECRET-W",
			append([]string{"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}, credentials[0]), 101},
		{"upstream refuses", "GET", "/api/gateway/user-1/dep-9/p?access_token=SECRET-Q2", credentials, 502},
		{"bad token", "GET", "/api/gateway/user-1/dep-1/p?access_token=SECRET-Q3",
			[]string{"Authorization: Bearer SECRET-BAD", "Proxy-Authorization: Basic SECRET-P"}, 401},
		{"bad session cookie to the login page", "GET", "/api/gateway/user-1/dep-1/p?token=SECRET-N",
			[]string{"Cookie: gw_session=SECRET-X", "Accept: text/html", "Sec-Fetch-Mode: navigate"}, 303},
		{"another user's deployment", "GET", "/api/gateway/user-1/dep-2/p?token=SECRET-O", credentials, 404},
	}
	for _, r := range requests {
		resp := f.raw(t, r.method, r.path, r.headers...)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != r.status {
			t.Errorf("%s: status %d, want %d", r.name, resp.StatusCode, r.status)
		}
	}
	mcp := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add",` +
		`"arguments":{"password":"SECRET-M"}}}`
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/gateway/user-1/dep-1/mcp?token=SECRET-V",
		strings.NewReader(mcp))
	req.Header.Set("Authorization", "Bearer SECRET-A")
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	if err := tracer.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	spanJSON, err := json.Marshal(spans.GetSpans())
	if err != nil {
		t.Fatal(err)
	}
	metricJSON, err := json.Marshal(rm)
	if err != nil {
		t.Fatal(err)
	}
	logs.mu.Lock()
	logText := logs.b.String()
	logs.mu.Unlock()
	outputs := map[string]string{"logs": logText, "spans": string(spanJSON), "metrics": string(metricJSON)}
	for name, out := range outputs {
		if i := strings.Index(out, "SECRET-"); i >= 0 {
			t.Errorf("%s hold a credential: ...%s...", name, out[max(0, i-100):min(len(out), i+40)])
		}
		for _, id := range []string{"user-1", "dep-1", "dep-9"} {
			if !strings.Contains(out, id) {
				t.Errorf("%s lack the id %s", name, id)
			}
		}
	}
	if !strings.Contains(logText, `"cookie":"gw_session"`) {
		t.Errorf("debug log does not name the dropped cookie; the test did not exercise it:\n%s", logText)
	}
}
