package problem_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/mcphub/apigateway/internal/problem"
	"github.com/mcphub/apigateway/internal/requestid"
)

func TestWriteSendsAnRFC9457Body(t *testing.T) {
	r := httptest.NewRequest("GET", "/x", nil)
	r = r.WithContext(requestid.NewContext(r.Context(), "req-1"))
	w := httptest.NewRecorder()
	w.Header().Set("Content-Encoding", "gzip") // planned for a body that is not sent
	p := problem.NotRunning.With("The deployment is stopped.")
	p.RetryAfter = 1500 * time.Millisecond

	problem.Write(w, r, p)

	if w.Code != 503 || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %q, want 503 application/problem+json", w.Code, w.Header().Get("Content-Type"))
	}
	if got := w.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (rounded up)", got)
	}
	if got := w.Header().Get("Content-Encoding"); got != "" {
		t.Errorf("Content-Encoding = %q, want it removed", got)
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": problem.TypeBase + "deployment-not-running", "title": "Deployment not running",
		"status": float64(503), "detail": "The deployment is stopped.", "request_id": "req-1"}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %v, want %v", k, body[k], v)
		}
	}
	if got, want := w.Header().Get("Content-Length"), len(w.Body.Bytes()); got != strconv.Itoa(want) {
		t.Errorf("Content-Length = %s, body is %d bytes", got, want)
	}
}

func TestWriteSendsNoBodyToHead(t *testing.T) {
	w := httptest.NewRecorder()
	problem.Write(w, httptest.NewRequest("HEAD", "/x", nil), problem.NotFound)
	if w.Code != http.StatusNotFound || w.Body.Len() != 0 {
		t.Errorf("HEAD: got %d with %d body bytes, want 404 and none", w.Code, w.Body.Len())
	}
}
