package telemetry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mcphub/apigateway/telemetry"
)

// TestSecretsNeverRecorded sends credentials in every place a client or a
// deployment can put them and checks that none reaches the access log,
// the spans, the metrics or the Records, while the user and deployment ids
// still do.
func TestSecretsNeverRecorded(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			c, err := websocket.Accept(w, r, nil)
			if err == nil {
				c.Close(websocket.StatusNormalClosure, "")
			}
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "SECRET-U"})
		w.Header().Set("Authorization", "Bearer SECRET-R")
		io.WriteString(w, "hello")
	}))
	defer upstream.Close()
	g := &fakeGateway{
		tel:    h.tel,
		tokens: map[string]string{"SECRET-A": "u1"},
		deployments: map[string]fakeDeployment{
			"d1":     {owner: "u1", upstream: upstream.URL},
			"d-down": {owner: "u1", upstream: "http://127.0.0.1:1", transport: refusingTransport{}},
		},
	}
	front := httptest.NewServer(h.tel.Handler(g))
	defer front.Close()
	credentials := func(req *http.Request, token string) {
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Cookie", "gw_session=SECRET-S; other=1")
		req.Header.Set("Proxy-Authorization", "Basic SECRET-P")
	}

	requests := []struct {
		path, token string
		status      int
	}{
		{"/api/gateway/u1/d1/p?access_token=SECRET-Q&code=SECRET-C", "SECRET-A", 200},
		{"/api/gateway/u1/d1/app;jsessionid=SECRET-J/p;v=SECRET-V2;x", "SECRET-A", 200},
		{"/api/gateway/u1/d-down/p?access_token=SECRET-Q2", "SECRET-A", 502},
		{"/api/gateway/u1/d1/p?access_token=SECRET-Q3", "SECRET-BAD", 401},
	}
	for _, r := range requests {
		req, _ := http.NewRequest("GET", front.URL+r.path, nil)
		credentials(req, r.token)
		if status, _ := do(t, front.Client(), req); status != r.status {
			t.Errorf("%s: got status %d, want %d", r.path, status, r.status)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	header := http.Header{}
	credentials(&http.Request{Header: header}, "SECRET-A")
	wsURL := "ws" + strings.TrimPrefix(front.URL, "http") + "/api/gateway/u1/d1/ws?token=SECRET-W"
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		t.Fatal(err)
	}
	c.Read(ctx) // the upstream closes at once
	c.CloseNow()

	var records strings.Builder
	for range len(requests) + 1 {
		fmt.Fprintf(&records, "%+v\n", h.record(t))
	}
	outputs := map[string]string{
		"access log": h.log.String(),
		"spans":      dumpSpans(h.spans.Ended()),
		"metrics":    dumpMetrics(h.collect(t)),
		"records":    records.String(),
	}
	for name, out := range outputs {
		if i := strings.Index(out, "SECRET-"); i >= 0 {
			t.Errorf("%s holds a secret: ...%s...", name, out[max(0, i-80):min(len(out), i+40)])
		}
		for _, id := range []string{"u1", "d1", "d-down"} {
			if !strings.Contains(out, id) {
				t.Errorf("%s lacks the id %s", name, id)
			}
		}
	}
}

// Path parameters are cut from the recorded path, segment by segment; the
// semicolon stays to show there were some. Escaped semicolons are data.
func TestRecordedPathDropsPathParameters(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	handler := h.tel.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for raw, want := range map[string]string{
		"/app/page":                        "/app/page",
		"/app;jsessionid=x/page;v=1;y=2":   "/app;/page;",
		"/;a/;b/":                          "/;/;/",
		"/a%3Bb/c;d":                       "/a%3Bb/c;",
		"/api/gateway/u1/d1/x;y/z?q=1;r=2": "/api/gateway/u1/d1/x;/z",
	} {
		handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", raw, nil))
		if got := h.record(t).Path; got != want {
			t.Errorf("request for %q: recorded path %q, want %q", raw, got, want)
		}
	}
}
