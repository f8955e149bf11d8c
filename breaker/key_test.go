package breaker_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/mcphub/apigateway/breaker"
)

// Config.Key decides which breaker guards a request, in place of the key
// in its context; a request it gives no key goes straight through.
func TestKeyHookNamesTheBreaker(t *testing.T) {
	t.Parallel()
	up := status(http.StatusBadGateway)
	cfg := trips(1, time.Hour)
	cfg.Key = func(r *http.Request) (string, bool) {
		key := r.Header.Get("X-Deployment")
		return key, key != ""
	}
	rt := newBreakers(t, cfg).RoundTripper(up)
	sendAs := func(deployment string) error {
		// The context names another breaker, which the hook overrides.
		ctx := breaker.NewContext(context.Background(), "ignored")
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://upstream.invalid/", nil)
		if deployment != "" {
			r.Header.Set("X-Deployment", deployment)
		}
		resp, err := rt.RoundTrip(r)
		if resp != nil {
			resp.Body.Close()
		}
		return err
	}

	sendAs("dep-1") // trips dep-1's breaker
	if err := sendAs("dep-1"); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("second request for dep-1: got %v, want ErrOpen", err)
	}
	if err := sendAs("dep-2"); err != nil {
		t.Errorf("request for dep-2: got %v, want it to reach the upstream", err)
	}
	for range 3 {
		if err := sendAs(""); err != nil {
			t.Errorf("request without a key: got %v, want it to reach the upstream", err)
		}
	}
}
