package limit_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcphub/apigateway/limit"
)

// Check counts the Subject it is given, whatever the context holds, sets
// the headers of each header set exactly, and answers a refused request
// itself.
func TestCheckCountsTheGivenSubject(t *testing.T) {
	tests := []struct {
		set  limit.HeaderSet
		want http.Header
	}{
		{limit.HeadersAll, http.Header{
			"Ratelimit-Policy":      {`"user";q=2;w=60`},
			"Ratelimit":             {`"user";r=1;t=60`},
			"X-Ratelimit-Limit":     {"2"},
			"X-Ratelimit-Remaining": {"1"},
			"X-Ratelimit-Reset":     {"60"},
		}},
		{limit.HeadersDraft, http.Header{
			"Ratelimit-Policy": {`"user";q=2;w=60`},
			"Ratelimit":        {`"user";r=1;t=60`},
		}},
		{limit.HeadersX, http.Header{
			"X-Ratelimit-Limit":     {"2"},
			"X-Ratelimit-Remaining": {"1"},
			"X-Ratelimit-Reset":     {"60"},
		}},
		{limit.HeadersNone, http.Header{}},
	}
	for _, tt := range tests {
		l := newLimiter(t, limit.Config{PerUser: limit.Rate{Limit: 2, Period: time.Minute}, Headers: tt.set})
		// The context names someone else, whom Check must not count.
		r := request("other", "dep-9", "192.0.2.1:1000")
		s := limit.Subject{UserID: "user-1"}

		w := httptest.NewRecorder()
		if !l.Check(w, r, s) {
			t.Fatalf("headers %d: first request refused", tt.set)
		}
		if diff := cmp.Diff(tt.want, w.Header()); diff != "" {
			t.Errorf("headers %d (-want +got):\n%s", tt.set, diff)
		}

		l.Check(httptest.NewRecorder(), r, s)
		w = httptest.NewRecorder()
		if l.Check(w, r, s) || w.Code != http.StatusTooManyRequests {
			t.Errorf("headers %d: third request: got %d, want it refused with 429", tt.set, w.Code)
		}
		if !l.Check(httptest.NewRecorder(), r, limit.Subject{UserID: "other"}) {
			t.Errorf("headers %d: the context's user was counted", tt.set)
		}
	}
}
