package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mcphub/apigateway/internal/requestid"
)

// cannedTransport answers every request with the same small response, so
// the benchmark measures the proxy rather than the network.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}, "Content-Length": {"2"}},
		Body:          io.NopCloser(strings.NewReader("{}")),
		ContentLength: 2,
		Request:       r,
	}, nil
}

func BenchmarkProxy(b *testing.B) {
	upstream, _ := url.Parse("http://10.0.0.11:8080/base/")
	target := &Target{
		Upstream:     upstream,
		Prefix:       "/api/gateway/user-1/dep-1",
		Path:         "/files/a%2Fb",
		UserID:       "user-1",
		DeploymentID: "dep-1",
	}
	req := httptest.NewRequest("GET", "http://"+publicHost+gatewayPrefix+"dep-1/files/a%2Fb?q=1", nil)
	req.Header.Set("Cookie", "gw_session=S1; app_pref=dark")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	ctx := requestid.NewContext(NewContext(req.Context(), target), "req-1")
	req = req.WithContext(ctx)

	b.Run("canned upstream", func(b *testing.B) {
		p, err := New(Config{Transport: cannedTransport{}, SessionCookie: sessionCookie})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			p.ServeHTTP(discardWriter{h: http.Header{}}, req)
		}
	})
	b.Run("with security headers", func(b *testing.B) {
		p, err := New(Config{Transport: cannedTransport{}, SessionCookie: sessionCookie})
		if err != nil {
			b.Fatal(err)
		}
		h := DefaultSecurityHeaders().Handler(p)
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(discardWriter{h: http.Header{}}, req)
		}
	})
	b.Run("loopback upstream", func(b *testing.B) {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("{}"))
		}))
		defer up.Close()
		u, _ := url.Parse(up.URL)
		t := *target
		t.Upstream = u
		r := req.WithContext(NewContext(ctx, &t))
		p, err := New(Config{SessionCookie: sessionCookie})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			p.ServeHTTP(discardWriter{h: http.Header{}}, r)
		}
	})
}

// discardWriter is a ResponseWriter that keeps headers and drops the body.
type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header         { return w.h }
func (w discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w discardWriter) WriteHeader(int)             {}
