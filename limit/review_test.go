package limit_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/mcphub/apigateway/limit"
)

// Subjects given to the Limiter directly may hold any ids: a deployment id
// with a colon must not share a tool counter with another deployment whose
// id and tool name, joined, read the same.
func TestToolCountersOfColonIDsDoNotCollide(t *testing.T) {
	h := newLimiter(t, limit.Config{
		ToolRate: func(context.Context, string, string) (limit.Rate, bool) {
			return limit.Rate{Limit: 1, Period: time.Minute}, true
		},
	}).Handler(&upstream{})
	serve(h, toolRequest("user-1", "team:a", "x"))

	w := serve(h, toolRequest("user-2", "team", "a:x"))

	if w.Code != http.StatusOK {
		t.Errorf("deployment team, tool a:x: got %d, want 200 (its own counter, "+
			"not team:a's tool x)", w.Code)
	}
}
