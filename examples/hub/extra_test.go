package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// With HUB_EXTRA_UPSTREAM, user-123's external-app-900 is proxied to that
// URL like any demo deployment, and only for its owner.
func TestExtraUpstreamIsAnotherDeployment(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Gateway-User-Id")+" "+r.URL.Path)
	}))
	t.Cleanup(app.Close)
	t.Setenv("HUB_EXTRA_UPSTREAM", app.URL)
	s := startRun(t, "-addr", "127.0.0.1:0")
	base := strings.TrimSuffix(s.login, "/login")
	get := func(user string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), "GET",
			base+"/api/gateway/user-123/external-app-900/hello", nil)
		req.Header.Set("Authorization", "Bearer "+s.tokens[user])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	if status, body := get("user-123"); status != http.StatusOK || body != "user-123 /hello" {
		t.Errorf("owner: %d %q, want 200 %q", status, body, "user-123 /hello")
	}
	if status, _ := get("user-456"); status != http.StatusNotFound {
		t.Errorf("another user: %d, want 404", status)
	}
}

// /metrics shows the process's own health next to the gateway's metrics.
func TestMetricsIncludeProcessHealth(t *testing.T) {
	th := startHub(t)

	_, body := th.get(t, "/metrics", nil)

	for _, name := range []string{"go_goroutines ", "process_open_fds ", "process_resident_memory_bytes "} {
		if !strings.Contains(string(body), "\n"+name) {
			t.Errorf("/metrics has no %s", strings.TrimSpace(name))
		}
	}
}
