package limit

import (
	"context"
	"time"

	"github.com/ulule/limiter/v3"
)

// A LimitStore keeps the counters behind the limits. Each call takes one
// unit from the counter of key under rate and reports what is left.
//
// Take must be safe for concurrent use, must count atomically (N concurrent
// calls on a fresh key under a limit of L allow exactly min(N, L)), and
// should return promptly once ctx is done: a [Limiter] gives every request
// a short deadline for its store calls. An error means the store could not
// count; the Limiter then applies its fail-open or fail-closed policy.
//
// Package limittest checks an implementation against this contract.
type LimitStore interface {
	Take(ctx context.Context, key string, rate Rate) (Result, error)
}

// A BatchStore is a [LimitStore] that can take several counters in one
// call, as a store across a network does in one round trip. A [Limiter]
// uses TakeAll when its store has it and a request has more than one
// counter to pass.
//
// TakeAll takes one unit from each counter in order, atomically for the
// call: no other call's units are counted between them. It stops at the
// first counter that refuses, without taking units from the ones after it,
// so results holds one Result per counter taken, in order; it is shorter
// than counters only when its last Result is refused. Each counter is the
// same one Take counts under the same key, so single and batched calls may
// be mixed. With no counters it returns no results and no error.
//
// An error means the store could not count; results then holds the
// counters known to have been taken before the failure, usually none. A
// rate that is invalid or [Unlimited] is an error before anything is
// counted ([ErrInvalidRate] from the package's stores).
//
// Package limittest checks an implementation against this contract.
type BatchStore interface {
	LimitStore
	TakeAll(ctx context.Context, counters []Counter) (results []Result, err error)
}

// A Counter names one counter for [BatchStore.TakeAll].
type Counter struct {
	// Key is the counter's key, as for [LimitStore.Take].
	Key string

	// Rate is the rate to take the counter under.
	Rate Rate
}

// A Result is the state of one counter after a [LimitStore.Take].
type Result struct {
	// Limit is the rate's limit the counter was checked against.
	Limit int64

	// Remaining is how many more requests the current window allows; zero
	// when Allowed is false.
	Remaining int64

	// Reset is when the current window ends and the counter starts again.
	// It is never earlier than the true end of the window; stores with a
	// coarse clock round it up.
	Reset time.Time

	// Allowed reports whether the unit was granted: false once more than
	// Limit units were taken in the window.
	Allowed bool
}

// Adapt returns a [LimitStore] backed by s, any store of
// github.com/ulule/limiter/v3. Each Take is one call of s.Get.
//
// ulule stores report the end of a window in whole Unix seconds, rounded
// down; Adapt adds a second so that [Result.Reset] is never early, which
// can make Retry-After up to a second longer than needed. Take waits for
// s.Get, so a Limiter's StoreTimeout bounds it only if s honors its
// context; ulule's Redis store does only with a go-redis client that has
// ContextTimeoutEnabled set. [NewMemoryStore] and [NewRedisStore] keep
// full precision and do not depend on that.
func Adapt(s limiter.Store) LimitStore { return adapted{s} }

type adapted struct{ s limiter.Store }

func (a adapted) Take(ctx context.Context, key string, rate Rate) (Result, error) {
	if !rate.valid() || rate.IsUnlimited() {
		return Result{}, ErrInvalidRate
	}
	c, err := a.s.Get(ctx, key, limiter.Rate{Limit: rate.Limit, Period: rate.Period})
	if err != nil {
		return Result{}, err
	}
	return Result{
		Limit:     c.Limit,
		Remaining: c.Remaining,
		Reset:     time.Unix(c.Reset+1, 0),
		Allowed:   !c.Reached,
	}, nil
}

// result builds the Result of a fixed-window counter that has reached
// count in a window ending at reset.
func result(rate Rate, count int64, reset time.Time) Result {
	res := Result{Limit: rate.Limit, Reset: reset, Allowed: count <= rate.Limit}
	if res.Allowed {
		res.Remaining = rate.Limit - count
	}
	return res
}
