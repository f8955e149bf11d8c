package breaker_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/apigateway/breaker"
	"github.com/mcphub/apigateway/internal/problem"
)

// An open breaker is answered with a 503 problem that says the deployment
// is paused, with Retry-After rounded up to whole seconds, at least 1, and
// nothing about where the deployment runs.
func TestWriteErrorOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		retryAfter time.Duration
		want       string
	}{
		{0, "1"},
		{300 * time.Millisecond, "1"},
		{time.Second, "1"},
		{1200 * time.Millisecond, "2"},
		{29*time.Second + 999*time.Millisecond, "30"},
	}
	for _, tt := range tests {
		err := fmt.Errorf("proxy: upstream unreachable: %w",
			&breaker.OpenError{Key: "dep-1", RetryAfter: tt.retryAfter})
		r := httptest.NewRequest(http.MethodGet, "http://10.0.0.11:8080/app", nil)
		w := httptest.NewRecorder()

		breaker.WriteError(w, r, err)

		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != tt.want {
			t.Errorf("RetryAfter %v: got %d, Retry-After %q; want 503, %q",
				tt.retryAfter, w.Code, w.Header().Get("Retry-After"), tt.want)
		}
		if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
			t.Errorf("Content-Type: got %q, want %q", ct, problem.ContentType)
		}
		var p problem.Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatalf("body %q: %v", w.Body, err)
		}
		if p.Type != problem.TypeBase+"circuit-open" || p.Status != http.StatusServiceUnavailable ||
			!strings.Contains(p.Detail, "failing") || !strings.Contains(p.Detail, "paused") {
			t.Errorf("problem: got %+v", p)
		}
		for _, leak := range []string{"10.0.0.11", "dep-1"} {
			if strings.Contains(w.Body.String(), leak) {
				t.Errorf("body %q names %q", w.Body, leak)
			}
		}
	}
}

// ErrOpen alone still gets the 503; any other error a 502.
func TestWriteErrorOthers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err        error
		code       int
		retryAfter string
	}{
		{breaker.ErrOpen, http.StatusServiceUnavailable, "1"},
		{errors.New("dial tcp 10.0.0.11:8080: connection refused"), http.StatusBadGateway, ""},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		breaker.WriteError(w, httptest.NewRequest(http.MethodGet, "/", nil), tt.err)

		if w.Code != tt.code || w.Header().Get("Retry-After") != tt.retryAfter {
			t.Errorf("%v: got %d, Retry-After %q; want %d, %q",
				tt.err, w.Code, w.Header().Get("Retry-After"), tt.code, tt.retryAfter)
		}
		if strings.Contains(w.Body.String(), "10.0.0.11") {
			t.Errorf("%v: body %q names the upstream", tt.err, w.Body)
		}
	}
}
