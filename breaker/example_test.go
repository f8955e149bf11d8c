package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/mcphub/apigateway/breaker"
)

// downTransport stands for a deployment that answers every request with
// 503.
type downTransport struct{}

func (downTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusServiceUnavailable,
		Header:     http.Header{},
		Body:       io.NopCloser(strings.NewReader("overloaded")),
		Request:    r,
	}, nil
}

func Example() {
	b, err := breaker.New(breaker.Config{
		Default: breaker.Settings{ConsecutiveFailures: 2, OpenDelay: 30 * time.Second},
		OnStateChange: func(key string, from, to breaker.State) {
			fmt.Printf("%s: %v -> %v\n", key, from, to)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := &http.Client{Transport: b.RoundTripper(downTransport{})}

	// The gateway names the deployment in each upstream request's context.
	ctx := breaker.NewContext(context.Background(), "dep-1")
	for range 3 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://dep-1.internal/", nil)
		resp, err := client.Do(req)
		var open *breaker.OpenError
		switch {
		case errors.As(err, &open):
			fmt.Println("refused, retry after", open.RetryAfter.Round(time.Second))
		case err != nil:
			fmt.Println(err)
		default:
			resp.Body.Close()
			fmt.Println("upstream answered", resp.StatusCode)
		}
	}
	fmt.Println("state:", b.State("dep-1"))
	// Output:
	// upstream answered 503
	// dep-1: closed -> open
	// upstream answered 503
	// refused, retry after 30s
	// state: open
}

func ExampleWriteError() {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/api/gateway/user-1/dep-1/", nil)

	breaker.WriteError(w, r, &breaker.OpenError{Key: "dep-1", RetryAfter: 12300 * time.Millisecond})

	fmt.Println(w.Code, w.Header().Get("Retry-After"), w.Header().Get("Content-Type"))
	// Output:
	// 503 13 application/problem+json
}
