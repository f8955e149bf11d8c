package telemetry_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/mcphub/apigateway/telemetry"
)

// startStreamingGateway serves the fake gateway with deployment d1 proxied
// to upstream.
func startStreamingGateway(t *testing.T, h *harness, upstream http.Handler) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	g := &fakeGateway{
		tel:         h.tel,
		tokens:      map[string]string{"good": "u1", "SECRET-A": "u1"},
		deployments: map[string]fakeDeployment{"d1": {owner: "u1", upstream: up.URL}},
	}
	front := httptest.NewServer(h.tel.Handler(g))
	t.Cleanup(front.Close)
	return front
}

func TestStreamIsCountedWhileItRuns(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	next, done := make(chan struct{}), make(chan struct{})
	front := startStreamingGateway(t, h, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, event := range []string{"data: one\n\n", "data: two\n\n"} {
			io.WriteString(w, event)
			http.NewResponseController(w).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
		<-done
	}))
	sent := attrs(telemetry.DeploymentIDKey.String("d1"), telemetry.UserIDKey.String("u1"),
		semconv.NetworkIODirectionTransmit)
	active := attrs(telemetry.DeploymentIDKey.String("d1"), telemetry.UserIDKey.String("u1"))

	req, _ := http.NewRequest("GET", front.URL+"/api/gateway/u1/d1/events", nil)
	req.Header.Set("Authorization", "Bearer good")
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	readEvent := func(want string) {
		t.Helper()
		var got strings.Builder
		for !strings.HasSuffix(got.String(), "\n\n") {
			line, err := events.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			got.WriteString(line)
		}
		if got.String() != want {
			t.Fatalf("got event %q, want %q", got.String(), want)
		}
	}

	// Mid-stream, the bytes sent so far are counted and the stream is
	// active.
	readEvent("data: one\n\n")
	rm := h.collect(t)
	if got := values(t, metric(t, rm, "gateway.io"))[sent]; got != int64(len("data: one\n\n")) {
		t.Errorf("after one event: gateway.io transmit = %d, want %d", got, len("data: one\n\n"))
	}
	if got := values(t, metric(t, rm, "gateway.streams.active"))[active]; got != 1 {
		t.Errorf("during the stream: gateway.streams.active = %d, want 1", got)
	}
	if hasMetric(rm, "http.server.request.duration") {
		t.Error("the request was recorded as finished while it streams")
	}

	next <- struct{}{}
	readEvent("data: two\n\n")
	rm = h.collect(t)
	if got := values(t, metric(t, rm, "gateway.io"))[sent]; got != int64(2*len("data: one\n\n")) {
		t.Errorf("after two events: gateway.io transmit = %d, want %d", got, 2*len("data: one\n\n"))
	}

	next <- struct{}{}
	close(done)
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	rec := h.record(t)
	rm = h.collect(t)
	if got := values(t, metric(t, rm, "gateway.streams.active"))[active]; got != 0 {
		t.Errorf("after the stream: gateway.streams.active = %d, want 0", got)
	}
	if rec.Status != 200 || rec.BytesOut != int64(2*len("data: one\n\n")) {
		t.Errorf("got status %d, bytes out %d", rec.Status, rec.BytesOut)
	}
}

func TestWebSocketThroughReverseProxyIsOneRequest(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	front := startStreamingGateway(t, h, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	active := attrs(telemetry.DeploymentIDKey.String("d1"), telemetry.UserIDKey.String("u1"))

	wsURL := "ws" + strings.TrimPrefix(front.URL, "http") + "/api/gateway/u1/d1/ws"
	c, resp, err := websocket.Dial(ctx, wsURL,
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer good"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got status %d, want 101", resp.StatusCode)
	}
	message := strings.Repeat("x", 1000)
	for range 3 {
		if err := c.Write(ctx, websocket.MessageText, []byte(message)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != message {
			t.Fatalf("echo: got %d bytes, %v", len(got), err)
		}
	}

	// While open: counted as it flows, and active. A write is counted
	// when it returns, which may be just after the peer read it.
	in := attrs(telemetry.DeploymentIDKey.String("d1"), telemetry.UserIDKey.String("u1"),
		semconv.NetworkIODirectionReceive)
	out := attrs(telemetry.DeploymentIDKey.String("d1"), telemetry.UserIDKey.String("u1"),
		semconv.NetworkIODirectionTransmit)
	var rm metricdata.ResourceMetrics
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		rm = h.collect(t)
		flow := values(t, metric(t, rm, "gateway.io"))
		if flow[in] >= 3000 && flow[out] >= 3000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("while open: gateway.io receive %d, transmit %d; want at least 3000 each",
				flow[in], flow[out])
		}
	}
	if got := values(t, metric(t, rm, "gateway.websockets.active"))[active]; got != 1 {
		t.Errorf("while open: gateway.websockets.active = %d, want 1", got)
	}

	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil && !errors.Is(err, io.EOF) {
		t.Logf("close: %v", err)
	}
	rec := h.record(t)
	if rec.Status != 101 || rec.BytesIn < 3000 || rec.BytesOut < 3000 {
		t.Errorf("got status %d, bytes in %d, out %d; want 101 and at least 3000 each",
			rec.Status, rec.BytesIn, rec.BytesOut)
	}
	rm = h.collect(t)
	requests := histogramCounts(t, metric(t, rm, "http.server.request.duration"))
	want := attrs(semconv.HTTPRequestMethodKey.String("GET"), semconv.URLScheme("http"),
		semconv.HTTPResponseStatusCode(101), semconv.HTTPRoute(route),
		telemetry.UserIDKey.String("u1"), telemetry.DeploymentIDKey.String("d1"))
	if len(requests) != 1 || requests[want] != 1 {
		t.Errorf("got request series %v, want one request with status 101", requests)
	}
	if got := values(t, metric(t, rm, "gateway.websockets.active"))[active]; got != 0 {
		t.Errorf("after close: gateway.websockets.active = %d, want 0", got)
	}
	select {
	case extra := <-h.records:
		t.Errorf("a second request was recorded: %+v", extra)
	default:
	}
}

func TestClientThatWentAwayIs499(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	started := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	front := httptest.NewServer(h.tel.Handler(slow))
	defer front.Close()
	ctx, cancel := context.WithCancel(context.Background())

	req, _ := http.NewRequestWithContext(ctx, "GET", front.URL+"/slow?token=x", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := front.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel()

	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client: got %v, want context.Canceled", err)
	}
	rec := h.record(t)
	if rec.Status != 499 {
		t.Errorf("got status %d, want 499", rec.Status)
	}
	if line := h.logLines(t)[0]; line["status"] != float64(499) || line["path"] != "/slow" {
		t.Errorf("access log: got status %v, path %v; want 499, /slow", line["status"], line["path"])
	}
}
