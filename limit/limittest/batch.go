package limittest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/apigateway/limit"
)

// RunBatch runs the conformance suite of [limit.BatchStore]: TakeAll counts
// on the same counters as Take, stops at the first counter that refuses
// without charging the ones after it, and is atomic. It does not run the
// suite of [Run], which a BatchStore should pass too. newStore is called
// once per subtest and may return the same store every time.
func RunBatch(t *testing.T, newStore func(t *testing.T) limit.BatchStore) {
	t.Helper()
	runSuite(t, newStore, ":batch:", []suiteTest[limit.BatchStore]{
		{"TakeAllCountsLikeTake", batchCountsLikeTake},
		{"TakeAllStopsAtRefusal", batchStopsAtRefusal},
		{"TakeAllStopsInTheMiddle", batchStopsInTheMiddle},
		{"TakeAllRatesArePerCounter", batchRatesArePerCounter},
		{"TakeAllResetIsEndOfWindow", batchResetIsEndOfWindow},
		{"ConcurrentTakeAllsAreExact", batchConcurrentIsExact},
		{"TakeAllNoCounters", batchNoCounters},
		{"TakeAllInvalidRateIsAnError", batchInvalidRateIsAnError},
	})
}

func takeAll(t *testing.T, s limit.BatchStore, counters ...limit.Counter) []limit.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := s.TakeAll(ctx, counters)
	if err != nil {
		t.Fatalf("TakeAll(%v): %v", counters, err)
	}
	return res
}

// remaining returns the Remaining of each result, and -1 for a refusal.
func remaining(results []limit.Result) []int64 {
	out := make([]int64, len(results))
	for i, res := range results {
		out[i] = res.Remaining
		if !res.Allowed {
			out[i] = -1
		}
	}
	return out
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// batchCountsLikeTake mixes batched and single calls on the same keys: they
// count on the same counters.
func batchCountsLikeTake(t *testing.T, s limit.BatchStore, key string) {
	rate := limit.Rate{Limit: 10, Period: time.Minute}
	a, b := limit.Counter{Key: key + ":a", Rate: rate}, limit.Counter{Key: key + ":b", Rate: rate}

	first := takeAll(t, s, a, b)
	single := take(t, s, a.Key, rate)
	second := takeAll(t, s, a, b)
	last := take(t, s, b.Key, rate)

	if got, want := remaining(first), []int64{9, 9}; !equal(got, want) {
		t.Fatalf("first TakeAll: got Remaining %v, want %v", got, want)
	}
	if single.Remaining != 8 {
		t.Fatalf("Take after TakeAll: got Remaining %d, want 8", single.Remaining)
	}
	if got, want := remaining(second), []int64{7, 8}; !equal(got, want) {
		t.Fatalf("TakeAll after Take: got Remaining %v, want %v", got, want)
	}
	if last.Remaining != 7 {
		t.Fatalf("Take after two TakeAlls: got Remaining %d, want 7", last.Remaining)
	}
	for _, res := range first {
		if res.Limit != 10 {
			t.Fatalf("TakeAll: got Limit %d, want 10", res.Limit)
		}
	}
}

// batchStopsAtRefusal checks that a counter after one that refuses is not
// charged, as a request the user's counter refuses is not counted against
// the deployment.
func batchStopsAtRefusal(t *testing.T, s limit.BatchStore, key string) {
	user := limit.Counter{Key: key + ":user", Rate: limit.Rate{Limit: 1, Period: time.Minute}}
	dep := limit.Counter{Key: key + ":dep", Rate: limit.Rate{Limit: 10, Period: time.Minute}}

	takeAll(t, s, user, dep)
	refused := takeAll(t, s, user, dep)
	after := take(t, s, dep.Key, dep.Rate)

	if len(refused) != 1 || refused[0].Allowed || refused[0].Remaining != 0 || refused[0].Limit != 1 {
		t.Fatalf("TakeAll past the first counter's limit: got %+v, want one refused result", refused)
	}
	if !refused[0].Reset.After(time.Now()) {
		t.Fatalf("refused TakeAll: Reset %v is not in the future", refused[0].Reset)
	}
	if after.Remaining != 8 {
		t.Fatalf("second counter after a refused TakeAll: got Remaining %d, want 8 (charged once)",
			after.Remaining)
	}
}

func batchStopsInTheMiddle(t *testing.T, s limit.BatchStore, key string) {
	rate := limit.Rate{Limit: 5, Period: time.Minute}
	a := limit.Counter{Key: key + ":a", Rate: rate}
	b := limit.Counter{Key: key + ":b", Rate: limit.Rate{Limit: 0, Period: time.Minute}}
	c := limit.Counter{Key: key + ":c", Rate: rate}

	got := takeAll(t, s, a, b, c)
	after := take(t, s, c.Key, rate)

	if want := []int64{4, -1}; !equal(remaining(got), want) {
		t.Fatalf("TakeAll refused by its second counter: got Remaining %v, want %v",
			remaining(got), want)
	}
	if after.Remaining != 4 {
		t.Fatalf("third counter after a TakeAll its second refused: got Remaining %d, want 4",
			after.Remaining)
	}
}

func batchRatesArePerCounter(t *testing.T, s limit.BatchStore, key string) {
	a := limit.Counter{Key: key + ":a", Rate: limit.Rate{Limit: 3, Period: time.Minute}}
	b := limit.Counter{Key: key + ":b", Rate: limit.Rate{Limit: 100, Period: time.Hour}}

	got := takeAll(t, s, a, b)

	if len(got) != 2 || got[0].Limit != 3 || got[0].Remaining != 2 ||
		got[1].Limit != 100 || got[1].Remaining != 99 {
		t.Fatalf("TakeAll under 3-M and 100-H: got %+v, want Limit/Remaining 3/2 and 100/99", got)
	}
	if d := time.Until(got[1].Reset); d < time.Hour-slack || d > time.Hour+slack {
		t.Fatalf("counter under 100-H: Reset is %v away, want about an hour", d)
	}
}

func batchResetIsEndOfWindow(t *testing.T, s limit.BatchStore, key string) {
	rate := limit.Rate{Limit: 10, Period: 30 * time.Second}
	a, b := limit.Counter{Key: key + ":a", Rate: rate}, limit.Counter{Key: key + ":b", Rate: rate}
	single := take(t, s, a.Key, rate)

	got := takeAll(t, s, a, b)

	if d := got[0].Reset.Sub(single.Reset).Abs(); d > slack {
		t.Fatalf("TakeAll moved the Reset of a counter Take started by %v, want a fixed window", d)
	}
	if d := time.Until(got[1].Reset); d < rate.Period-slack || d > rate.Period+slack {
		t.Fatalf("fresh counter in TakeAll: Reset is %v away, want about %v", d, rate.Period)
	}
}

// batchConcurrentIsExact checks that TakeAll is atomic: of N concurrent
// calls on a fresh pair under a first limit of L, exactly L are allowed,
// and the second counter is charged exactly L times.
func batchConcurrentIsExact(t *testing.T, s limit.BatchStore, key string) {
	const limitN, workers, each = 30, 20, 10
	first := limit.Counter{Key: key + ":first", Rate: limit.Rate{Limit: limitN, Period: time.Minute}}
	second := limit.Counter{Key: key + ":second", Rate: limit.Rate{Limit: 1000, Period: time.Minute}}
	var allowed, failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := s.TakeAll(ctx, []limit.Counter{first, second})
				cancel()
				switch {
				case err != nil:
					failed.Add(1)
				case len(res) == 2 && res[1].Allowed:
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()

	if failed.Load() != 0 {
		t.Fatalf("%d of %d concurrent TakeAlls failed", failed.Load(), workers*each)
	}
	if got := allowed.Load(); got != limitN {
		t.Fatalf("%d concurrent TakeAlls under %v: got %d allowed, want %d",
			workers*each, first.Rate, got, limitN)
	}
	if res := take(t, s, second.Key, second.Rate); res.Remaining != 1000-limitN-1 {
		t.Fatalf("second counter: got Remaining %d, want %d (charged only by allowed calls)",
			res.Remaining, 1000-limitN-1)
	}
}

func batchNoCounters(t *testing.T, s limit.BatchStore, key string) {
	res, err := s.TakeAll(context.Background(), nil)
	if err != nil || len(res) != 0 {
		t.Fatalf("TakeAll with no counters: got %v, %v; want no results and no error", res, err)
	}
}

func batchInvalidRateIsAnError(t *testing.T, s limit.BatchStore, key string) {
	good := limit.Counter{Key: key + ":good", Rate: limit.Rate{Limit: 5, Period: time.Minute}}
	bad := limit.Counter{Key: key + ":bad", Rate: limit.Rate{Limit: 1}}

	_, err := s.TakeAll(context.Background(), []limit.Counter{good, bad})

	if err == nil {
		t.Fatal("TakeAll with a rate without period: got no error")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("TakeAll with a rate without period: got %v, want an immediate error", err)
	}
	if res := take(t, s, good.Key, good.Rate); res.Remaining != 4 {
		t.Fatalf("counter before an invalid rate: got Remaining %d, want 4 (not charged)", res.Remaining)
	}
}
