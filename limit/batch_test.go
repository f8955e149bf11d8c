package limit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/mcphub/apigateway/limit"
)

// singleStore hides the TakeAll of the store it wraps, so that a Limiter
// takes one counter per call.
type singleStore struct{ s limit.LimitStore }

func (s singleStore) Take(ctx context.Context, key string, rate limit.Rate) (limit.Result, error) {
	return s.s.Take(ctx, key, rate)
}

// runScenario sends a fixed series of requests through a Handler on store
// and returns, for each, its status, its rate-limit headers but the ones
// that tell time, and the decisions OnDecision heard of.
func runScenario(t *testing.T, store limit.LimitStore) []string {
	t.Helper()
	var log []string
	h := newLimiter(t, limit.Config{
		Store:         store,
		PerUser:       limit.Rate{Limit: 3, Period: time.Minute},
		PerDeployment: limit.Rate{Limit: 5, Period: time.Minute},
		ToolRate: func(_ context.Context, _, tool string) (limit.Rate, bool) {
			return limit.Rate{Limit: 2, Period: time.Minute}, tool == "search"
		},
		OnDecision: func(_ context.Context, d limit.Decision) {
			log = append(log, fmt.Sprintf("  %s %s %v %s limit=%d remaining=%d allowed=%v",
				d.Scope, d.Key, d.Rate, d.Outcome, d.Result.Limit, d.Result.Remaining, d.Result.Allowed))
		},
	}).Handler(&upstream{})
	steps := []limit.Subject{
		{UserID: "a", DeploymentID: "d", Tool: "search"},
		{UserID: "a", DeploymentID: "d", Tool: "search"},
		{UserID: "a", DeploymentID: "d", Tool: "search"}, // refused by the tool
		{UserID: "a", DeploymentID: "d"},                 // refused by the user
		{UserID: "b", DeploymentID: "d"},
		{UserID: "b", DeploymentID: "d"},                 // fills the deployment
		{UserID: "b", DeploymentID: "d", Tool: "search"}, // refused by the deployment
		{UserID: "c", DeploymentID: "d", Tool: "other"},
	}
	for _, s := range steps {
		r := request("", "d", "192.0.2.1:1000")
		r = r.WithContext(limit.NewContext(r.Context(), s))
		w := serve(h, r)
		log = append(log, fmt.Sprintf("%+v: %d policy=%q limit=%q remaining=%q", s, w.Code,
			w.Header().Get("RateLimit-Policy"), w.Header().Get("X-RateLimit-Limit"),
			w.Header().Get("X-RateLimit-Remaining")))
	}
	return log
}

// A Limiter on a BatchStore answers, sets headers and reports decisions
// exactly as it does taking one counter per call: one decision per counter
// checked, none for the counters after a refusal.
func TestBatchedAndSingleTakesAgree(t *testing.T) {
	_, client := newMiniredis(t)
	batched, err := limit.NewRedisStore(client, uniquePrefix(t))
	if err != nil {
		t.Fatal(err)
	}
	single, err := limit.NewRedisStore(client, uniquePrefix(t))
	if err != nil {
		t.Fatal(err)
	}

	want := runScenario(t, limit.NewMemoryStore(limit.MemoryConfig{}))
	gotSingle := runScenario(t, singleStore{single})
	gotBatched := runScenario(t, batched)

	if diff := cmp.Diff(want, gotSingle); diff != "" {
		t.Errorf("Redis one counter per call against memory (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, gotBatched); diff != "" {
		t.Errorf("Redis batched against memory (-want +got):\n%s", diff)
	}
}

// The same, against the real Redis of APIGATEWAY_REDIS_URL.
func TestBatchedAndSingleTakesAgreeRealServer(t *testing.T) {
	client, prefix := realRedis(t)
	batched, err := limit.NewRedisStore(client, prefix+":batched")
	if err != nil {
		t.Fatal(err)
	}
	single, err := limit.NewRedisStore(client, prefix+":single")
	if err != nil {
		t.Fatal(err)
	}

	want := runScenario(t, singleStore{single})
	got := runScenario(t, batched)

	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batched against one counter per call (-want +got):\n%s", diff)
	}
}

// batchStore answers every TakeAll with results and err, whatever it is
// asked.
type batchStore struct {
	results []limit.Result
	err     error
}

func (s batchStore) Take(context.Context, string, limit.Rate) (limit.Result, error) {
	return limit.Result{}, errors.New("batchStore: Take called")
}

func (s batchStore) TakeAll(context.Context, []limit.Counter) ([]limit.Result, error) {
	return s.results, s.err
}

// A BatchStore that fails is reported against the first counter it did not
// take; one that breaks its contract is a store failure, never a pass.
func TestBatchStoreFailures(t *testing.T) {
	allowed := limit.Result{Limit: 10, Remaining: 9, Reset: time.Now().Add(time.Minute), Allowed: true}
	tests := []struct {
		name  string
		store batchStore
		want  []string
	}{
		{"Error", batchStore{err: errStoreSecret},
			[]string{"user error"}},
		{"ErrorAfterOne", batchStore{results: []limit.Result{allowed}, err: errStoreSecret},
			[]string{"user allowed", "deployment error"}},
		{"TooFewResults", batchStore{results: []limit.Result{allowed}},
			[]string{"user error"}},
		{"TooManyResults", batchStore{results: []limit.Result{allowed, allowed, allowed}},
			[]string{"user error"}},
		{"RefusalWithError", batchStore{results: []limit.Result{{}}, err: errStoreSecret},
			[]string{"user error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			up := &upstream{}
			h := newLimiter(t, limit.Config{
				Store: tt.store,
				OnDecision: func(_ context.Context, d limit.Decision) {
					got = append(got, fmt.Sprintf("%s %s", d.Scope, d.Outcome))
				},
			}).Handler(up)

			res, body, _ := serveResponse(h, request("user-1", "dep-1", "192.0.2.1:1000"))

			checkFailureAnswer(t, false, res, body)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decisions (-want +got):\n%s", diff)
			}
			if up.count() != 0 {
				t.Errorf("deployment reached %d times, want 0", up.count())
			}
		})
	}
}

// With Redis, a request costs one round trip however many counters it
// passes.
func TestRedisHandlerMakesOneRoundTrip(t *testing.T) {
	_, client := newMiniredis(t)
	var commands commandCounter
	client.AddHook(&commands)
	store, err := limit.NewRedisStore(client, uniquePrefix(t))
	if err != nil {
		t.Fatal(err)
	}
	h := newLimiter(t, limit.Config{
		Store: store,
		ToolRate: func(context.Context, string, string) (limit.Rate, bool) {
			return limit.Rate{Limit: 10, Period: time.Minute}, true
		},
	}).Handler(&upstream{})
	r := request("", "dep-1", "192.0.2.1:1000")
	r = r.WithContext(limit.NewContext(r.Context(),
		limit.Subject{UserID: "user-1", DeploymentID: "dep-1", Tool: "search"}))
	serve(h, r) // the first call also loads the script

	before := commands.n.Load()
	w := serve(h, r)
	got := commands.n.Load() - before

	if w.Code != http.StatusOK {
		t.Fatalf("got %d, want 200", w.Code)
	}
	if got != 1 {
		t.Errorf("Redis commands for a request with three counters: got %d, want 1", got)
	}
}

// slowRoundTrips delays every round trip to Redis, a single command or a
// pipeline, and counts them.
type slowRoundTrips struct {
	delay time.Duration
	trips atomic.Int64
}

func (s *slowRoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (s *slowRoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		s.trips.Add(1)
		time.Sleep(s.delay)
		return next(ctx, cmd)
	}
}

func (s *slowRoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		s.trips.Add(1)
		time.Sleep(s.delay)
		return next(ctx, cmds)
	}
}

// Requests that wait for Redis together share round trips: while a
// pipeline is out, the next requests' scripts queue and leave together.
// Each is still counted exactly once, including the first ones, which find
// that Redis does not know the script yet.
func TestRedisConcurrentRequestsSharePipelines(t *testing.T) {
	_, client := newMiniredis(t)
	slow := &slowRoundTrips{delay: 20 * time.Millisecond}
	client.AddHook(slow)
	store, err := limit.NewRedisStore(client, uniquePrefix(t))
	if err != nil {
		t.Fatal(err)
	}
	const callers = 64
	rate := limit.Rate{Limit: 1000, Period: time.Minute}

	var wg sync.WaitGroup
	start := make(chan struct{})
	remaining := make(chan int64, callers)
	for i := range callers {
		wg.Go(func() {
			<-start
			res, err := store.TakeAll(context.Background(), []limit.Counter{
				{Key: "u:shared", Rate: rate},
				{Key: "d:" + strconv.Itoa(i), Rate: rate},
			})
			if err != nil || len(res) != 2 {
				t.Errorf("TakeAll: got %+v, %v", res, err)
				return
			}
			remaining <- res[0].Remaining
		})
	}
	close(start)
	wg.Wait()
	close(remaining)

	seen := make(map[int64]bool)
	for r := range remaining {
		seen[r] = true
	}
	for want := int64(1000 - callers); want < 1000; want++ {
		if !seen[want] {
			t.Errorf("no caller saw Remaining %d: the shared counter was not taken once per caller", want)
		}
	}
	// Four pipelines may leave at once, and each that finds the script
	// missing loads it and goes again; on a busy machine the callers also
	// arrive over several round trips. Without pipelines it would be one
	// round trip per caller at least.
	if got := slow.trips.Load(); got > callers/2 {
		t.Errorf("%d callers made %d round trips to Redis, want at most %d", callers, got, callers/2)
	}
}
