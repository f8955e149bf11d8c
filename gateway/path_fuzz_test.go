package gateway

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/limit"
)

// recordingTransport keeps the last request the gateway sent upstream and
// answers it with an empty 200.
type recordingTransport struct{ out *http.Request }

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.out = r
	return &http.Response{StatusCode: http.StatusOK, ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// FuzzGatewayPath sends arbitrary request targets, as net/http parses
// them, through the whole gateway with user-1's token, and checks where
// they end up: only a path that names user-1's dep-1 in its own first
// segments reaches dep-1, nothing reaches user-2's dep-2, a path under the
// mount never reaches the platform's handler, the forwarded path stays
// under dep-1's base path however the upstream cleans it, no target makes
// the gateway fail with a 500, and a plain path of dep-1 does reach it.
func FuzzGatewayPath(f *testing.F) {
	for _, seed := range []string{
		"/api/gateway/user-1/dep-1/", "/api/gateway/user-1/dep-1", "/api/gateway/user-1/dep-1/x?q=%2F",
		"/api/gateway/user-2/dep-2/", "/api/gateway/user-1/dep-2/",
		"/api/gateway/user-1/dep-1/../../user-2/dep-2/",
		"/api/gateway/user-1/dep-1/%2e%2e/%2e%2e/user-2/dep-2/",
		"/api/gateway/user-1/dep-1/..%2f..%2f..%2fadmin", "/api/gateway/user-1/dep-1/%252e%252e%252fsecret",
		`/api/gateway/user-1/dep-1/..\..\user-2`, "/api/gateway/user-1/dep-1/..%5c..%5cuser-2",
		"/api/gateway/user-1/dep-1//evil.example/x", "/api/gateway/user-1/dep-1/..;/..;/user-2/dep-2/",
		"/api/gateway%2Fuser-1/dep-1/", "/api%2fgateway/user-2/dep-2/", "//api/gateway/user-2/dep-2/",
		"http://evil.example/api/gateway/user-1/dep-1/x", "*", "/api/gateway/user-1/dep-1/a/../b",
		"/api/gateway/user-1/dep-1/%zz", "/x/../api/gateway/user-2/dep-2/",
	} {
		f.Add(seed)
	}
	upstreams := map[string]Deployment{
		"dep-1": {ID: "dep-1", OwnerID: "user-1", Status: StatusRunning,
			UpstreamURL: "http://dep-1.internal/base/"},
		"dep-2": {ID: "dep-2", OwnerID: "user-2", Status: StatusRunning,
			UpstreamURL: "http://dep-2.internal/"},
	}
	tokens, err := auth.NewBearerVerifier(auth.StaticTokens(
		map[string]string{"T1": "user-1", "T2": "user-2"}))
	if err != nil {
		f.Fatal(err)
	}
	rt := &recordingTransport{}
	gw, err := New(Config{
		Verifier: tokens,
		Deployments: DeploymentStoreFunc(func(_ context.Context, id string) (Deployment, error) {
			if d, ok := upstreams[id]; ok {
				return d, nil
			}
			return Deployment{}, ErrDeploymentNotFound
		}),
		Transport: rt,
		Limits:    limit.Config{PerUser: limit.Unlimited, PerDeployment: limit.Unlimited},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { gw.Close() })
	platformHit := false
	h := gw.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { platformHit = true }))

	f.Fuzz(func(t *testing.T, target string) {
		raw := "GET " + target + " HTTP/1.1\r\nHost: platform.example.test\r\n" +
			"Authorization: Bearer T1\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http answers 400 before any handler runs
		}
		r.RemoteAddr = "192.0.2.1:1234"
		rt.out, platformHit = nil, false
		w := httptest.NewRecorder()

		h.ServeHTTP(w, r)

		escaped := r.URL.EscapedPath()
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("target %q: 500", target)
		}
		if platformHit && strings.HasPrefix(escaped, "/api/gateway/") {
			t.Fatalf("target %q, under the mount, reached the platform's handler", target)
		}
		if w.Code == http.StatusPermanentRedirect {
			if loc := w.Header().Get("Location"); !strings.HasPrefix(loc, escaped+"/") {
				t.Fatalf("target %q redirected to %q, not its own slash form", target, loc)
			}
		}
		plain := strings.HasPrefix(escaped, "/api/gateway/user-1/dep-1/") &&
			!strings.ContainsAny(escaped, ".%\\;")
		if rt.out == nil {
			if plain {
				t.Fatalf("target %q, a plain path of user-1's dep-1, answered %d", target, w.Code)
			}
			return
		}
		if rt.out.URL.Host != "dep-1.internal" || !strings.HasPrefix(escaped, "/api/gateway/user-1/dep-1/") {
			t.Fatalf("target %q reached %s%s", target, rt.out.URL.Host, rt.out.URL.EscapedPath())
		}
		up := rt.out.URL.EscapedPath()
		for name, clean := range hostileCleaners {
			if got := clean(up); !strings.HasPrefix(got+"/", "/base/") {
				t.Fatalf("target %q forwarded as %q leaves /base when %s: %q", target, up, name, got)
			}
		}
	})
}
