package gateway_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/mcphub/apigateway/gateway"
)

// fail makes the store fail every call (an error, or a hang past the
// lookup timeout when hang is set) until the returned function is called.
func (s *fakeStore) fail(hang bool) (restore func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if hang {
		s.delay = time.Hour
	} else {
		s.err = errors.New("pq: connection refused")
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.err, s.delay = nil, 0
	}
}

// With StaleIfError, a deployment verified shortly before the store fails
// keeps being served; one never verified, one verified too long ago, one
// the host forgot and a gateway without the setting all get the 503.
func TestStaleIfErrorServesRecentlyVerifiedDeployments(t *testing.T) {
	const ttl = 20 * time.Millisecond
	for _, hang := range []bool{false, true} {
		name := map[bool]string{false: "store errors", true: "store hangs"}[hang]
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, gateway.Config{
				CacheTTL:      ttl,
				StaleIfError:  time.Minute,
				LookupTimeout: 50 * time.Millisecond,
			})
			plain := newFixture(t, gateway.Config{CacheTTL: ttl, LookupTimeout: 50 * time.Millisecond})
			for _, fx := range []*fixture{f, plain} {
				if resp, _ := fx.get(t, "/api/gateway/user-1/dep-1/", tokenUser1); resp.StatusCode != 200 {
					t.Fatalf("before the outage: %d, want 200", resp.StatusCode)
				}
				defer fx.store.fail(hang)()
			}
			time.Sleep(2 * ttl) // past the cache's TTL: the store is asked

			resp, body := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1)
			if resp.StatusCode != http.StatusOK || body != "dep-1 /" {
				t.Errorf("verified deployment during the outage: %d %q, want 200 from dep-1", resp.StatusCode, body)
			}
			if resp, _ := f.get(t, "/api/gateway/user-2/dep-2/", tokenUser2); resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("deployment never verified: %d, want 503", resp.StatusCode)
			}
			if resp, _ := f.get(t, "/api/gateway/user-2/dep-1/", tokenUser2); resp.StatusCode != http.StatusNotFound {
				t.Errorf("another user asking for the stale deployment: %d, want 404", resp.StatusCode)
			}
			if resp, _ := plain.get(t, "/api/gateway/user-1/dep-1/", tokenUser1); resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("without StaleIfError: %d, want 503", resp.StatusCode)
			}

			f.gw.Forget("dep-1")
			if resp, _ := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1); resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("after Forget: %d, want 503: the host said the answer is no longer true", resp.StatusCode)
			}
		})
	}
}

// The window counts from the store's last answer, and an answer that the
// deployment is gone ends it at once.
func TestStaleIfErrorWindowAndRemoval(t *testing.T) {
	const ttl = 10 * time.Millisecond
	f := newFixture(t, gateway.Config{CacheTTL: ttl, StaleIfError: 100 * time.Millisecond})
	get := func() int {
		resp, _ := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1)
		return resp.StatusCode
	}
	if code := get(); code != 200 {
		t.Fatalf("before the outage: %d", code)
	}
	restore := f.store.fail(false)
	time.Sleep(2 * ttl)
	if code := get(); code != 200 {
		t.Errorf("inside the window: %d, want 200", code)
	}
	time.Sleep(150 * time.Millisecond)
	if code := get(); code != http.StatusServiceUnavailable {
		t.Errorf("past the window: %d, want 503", code)
	}

	restore()
	if code := get(); code != 200 {
		t.Fatalf("store back: %d, want 200", code)
	}
	f.store.mu.Lock()
	delete(f.store.deps, "dep-1")
	f.store.mu.Unlock()
	time.Sleep(2 * ttl)
	if code := get(); code != http.StatusNotFound {
		t.Fatalf("deleted: %d, want 404", code)
	}
	f.store.fail(false)
	time.Sleep(1100 * time.Millisecond) // past the cached not-found
	if code := get(); code != http.StatusServiceUnavailable {
		t.Errorf("deleted, then the store fails: %d, want 503, not the old answer", code)
	}
}

func TestNewRefusesNegativeStaleIfError(t *testing.T) {
	_, err := gateway.New(gateway.Config{
		Verifier:     sessionsOrTokens(t),
		Deployments:  &fakeStore{},
		StaleIfError: -time.Second,
	})
	if err == nil {
		t.Error("New accepted a negative StaleIfError")
	}
}
