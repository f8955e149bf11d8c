package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkCORS is the gateway's CORS handler on the requests most
// traffic is: without an Origin (same-origin and non-browser clients), and
// an actual request from a globally allowed origin.
func BenchmarkCORS(b *testing.B) {
	g := &Gateway{prefix: "/api/gateway/"}
	cors, err := g.newCORS(CORSConfig{AllowedOrigins: []string{"https://app.example.test"}})
	if err != nil {
		b.Fatal(err)
	}
	h := cors(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, origin := range []string{"", "https://app.example.test"} {
		name := "no-origin"
		if origin != "" {
			name = "allowed-origin"
		}
		b.Run(name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/api/gateway/u/d/small", nil)
			if origin != "" {
				r.Header.Set("Origin", origin)
			}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(headerWriter(make(http.Header)), r)
			}
		})
	}
}

// headerWriter is a ResponseWriter that keeps headers and drops the rest.
type headerWriter http.Header

func (w headerWriter) Header() http.Header       { return http.Header(w) }
func (headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (headerWriter) WriteHeader(int)             {}
