package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// testSeed makes the test hub's credentials known in advance.
const testSeed = "hub tests"

// testHub is a hub served on a loopback port.
type testHub struct {
	*hub
	url    string
	client *http.Client
}

// startHub starts a hub with testSeed behind a real loopback listener,
// served like main serves it, and closes both when the test ends.
func startHub(t *testing.T) *testHub {
	t.Helper()
	h, err := newHub(t.Context(), options{Seed: testSeed})
	if err != nil {
		t.Fatalf("newHub: %v", err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config = newServer(h, slog.New(slog.DiscardHandler))
	srv.Start()
	// Cleanups run last first: the hub ends the demo streams, so that the
	// server's Close does not wait for them.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { h.Close() })

	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{
		Transport: transport,
		Timeout:   10 * time.Second,
		// Tests look at redirects themselves.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &testHub{hub: h, url: srv.URL, client: client}
}

// token returns user's bearer token.
func (th *testHub) token(user string) string { return th.secrets.tokens[user] }

// get sends a GET for path with the given headers and returns the response
// with its body read.
func (th *testHub) get(t *testing.T, path string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	return th.do(t, http.MethodGet, path, header, nil)
}

// getAs sends a GET for path with user's bearer token.
func (th *testHub) getAs(t *testing.T, user, path string) (*http.Response, []byte) {
	t.Helper()
	return th.get(t, path, http.Header{"Authorization": {"Bearer " + th.token(user)}})
}

// do sends a request for path with the given headers and body, and returns
// the response with its body read.
func (th *testHub) do(t *testing.T, method, path string, header http.Header, body io.Reader) (
	*http.Response, []byte,
) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, th.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := th.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, b
}

// problemBody is the part of an RFC 9457 body that does not change from
// request to request.
type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// checkProblem fails t unless resp is a problem response with status, and
// returns its body.
func checkProblem(t *testing.T, resp *http.Response, body []byte, status int) problemBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d; body: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problemBody
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	if p.Status != status || p.Type == "" {
		t.Errorf("problem = %+v, want status %d and a type", p, status)
	}
	return p
}

func TestAuthorizationAnswers(t *testing.T) {
	th := startHub(t)

	// Someone else's deployment must be indistinguishable from a missing one.
	missingResp, missingBody := th.getAs(t, "user-123", "/api/gateway/user-123/no-such-app/")
	missing := checkProblem(t, missingResp, missingBody, http.StatusNotFound)
	for _, path := range []string{
		"/api/gateway/user-456/private-app-777/",
		"/api/gateway/user-123/private-app-777/",
	} {
		t.Run("other user "+path, func(t *testing.T) {
			resp, body := th.getAs(t, "user-123", path)
			got := checkProblem(t, resp, body, http.StatusNotFound)
			if diff := cmp.Diff(missing, got); diff != "" {
				t.Errorf("body differs from a missing deployment's (-missing +got):\n%s", diff)
			}
			if diff := cmp.Diff(missingResp.Header, resp.Header, headersThatVary); diff != "" {
				t.Errorf("headers differ from a missing deployment's (-missing +got):\n%s", diff)
			}
		})
	}

	t.Run("owner reaches private app", func(t *testing.T) {
		resp, body := th.getAs(t, "user-456", "/api/gateway/user-456/private-app-777/")
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "private app") {
			t.Errorf("got %d %q, want 200 and the private page", resp.StatusCode, body)
		}
	})

	t.Run("stopped", func(t *testing.T) {
		resp, body := th.getAs(t, "user-123", "/api/gateway/user-123/stopped-app-000/")
		checkProblem(t, resp, body, http.StatusServiceUnavailable)
		if resp.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After on the 503 of a stopped deployment")
		}
	})

	t.Run("broken", func(t *testing.T) {
		resp, body := th.getAs(t, "user-123", "/api/gateway/user-123/broken-app-500/")
		checkProblem(t, resp, body, http.StatusBadGateway)
	})
}

// headersThatVary ignores the headers that differ between any two
// responses.
var headersThatVary = cmpopts.IgnoreMapEntries(func(k string, _ []string) bool {
	return k == "Date" || k == "X-Request-Id" || k == "Content-Length"
})

func TestSeedURLs(t *testing.T) {
	th := startHub(t)
	tests := []struct {
		path, contentType string
	}{
		{"/api/gateway/user-123/openwebui-abc123/", "text/html"},
		{"/api/gateway/user-123/my-api-def456/api/v1/users", "application/json"},
		{"/api/gateway/user-123/webapp-789/static/css/main.css", "text/css"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := th.getAs(t, "user-123", tt.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("Content-Type = %q, want %s", ct, tt.contentType)
			}
		})
	}
}

func TestHomePage(t *testing.T) {
	th := startHub(t)

	_, anonymous := th.get(t, "/", nil)
	if !strings.Contains(string(anonymous), `href="/login"`) {
		t.Errorf("signed-out home page has no link to /login:\n%s", anonymous)
	}

	resp, body := th.getAs(t, "user-123", "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	for _, want := range []string{
		`href="/api/gateway/user-123/openwebui-abc123/"`,
		`href="/api/gateway/user-123/mcp-tools-42/mcp"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("home page of user-123 lacks %s", want)
		}
	}
	if strings.Contains(string(body), "private-app-777") {
		t.Error("home page of user-123 lists user-456's deployment")
	}
}

func TestBrokenDeploymentTripsItsBreaker(t *testing.T) {
	th := startHub(t)
	var statuses []int
	for range 8 {
		resp, _ := th.getAs(t, "user-123", "/api/gateway/user-123/broken-app-500/")
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	if statuses[0] != http.StatusBadGateway || statuses[len(statuses)-1] != http.StatusServiceUnavailable {
		t.Errorf("statuses = %v, want 502s first, then 503s once the breaker opens", statuses)
	}
	if resp, _ := th.getAs(t, "user-123", "/api/gateway/user-123/webapp-789/"); resp.StatusCode != 200 {
		t.Errorf("another deployment while broken-app-500 is paused: status %d, want 200", resp.StatusCode)
	}
}
