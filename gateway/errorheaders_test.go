package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/apigateway/gateway"
	"github.com/mcphub/apigateway/limit"
)

// TestEveryGatewayAnswerCarriesTheSecurityHeadersOnce provokes each answer
// the gateway writes itself, and checks that each carries the security
// headers and the request id exactly once, as proxied responses do, and
// that no body names an internal address.
func TestEveryGatewayAnswerCarriesTheSecurityHeadersOnce(t *testing.T) {
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(silent.Close)
	t.Cleanup(func() { close(release) })
	f := corsFixture(t, gateway.Config{
		Breakers:              tripFast,
		MaxRequestBodyBytes:   16,
		UpstreamHeaderTimeout: 200 * time.Millisecond,
	})
	refused := closedPort(t)
	for _, d := range []gateway.Deployment{
		{ID: "dep-refused", UpstreamURL: refused},
		{ID: "dep-tripped", UpstreamURL: refused},
		{ID: "dep-silent", UpstreamURL: silent.URL},
		{ID: "dep-limited", UpstreamURL: f.dep1.URL, Rate: limit.Rate{Limit: 1, Period: time.Minute}},
	} {
		d.OwnerID, d.Status = "user-1", gateway.StatusRunning
		f.store.set(d)
	}
	bearer := "Authorization: Bearer " + tokenUser1
	for range 3 {
		f.raw(t, "GET", "/api/gateway/user-1/dep-tripped/", bearer).Body.Close()
	}
	f.raw(t, "GET", "/api/gateway/user-1/dep-limited/", bearer).Body.Close()

	cases := []struct {
		name, method, path string
		headers            []string
		body               string
		status             int
	}{
		{"unauthenticated", "GET", "/api/gateway/user-1/dep-1/", nil, "", 401},
		{"cross-origin cookie POST", "POST", "/api/gateway/user-1/dep-1/",
			[]string{"Cookie: gw_session=S1", "Origin: https://evil.example", "Content-Length: 0"}, "", 403},
		{"someone else's deployment", "GET", "/api/gateway/user-1/dep-2/", []string{bearer}, "", 404},
		{"malformed path", "GET", "/api/gateway/user-1/dep-1/%2e%2e/x", []string{bearer}, "", 404},
		{"TRACE", "TRACE", "/api/gateway/user-1/dep-1/", []string{bearer}, "", 405},
		{"root without slash", "GET", "/api/gateway/user-1/dep-1", []string{bearer}, "", 308},
		{"body over the limit", "POST", "/api/gateway/user-1/dep-1/", []string{bearer},
			strings.Repeat("b", 64), 413},
		{"rate limited", "GET", "/api/gateway/user-1/dep-limited/", []string{bearer}, "", 429},
		{"upstream refuses", "GET", "/api/gateway/user-1/dep-refused/", []string{bearer}, "", 502},
		{"stopped", "GET", "/api/gateway/user-1/dep-3/", []string{bearer}, "", 503},
		{"circuit open", "GET", "/api/gateway/user-1/dep-tripped/", []string{bearer}, "", 503},
		{"upstream silent", "GET", "/api/gateway/user-1/dep-silent/", []string{bearer}, "", 504},
		{"proxied", "GET", "/api/gateway/user-1/dep-1/", []string{bearer}, "", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := f.rawBody(t, c.method, c.path, c.body, c.headers...)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			if resp.StatusCode != c.status {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, c.status, body)
			}
			for _, h := range []string{"X-Content-Type-Options", "Referrer-Policy",
				"X-Frame-Options", "X-Request-Id"} {
				if got := resp.Header.Values(h); len(got) != 1 {
					t.Errorf("%s = %q, want exactly one value", h, got)
				}
			}
			if strings.Contains(string(body), "127.0.0.1") {
				t.Errorf("body %s names an internal address", body)
			}
		})
	}
}

// rawBody sends a request with method, path and body exactly as given.
func (f *fixture) rawBody(t *testing.T, method, path, body string, headers ...string) *http.Response {
	t.Helper()
	if body == "" {
		return f.raw(t, method, path, headers...)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// The proxy keeps the gateway's own report (its request id and every
// rate-limit header the limiter may send) out of the headers a deployment
// sends in a 1xx response and in trailers, where the gateway does not fill
// them in. The proxy names those headers itself, as it may not import the
// limiter; this ties its list to the limiter's. Retry-After, which the
// limiter exposes too, is the deployment's to send as well, in its own
// answers, and a 1xx may carry it.
func TestDeploymentCannotReportForTheGatewayLater(t *testing.T) {
	var reported []string
	for _, name := range append(limit.ExposedHeaders(), "X-Request-Id") {
		if name != "Retry-After" {
			reported = append(reported, name)
		}
	}
	forged := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, name := range reported {
			w.Header().Set(name, "forged")
		}
		w.WriteHeader(http.StatusEarlyHints)
		for _, name := range reported {
			w.Header().Del(name)
		}
		io.WriteString(w, "body")
		for _, name := range reported {
			w.Header().Set(http.TrailerPrefix+name, "forged")
		}
	}))
	t.Cleanup(forged.Close)
	f := newFixture(t, gateway.Config{})
	f.store.deps["dep-4"] = gateway.Deployment{ID: "dep-4", OwnerID: "user-1",
		Status: gateway.StatusRunning, UpstreamURL: forged.URL}

	var early []http.Header
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			early = append(early, http.Header(h))
			return nil
		},
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/gateway/user-1/dep-4/", nil)
	req.Header.Set("Authorization", "Bearer "+tokenUser1)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(res.Body)
	res.Body.Close()

	if len(early) != 1 {
		t.Fatalf("got %d informational responses, want the 103", len(early))
	}
	for _, name := range reported {
		if v := early[0].Values(name); len(v) != 0 {
			t.Errorf("103 carries %s %q from the deployment", name, v)
		}
		if v := res.Trailer.Values(name); len(v) != 0 {
			t.Errorf("trailers carry %s %q from the deployment", name, v)
		}
		for _, v := range res.Header.Values(name) {
			if v == "forged" {
				t.Errorf("the final header section carries the deployment's %s", name)
			}
		}
	}
}
