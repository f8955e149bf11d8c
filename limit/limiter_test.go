package limit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcphub/apigateway/limit"
)

// upstream stands for the deployment: it counts the requests that reach it.
type upstream struct {
	mu   sync.Mutex
	hits int
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.hits++
	u.mu.Unlock()
	fmt.Fprint(w, "ok")
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits
}

// recordingStore records the keys it is asked to take.
type recordingStore struct {
	limit.LimitStore
	mu   sync.Mutex
	keys []string
}

func (s *recordingStore) Take(ctx context.Context, key string, rate limit.Rate) (limit.Result, error) {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
	return s.LimitStore.Take(ctx, key, rate)
}

// failingStore fails every call with an error whose text must never reach
// a client.
type failingStore struct{}

var errStoreSecret = errors.New("dial tcp 10.1.2.3:6379: connect: connection refused (secret-store-text)")

func (failingStore) Take(context.Context, string, limit.Rate) (limit.Result, error) {
	return limit.Result{}, errStoreSecret
}

// hungStore never answers; it returns only when the context is done.
type hungStore struct{}

func (hungStore) Take(ctx context.Context, _ string, _ limit.Rate) (limit.Result, error) {
	<-ctx.Done()
	return limit.Result{}, ctx.Err()
}

func newLimiter(t *testing.T, cfg limit.Config) *limit.Limiter {
	t.Helper()
	l, err := limit.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

// request returns a request from addr to a deployment, authenticated as
// user: the Subject the gateway sets once authentication and the ownership
// check have passed. An empty user means no Subject.
func request(user, deployment, addr string) *http.Request {
	r := httptest.NewRequest("GET", "/api/gateway/"+user+"/"+deployment+"/", nil)
	r.RemoteAddr = addr
	if user != "" {
		r = r.WithContext(limit.NewContext(r.Context(), limit.Subject{UserID: user, DeploymentID: deployment}))
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func decodeProblem(t *testing.T, w *httptest.ResponseRecorder) problemBody {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type: got %q, want application/problem+json", ct)
	}
	var p problemBody
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("decoding problem %q: %v", w.Body, err)
	}
	return p
}

func atoi(t *testing.T, name, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s: %q is not an integer", name, s)
	}
	return n
}

// The 429 a user gets past their limit: Retry-After in seconds, the
// three X-RateLimit fields and the draft fields consistent with it, a
// problem naming the limit, and no contact with the deployment.
func TestExceededUserLimitAnswers429(t *testing.T) {
	const n = 3
	up := &upstream{}
	h := newLimiter(t, limit.Config{PerUser: limit.Rate{Limit: n, Period: time.Minute}}).Handler(up)

	for i := 1; i <= n; i++ {
		w := serve(h, request("user-1", "dep-1", "192.0.2.1:1000"))
		if w.Code != http.StatusOK {
			t.Fatalf("request %d: got %d, want 200", i, w.Code)
		}
		if got, want := w.Header().Get("X-RateLimit-Remaining"), strconv.Itoa(n-i); got != want {
			t.Errorf("request %d: X-RateLimit-Remaining %q, want %q", i, got, want)
		}
	}
	w := serve(h, request("user-1", "dep-1", "192.0.2.1:1000"))

	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("request %d: got %d, want 429", n+1, w.Code)
	}
	if up.count() != n {
		t.Errorf("deployment reached %d times, want %d: a refused request must not reach it", up.count(), n)
	}
	h429 := w.Header()
	retry := atoi(t, "Retry-After", h429.Get("Retry-After"))
	if retry < 59 || retry > 60 {
		t.Errorf("Retry-After: got %d, want about 60 seconds", retry)
	}
	if got := h429.Get("X-RateLimit-Reset"); got != h429.Get("Retry-After") {
		t.Errorf("X-RateLimit-Reset %q and Retry-After %q differ; both are seconds from now",
			got, h429.Get("Retry-After"))
	}
	if got, want := h429.Get("X-RateLimit-Limit"), "3"; got != want {
		t.Errorf("X-RateLimit-Limit: got %q, want %q", got, want)
	}
	if got, want := h429.Get("X-RateLimit-Remaining"), "0"; got != want {
		t.Errorf("X-RateLimit-Remaining: got %q, want %q", got, want)
	}
	if got, want := h429.Get("RateLimit-Policy"), `"user";q=3;w=60`; got != want {
		t.Errorf("RateLimit-Policy: got %q, want %q", got, want)
	}
	if got, want := h429.Get("RateLimit"), fmt.Sprintf(`"user";r=0;t=%d`, retry); got != want {
		t.Errorf("RateLimit: got %q, want %q", got, want)
	}
	p := decodeProblem(t, w)
	if !strings.HasSuffix(p.Type, "#rate-limited") || p.Status != 429 {
		t.Errorf("problem: got type %q status %d, want #rate-limited 429", p.Type, p.Status)
	}
	if !strings.Contains(p.Detail, "per-user") {
		t.Errorf("problem detail %q does not name the per-user limit", p.Detail)
	}
}

func TestExceededDeploymentLimitNamesDeployment(t *testing.T) {
	h := newLimiter(t, limit.Config{PerDeployment: limit.Rate{Limit: 1, Period: time.Minute}}).
		Handler(&upstream{})

	serve(h, request("user-1", "dep-1", "192.0.2.1:1000"))
	w := serve(h, request("user-1", "dep-1", "192.0.2.1:1000"))

	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("got %d, want 429", w.Code)
	}
	if p := decodeProblem(t, w); !strings.Contains(p.Detail, "per-deployment") {
		t.Errorf("problem detail %q does not name the per-deployment limit", p.Detail)
	}
	if got, want := w.Header().Get("RateLimit-Policy"), `"deployment";q=1;w=60`; got != want {
		t.Errorf("RateLimit-Policy: got %q, want %q", got, want)
	}
}

// A request the user's counter refuses is not counted against the
// deployment, so a caller over their own limit cannot drain it.
func TestUserRefusalDoesNotChargeDeployment(t *testing.T) {
	store := &recordingStore{LimitStore: limit.NewMemoryStore(limit.MemoryConfig{})}
	h := newLimiter(t, limit.Config{Store: store, PerUser: limit.Rate{Limit: 1, Period: time.Minute}}).
		Handler(&upstream{})

	serve(h, request("user-1", "dep-1", "192.0.2.1:1000"))
	w := serve(h, request("user-1", "dep-1", "192.0.2.1:1000"))

	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("second request: got %d, want 429", w.Code)
	}
	want := []string{"u:user-1", "d:dep-1", "u:user-1"}
	if diff := cmp.Diff(want, store.keys); diff != "" {
		t.Errorf("keys taken (-want +got):\n%s", diff)
	}
}

// With both counters in play, the headers describe the one closest to
// refusing.
func TestHeadersReportTightestCounter(t *testing.T) {
	h := newLimiter(t, limit.Config{
		PerUser:       limit.Rate{Limit: 100, Period: time.Minute},
		PerDeployment: limit.Rate{Limit: 5, Period: time.Hour},
	}).Handler(&upstream{})

	w := serve(h, request("user-1", "dep-1", "192.0.2.1:1000"))

	if got, want := w.Header().Get("RateLimit-Policy"), `"deployment";q=5;w=3600`; got != want {
		t.Errorf("RateLimit-Policy: got %q, want %q", got, want)
	}
	if got, want := w.Header().Get("X-RateLimit-Remaining"), "4"; got != want {
		t.Errorf("X-RateLimit-Remaining: got %q, want %q", got, want)
	}
}

func TestHeaderSets(t *testing.T) {
	all := []string{"RateLimit-Policy", "RateLimit", "X-RateLimit-Limit", "X-RateLimit-Remaining",
		"X-RateLimit-Reset"}
	tests := []struct {
		set  limit.HeaderSet
		want []string
	}{
		{limit.HeadersAll, all},
		{limit.HeadersDraft, all[:2]},
		{limit.HeadersX, all[2:]},
		{limit.HeadersNone, nil},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(int(tt.set)), func(t *testing.T) {
			h := newLimiter(t, limit.Config{Headers: tt.set}).Handler(&upstream{})

			w := serve(h, request("user-1", "dep-1", "192.0.2.1:1000"))

			var got []string
			for _, name := range all {
				if w.Header().Get(name) != "" {
					got = append(got, name)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("headers sent (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExposedHeadersCoverEveryHeaderSent(t *testing.T) {
	h := newLimiter(t, limit.Config{PerUser: limit.Rate{Limit: 0, Period: time.Minute}}).Handler(&upstream{})
	w := serve(h, request("user-1", "dep-1", "192.0.2.1:1000"))

	exposed := map[string]bool{}
	for _, name := range limit.ExposedHeaders() {
		exposed[http.CanonicalHeaderKey(name)] = true
	}
	for name := range w.Header() {
		switch name {
		case "Content-Type", "Content-Length", "Cache-Control", "X-Content-Type-Options":
			continue
		}
		if !exposed[name] {
			t.Errorf("%s is sent but not in ExposedHeaders", name)
		}
	}
}

func TestOverrides(t *testing.T) {
	cfg := limit.Config{
		PerUser:       limit.Rate{Limit: 2, Period: time.Minute},
		PerDeployment: limit.Rate{Limit: 100, Period: time.Minute},
		UserRate: func(_ context.Context, user string) (limit.Rate, bool) {
			switch user {
			case "vip":
				return limit.Unlimited, true
			case "pro":
				return limit.Rate{Limit: 5, Period: time.Minute}, true
			case "broken":
				return limit.Rate{Limit: 1}, true // no period: ignored
			}
			return limit.Rate{}, false
		},
		DeploymentRate: func(_ context.Context, dep string) (limit.Rate, bool) {
			if dep == "open" {
				return limit.Unlimited, true
			}
			return limit.Rate{}, false
		},
	}
	tests := []struct {
		user, dep string
		allowed   int
		policy    string
	}{
		{"plain", "dep-1", 2, `"user";q=2;w=60`},
		{"pro", "dep-2", 5, `"user";q=5;w=60`},
		{"broken", "dep-3", 2, `"user";q=2;w=60`},
		{"vip", "dep-4", 100, `"deployment";q=100;w=60`},
		{"vip", "open", 150, ""},
	}
	for _, tt := range tests {
		t.Run(tt.user+"/"+tt.dep, func(t *testing.T) {
			h := newLimiter(t, cfg).Handler(&upstream{})
			allowed, policy := 0, ""
			for range 150 {
				w := serve(h, request(tt.user, tt.dep, "192.0.2.1:1000"))
				if w.Code == http.StatusOK {
					allowed++
					if allowed == 1 {
						policy = w.Header().Get("RateLimit-Policy")
					}
				}
			}
			if allowed != tt.allowed || policy != tt.policy {
				t.Errorf("got %d allowed, policy %q; want %d, %q", allowed, policy, tt.allowed, tt.policy)
			}
		})
	}
}

func TestRequestWithoutSubjectIsNotCounted(t *testing.T) {
	store := &recordingStore{LimitStore: limit.NewMemoryStore(limit.MemoryConfig{})}
	up := &upstream{}
	h := newLimiter(t, limit.Config{Store: store}).Handler(up)

	w := serve(h, request("", "dep-1", "192.0.2.1:1000"))

	if w.Code != http.StatusOK || up.count() != 1 {
		t.Fatalf("got %d, upstream hit %d times; want 200 and 1", w.Code, up.count())
	}
	if len(store.keys) != 0 || w.Header().Get("RateLimit") != "" {
		t.Errorf("got keys %v and RateLimit %q, want nothing counted or reported",
			store.keys, w.Header().Get("RateLimit"))
	}
}

func TestOnDecisionSeesEveryStoreCall(t *testing.T) {
	var got []string
	h := newLimiter(t, limit.Config{
		PerUser: limit.Rate{Limit: 1, Period: time.Minute},
		OnDecision: func(_ context.Context, d limit.Decision) {
			got = append(got, fmt.Sprintf("%s %s %s r=%d", d.Scope, d.Key, d.Outcome, d.Result.Remaining))
		},
	}).Handler(&upstream{})

	serve(h, request("user-1", "dep-1", "192.0.2.1:1000"))
	serve(h, request("user-1", "dep-1", "192.0.2.1:1000"))

	want := []string{
		"user u:user-1 allowed r=0",
		"deployment d:dep-1 allowed r=599",
		"user u:user-1 limited r=0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}

func TestErrorHandlerReceivesExceededError(t *testing.T) {
	var got error
	h := newLimiter(t, limit.Config{
		PerUser: limit.Rate{Limit: 0, Period: time.Minute},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			w.WriteHeader(http.StatusTeapot)
		},
	}).Handler(&upstream{})

	w := serve(h, request("user-1", "dep-1", "192.0.2.1:1000"))

	var exceeded *limit.ExceededError
	if !errors.As(got, &exceeded) || !errors.Is(got, limit.ErrLimited) {
		t.Fatalf("ErrorHandler got %v, want an *ExceededError wrapping ErrLimited", got)
	}
	if exceeded.Scope != limit.ScopeUser || exceeded.RetryAfter < time.Second ||
		exceeded.RetryAfter%time.Second != 0 {
		t.Errorf("got Scope %q RetryAfter %v, want user and whole seconds", exceeded.Scope, exceeded.RetryAfter)
	}
	if w.Code != http.StatusTeapot {
		t.Errorf("got %d, want the ErrorHandler's answer", w.Code)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  limit.Config
	}{
		{"rate without period", limit.Config{PerUser: limit.Rate{Limit: 5}}},
		{"negative timeout", limit.Config{StoreTimeout: -time.Second}},
		{"unknown header set", limit.Config{Headers: 42}},
		{"zero prefix", limit.Config{TrustedProxies: make([]netip.Prefix, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := limit.New(tt.cfg); err == nil {
				t.Error("New: got no error")
			}
		})
	}
}
