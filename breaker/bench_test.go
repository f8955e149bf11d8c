package breaker_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/mcphub/apigateway/breaker"
)

// cannedTransport answers every request with the same small response, so
// that the benchmarks measure the breaker rather than the network.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader("{}")),
		Request:    r,
	}, nil
}

// benchRoundTrip measures requests for dep-1 through wrap(next), against
// an in-process transport and against an httptest upstream on loopback.
func benchRoundTrip(b *testing.B, wrap func(http.RoundTripper) http.RoundTripper) {
	ctx := breaker.NewContext(context.Background(), "dep-1")
	b.Run("in-process", func(b *testing.B) {
		rt := wrap(cannedTransport{})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://upstream.invalid/", nil)
		b.ReportAllocs()
		for b.Loop() {
			resp, _ := rt.RoundTrip(req)
			resp.Body.Close()
		}
	})
	b.Run("in-process parallel", func(b *testing.B) {
		rt := wrap(cannedTransport{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://upstream.invalid/", nil)
			for pb.Next() {
				resp, _ := rt.RoundTrip(req)
				resp.Body.Close()
			}
		})
	})
	b.Run("httptest", func(b *testing.B) {
		upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "{}")
		}))
		defer upstream.Close()
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		rt := wrap(tr)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, upstream.URL, nil)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

func BenchmarkRoundTripBare(b *testing.B) {
	benchRoundTrip(b, func(next http.RoundTripper) http.RoundTripper { return next })
}

func BenchmarkRoundTripBreaker(b *testing.B) {
	br, err := breaker.New(breaker.Config{})
	if err != nil {
		b.Fatal(err)
	}
	benchRoundTrip(b, br.RoundTripper)
}

// BenchmarkNewBreaker measures a key's first request: the breaker it
// creates, and its share of the registry. B/op approximates the memory a
// breaker holds.
func BenchmarkNewBreaker(b *testing.B) {
	br, err := breaker.New(breaker.Config{MaxBreakers: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	rt := br.RoundTripper(cannedTransport{})
	reqs := make([]*http.Request, 0, 1<<16)
	for i := range cap(reqs) {
		ctx := breaker.NewContext(context.Background(), "dep-"+strconv.Itoa(i))
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://upstream.invalid/", nil)
		reqs = append(reqs, r)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(reqs) {
			b.StopTimer()
			br, _ = breaker.New(breaker.Config{MaxBreakers: 1 << 30})
			rt, i = br.RoundTripper(cannedTransport{}), 0
			b.StartTimer()
		}
		resp, _ := rt.RoundTrip(reqs[i])
		resp.Body.Close()
		i++
	}
}
