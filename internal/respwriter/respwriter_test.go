package respwriter_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mcphub/apigateway/internal/respwriter"
)

func TestBeforeHookRunsOnceForTheFinalStatus(t *testing.T) {
	rec := httptest.NewRecorder()
	var calls []int
	w := respwriter.Wrap(rec, func(h http.Header, status int) {
		calls = append(calls, status)
		h.Set("X-Policy", "on")
	})

	w.Write([]byte("hello"))
	w.WriteHeader(http.StatusTeapot) // superfluous, passed on for net/http to report

	if len(calls) != 1 || calls[0] != http.StatusOK {
		t.Errorf("hook calls = %v, want one, for the implicit 200", calls)
	}
	if w.Status() != http.StatusOK || w.Written() != 5 || w.Unwritten() {
		t.Errorf("Status %d Written %d Unwritten %v; want 200, 5, false", w.Status(), w.Written(), w.Unwritten())
	}
	if rec.Header().Get("X-Policy") != "on" {
		t.Error("the hook's header edit did not reach the response")
	}
}

func TestControllerReachesTheServersWriter(t *testing.T) {
	rec := httptest.NewRecorder()
	w := respwriter.Wrap(rec, nil)
	if err := http.NewResponseController(w).Flush(); err != nil {
		t.Fatalf("Flush through the wrapper: %v", err)
	}
	if !rec.Flushed {
		t.Error("the recorder was not flushed")
	}
	if w.Unwrap() != rec {
		t.Error("Unwrap does not return the wrapped writer")
	}
}
