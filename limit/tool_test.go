package limit_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcphub/apigateway/limit"
)

// toolRequest is request for an MCP tools/call of tool.
func toolRequest(user, deployment, tool string) *http.Request {
	r := request("", deployment, "192.0.2.1:1000")
	return r.WithContext(limit.NewContext(r.Context(),
		limit.Subject{UserID: user, DeploymentID: deployment, Tool: tool}))
}

// A tool given a rate gets its own counter per deployment, shared by its
// callers and taken after the user's and the deployment's; tools without
// a rate, and requests naming no tool, get none.
func TestToolRateCountsOnlyLimitedTools(t *testing.T) {
	store := &recordingStore{LimitStore: limit.NewMemoryStore(limit.MemoryConfig{})}
	var asked []string
	h := newLimiter(t, limit.Config{
		Store: store,
		ToolRate: func(_ context.Context, deployment, tool string) (limit.Rate, bool) {
			asked = append(asked, deployment+"/"+tool)
			if tool == "search" {
				return limit.Rate{Limit: 2, Period: time.Minute}, true
			}
			return limit.Rate{}, false
		},
	}).Handler(&upstream{})

	for _, r := range []*http.Request{
		toolRequest("user-1", "dep-1", "search"),
		toolRequest("user-2", "dep-1", "search"),
		toolRequest("user-1", "dep-1", "add"),
		toolRequest("user-1", "dep-1", ""),
	} {
		if w := serve(h, r); w.Code != http.StatusOK {
			s, _ := limit.FromContext(r.Context())
			t.Fatalf("%+v: %d, want 200", s, w.Code)
		}
	}
	w := serve(h, toolRequest("user-3", "dep-1", "search"))

	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("third search on dep-1: %d, want 429", w.Code)
	}
	if got, want := w.Header().Get("RateLimit-Policy"), `"tool";q=2;w=60`; got != want {
		t.Errorf("RateLimit-Policy = %q, want %q", got, want)
	}
	p := decodeProblem(t, w)
	if p.Status != http.StatusTooManyRequests {
		t.Errorf("problem %+v, want a 429", p)
	}
	want := []string{
		"u:user-1", "d:dep-1", "t:dep-1:search",
		"u:user-2", "d:dep-1", "t:dep-1:search",
		"u:user-1", "d:dep-1",
		"u:user-1", "d:dep-1",
		"u:user-3", "d:dep-1", "t:dep-1:search",
	}
	if diff := cmp.Diff(want, store.keys); diff != "" {
		t.Errorf("keys taken (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dep-1/search", "dep-1/search", "dep-1/add", "dep-1/search"}, asked); diff != "" {
		t.Errorf("ToolRate asked (-want +got):\n%s", diff)
	}
	// Another deployment's tool of the same name has its own counter.
	if w := serve(h, toolRequest("user-1", "dep-2", "search")); w.Code != http.StatusOK {
		t.Errorf("search on dep-2: %d, want 200", w.Code)
	}
}
