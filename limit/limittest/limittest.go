// Package limittest checks that a [limit.LimitStore] keeps the contract
// the limit package relies on. Any implementation can run the suite:
//
//	func TestConformance(t *testing.T) {
//		limittest.Run(t, func(t *testing.T) limit.LimitStore { return newMyStore(t) })
//	}
//
// A [limit.BatchStore] runs [RunBatch] as well.
//
// The suite uses windows of a second and runs its subtests in parallel, so
// it takes about two seconds. Every key it uses is unique to
// the run, so a store shared with other tests or processes is never
// disturbed; it deletes nothing.
package limittest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/apigateway/limit"
)

// slack is how far a store's clock may differ from the test's, and how
// much later than the true end of a window a store may report it (stores
// that count in whole seconds round up).
const slack = 1100 * time.Millisecond

// Run runs the conformance suite. newStore is called once per subtest and
// may return the same store every time.
func Run(t *testing.T, newStore func(t *testing.T) limit.LimitStore) {
	t.Helper()
	runSuite(t, newStore, ":", []suiteTest[limit.LimitStore]{
		{"CountsDown", countsDown},
		{"RefusesAtLimit", refusesAtLimit},
		{"ZeroLimitRefuses", zeroLimitRefuses},
		{"ResetIsEndOfWindow", resetIsEndOfWindow},
		{"StartsAgainAfterReset", startsAgainAfterReset},
		{"WindowExpiresUnused", windowExpiresUnused},
		{"KeysAreIndependent", keysAreIndependent},
		{"RateIsPerCall", rateIsPerCall},
		{"ConcurrentTakesAreExact", concurrentTakesAreExact},
		{"InvalidRateIsAnError", invalidRateIsAnError},
	})
}

// A suiteTest is one check of a suite, given a store and a key no other
// check uses.
type suiteTest[S any] struct {
	name string
	fn   func(t *testing.T, s S, key string)
}

// runSuite runs tests in parallel, each with a store from newStore and its
// own key: "limittest:", an id of this run, sep and the test's name, so
// that runs sharing a Redis do not count on each other's keys.
func runSuite[S any](t *testing.T, newStore func(t *testing.T) S, sep string, tests []suiteTest[S]) {
	t.Helper()
	run := runID()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t), "limittest:"+run+sep+tt.name)
		})
	}
}

func runID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func take(t *testing.T, s limit.LimitStore, key string, rate limit.Rate) limit.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := s.Take(ctx, key, rate)
	if err != nil {
		t.Fatalf("Take(%q, %v): %v", key, rate, err)
	}
	return res
}

func countsDown(t *testing.T, s limit.LimitStore, key string) {
	rate := limit.Rate{Limit: 5, Period: time.Minute}
	for i := int64(1); i <= 5; i++ {
		res := take(t, s, key, rate)
		if !res.Allowed || res.Limit != 5 || res.Remaining != 5-i {
			t.Fatalf("take %d: got Allowed=%v Limit=%d Remaining=%d, want true 5 %d",
				i, res.Allowed, res.Limit, res.Remaining, 5-i)
		}
	}
}

func refusesAtLimit(t *testing.T, s limit.LimitStore, key string) {
	rate := limit.Rate{Limit: 3, Period: time.Minute}
	for range 3 {
		take(t, s, key, rate)
	}
	for i := range 3 {
		res := take(t, s, key, rate)
		if res.Allowed || res.Remaining != 0 || res.Limit != 3 {
			t.Fatalf("take %d past the limit: got Allowed=%v Remaining=%d Limit=%d, want false 0 3",
				i+1, res.Allowed, res.Remaining, res.Limit)
		}
		if !res.Reset.After(time.Now()) {
			t.Fatalf("refused take: Reset %v is not in the future", res.Reset)
		}
	}
}

func zeroLimitRefuses(t *testing.T, s limit.LimitStore, key string) {
	res := take(t, s, key, limit.Rate{Limit: 0, Period: time.Minute})
	if res.Allowed || res.Remaining != 0 {
		t.Fatalf("limit 0: got Allowed=%v Remaining=%d, want false 0", res.Allowed, res.Remaining)
	}
}

func resetIsEndOfWindow(t *testing.T, s limit.LimitStore, key string) {
	rate := limit.Rate{Limit: 10, Period: 30 * time.Second}
	before := time.Now()
	first := take(t, s, key, rate)
	after := time.Now()
	if first.Reset.Before(before.Add(rate.Period).Add(-slack)) ||
		first.Reset.After(after.Add(rate.Period).Add(slack)) {
		t.Fatalf("first take: Reset is %v after the take, want about %v",
			first.Reset.Sub(before), rate.Period)
	}
	second := take(t, s, key, rate)
	if d := second.Reset.Sub(first.Reset).Abs(); d > slack {
		t.Fatalf("Reset moved by %v within one window, want a fixed window", d)
	}
}

func startsAgainAfterReset(t *testing.T, s limit.LimitStore, key string) {
	rate := limit.Rate{Limit: 2, Period: time.Second}
	take(t, s, key, rate)
	take(t, s, key, rate)
	refused := take(t, s, key, rate)
	if refused.Allowed {
		t.Fatal("third take under 2-S: got allowed, want refused")
	}

	sleepUntil(t, refused.Reset)

	res := take(t, s, key, rate)
	if !res.Allowed || res.Remaining != 1 {
		t.Fatalf("first take after Reset: got Allowed=%v Remaining=%d, want true 1",
			res.Allowed, res.Remaining)
	}
}

func windowExpiresUnused(t *testing.T, s limit.LimitStore, key string) {
	rate := limit.Rate{Limit: 5, Period: time.Second}
	first := take(t, s, key, rate)

	sleepUntil(t, first.Reset)

	res := take(t, s, key, rate)
	if !res.Allowed || res.Remaining != 4 {
		t.Fatalf("take after the window expired: got Allowed=%v Remaining=%d, want true 4",
			res.Allowed, res.Remaining)
	}
}

func sleepUntil(t *testing.T, reset time.Time) {
	t.Helper()
	d := time.Until(reset)
	if d > 2*time.Second+slack {
		t.Fatalf("Reset is %v away for a one-second window", d)
	}
	time.Sleep(d + 20*time.Millisecond)
}

func keysAreIndependent(t *testing.T, s limit.LimitStore, key string) {
	rate := limit.Rate{Limit: 2, Period: time.Minute}
	for range 3 {
		take(t, s, key+":a", rate)
	}
	res := take(t, s, key+":b", rate)
	if !res.Allowed || res.Remaining != 1 {
		t.Fatalf("fresh key after another was used up: got Allowed=%v Remaining=%d, want true 1",
			res.Allowed, res.Remaining)
	}
	odd := key + ":ü/€ x:y\t*"
	if res := take(t, s, odd, rate); !res.Allowed || res.Remaining != 1 {
		t.Fatalf("key with odd characters: got Allowed=%v Remaining=%d, want true 1",
			res.Allowed, res.Remaining)
	}
}

// rateIsPerCall checks that a counter is judged by the rate of each call,
// as when a host raises a user's limit.
func rateIsPerCall(t *testing.T, s limit.LimitStore, key string) {
	low := limit.Rate{Limit: 2, Period: time.Minute}
	high := limit.Rate{Limit: 10, Period: time.Minute}
	for range 2 {
		take(t, s, key, low)
	}
	if res := take(t, s, key, low); res.Allowed {
		t.Fatal("third take under 2-M: got allowed, want refused")
	}
	res := take(t, s, key, high)
	if !res.Allowed || res.Limit != 10 || res.Remaining != 6 {
		t.Fatalf("fourth take under 10-M: got Allowed=%v Limit=%d Remaining=%d, want true 10 6",
			res.Allowed, res.Limit, res.Remaining)
	}
}

func concurrentTakesAreExact(t *testing.T, s limit.LimitStore, key string) {
	const limitN, workers, each = 50, 20, 10
	rate := limit.Rate{Limit: limitN, Period: time.Minute}
	var allowed, failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := s.Take(ctx, key, rate)
				cancel()
				switch {
				case err != nil:
					failed.Add(1)
				case res.Allowed:
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d concurrent takes failed", failed.Load(), workers*each)
	}
	if got := allowed.Load(); got != limitN {
		t.Fatalf("%d concurrent takes under %v: got %d allowed, want %d", workers*each, rate, got, limitN)
	}
}

func invalidRateIsAnError(t *testing.T, s limit.LimitStore, key string) {
	_, err := s.Take(context.Background(), key, limit.Rate{Limit: 1})
	if err == nil {
		t.Fatal("Take with a rate without period: got no error")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Take with a rate without period: got %v, want an immediate error", err)
	}
}
