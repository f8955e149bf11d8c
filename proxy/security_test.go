package proxy

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcphub/apigateway/internal/problem"
)

// wantSecurityHeaders checks that h carries the default policy's headers
// exactly once each.
func wantSecurityHeaders(t *testing.T, h http.Header, frame string) {
	t.Helper()
	want := map[string][]string{
		"X-Content-Type-Options": {"nosniff"},
		"Referrer-Policy":        {"strict-origin-when-cross-origin"},
		"X-Frame-Options":        {frame},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, h[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
}

func TestSecurityHeadersOwnProxiedResponses(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "ALLOWALL")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "unsafe-url")
		h.Set("Strict-Transport-Security", "max-age=0")
		h.Set("Content-Security-Policy", "frame-ancestors *")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Credentials", "true")
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})

	res, _ := do(t, newRequest(t, "GET", g.url("dep-1", "/"), nil))

	// The deployment's own framing policy is kept, once: the default
	// X-Frame-Options only fills a gap.
	wantSecurityHeaders(t, res.Header, "ALLOWALL")
	if got := res.Header["Content-Security-Policy"]; len(got) != 1 {
		t.Errorf("Content-Security-Policy = %q, want one line", got)
	}
	for _, k := range []string{"Strict-Transport-Security", "Access-Control-Allow-Origin",
		"Access-Control-Allow-Credentials"} {
		if v, ok := res.Header[k]; ok {
			t.Errorf("%s = %q, want the upstream's removed", k, v)
		}
	}
}

func TestSecurityHeadersOnGatewayErrors(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + refused.Addr().String()
	refused.Close()
	release := make(chan struct{})
	silent := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	transport := NewTransport(TransportConfig{ResponseHeaderTimeout: 100 * time.Millisecond})
	g := newGateway(t, Config{Transport: transport},
		gatewayOptions{upstreams: map[string]string{"refused": refusedURL, "silent": silent.URL}})
	tests := []struct {
		name, url  string
		wantStatus int
	}{
		{"upstream refuses", g.url("refused", "/"), http.StatusBadGateway},
		{"upstream silent", g.url("silent", "/"), http.StatusGatewayTimeout},
		{"gateway's own 404", g.URL + "/elsewhere", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := do(t, newRequest(t, "GET", tt.url, nil))

			if res.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			wantSecurityHeaders(t, res.Header, "SAMEORIGIN")
			if got := res.Header.Get("Content-Type"); got != problem.ContentType {
				t.Errorf("Content-Type = %q, want %q", got, problem.ContentType)
			}
			if strings.Contains(string(body), "127.0.0.1") {
				t.Errorf("problem body %s names an internal address", body)
			}
		})
	}
}

func TestSecurityHeadersPolicy(t *testing.T) {
	tests := []struct {
		name string
		have http.Header
		want http.Header
	}{
		{
			name: "empty response",
			have: http.Header{},
			want: http.Header{
				"X-Content-Type-Options": {"nosniff"},
				"Referrer-Policy":        {"strict-origin-when-cross-origin"},
				"X-Frame-Options":        {"SAMEORIGIN"},
			},
		},
		{
			name: "Set replaces duplicates",
			have: http.Header{
				"X-Content-Type-Options": {"nosniff", "nosniff"},
				"Referrer-Policy":        {"unsafe-url"},
			},
			want: http.Header{
				"X-Content-Type-Options": {"nosniff"},
				"Referrer-Policy":        {"strict-origin-when-cross-origin"},
				"X-Frame-Options":        {"SAMEORIGIN"},
			},
		},
		{
			name: "frame-ancestors supersedes X-Frame-Options",
			have: http.Header{
				"Content-Security-Policy": {"default-src 'self'; frame-ancestors 'none'"},
			},
			want: http.Header{
				"Content-Security-Policy": {"default-src 'self'; frame-ancestors 'none'"},
				"X-Content-Type-Options":  {"nosniff"},
				"Referrer-Policy":         {"strict-origin-when-cross-origin"},
			},
		},
		{
			name: "frame-ancestors in a second policy",
			have: http.Header{
				"Content-Security-Policy": {"default-src 'self', FRAME-ANCESTORS\t'self'"},
			},
			want: http.Header{
				"Content-Security-Policy": {"default-src 'self', FRAME-ANCESTORS\t'self'"},
				"X-Content-Type-Options":  {"nosniff"},
				"Referrer-Policy":         {"strict-origin-when-cross-origin"},
			},
		},
		{
			name: "other CSP directives do not count",
			have: http.Header{"Content-Security-Policy": {"default-src 'self'; frame-src 'none'"}},
			want: http.Header{
				"Content-Security-Policy": {"default-src 'self'; frame-src 'none'"},
				"X-Content-Type-Options":  {"nosniff"},
				"Referrer-Policy":         {"strict-origin-when-cross-origin"},
				"X-Frame-Options":         {"SAMEORIGIN"},
			},
		},
	}
	pol := compile(DefaultSecurityHeaders())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.have.Clone()

			pol.apply(h, http.StatusOK)

			if diff := cmp.Diff(tt.want, h); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSecurityHeadersRemoveAndCanonicalKeys(t *testing.T) {
	s := SecurityHeaders{
		Set:    http.Header{"x-frame-options": {"DENY"}, "X-Empty": nil},
		Remove: []string{"server", "x-powered-by"},
	}
	h := http.Header{"Server": {"app/1.0"}, "X-Powered-By": {"php"}, "X-Frame-Options": {"ALLOWALL"}}

	compile(s).apply(h, http.StatusOK)

	if diff := cmp.Diff(http.Header{"X-Frame-Options": {"DENY"}}, h); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestSecurityHeadersCopiedWhenHandlerBuilt(t *testing.T) {
	s := DefaultSecurityHeaders()
	h := s.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s.Set.Set("X-Content-Type-Options", "changed")
	s.Default.Del("X-Frame-Options")
	rec := httptest.NewRecorder()

	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))

	wantSecurityHeaders(t, rec.Header(), "SAMEORIGIN")
}

func TestSecurityHeadersValuesNotShared(t *testing.T) {
	pol := compile(DefaultSecurityHeaders())
	first := http.Header{}
	pol.apply(first, http.StatusOK)

	// A writer editing the map in place afterwards must not reach the
	// policy, nor the next response.
	first["X-Content-Type-Options"][0] = "tampered"
	first["Referrer-Policy"] = append(first["Referrer-Policy"], "unsafe-url")
	second := http.Header{}
	pol.apply(second, http.StatusOK)

	wantSecurityHeaders(t, second, "SAMEORIGIN")
}

func TestSecurityHeadersOnImplicitOK(t *testing.T) {
	silent := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(DefaultSecurityHeaders().Handler(silent))
	defer srv.Close()

	res, _ := do(t, newRequest(t, "GET", srv.URL, nil))

	if res.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", res.StatusCode)
	}
	wantSecurityHeaders(t, res.Header, "SAMEORIGIN")
}
