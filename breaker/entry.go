package breaker

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
)

// entry is one key's breaker: failsafe-go's circuit breaker, and the
// consecutive-failure rule when failsafe-go already applies the ratio rule
// (it applies one rule per breaker).
type entry struct {
	key  string
	cb   circuitbreaker.CircuitBreaker[*http.Response]
	keep time.Duration // how long the registry keeps it while idle

	streakLimit int64 // zero when failsafe-go applies the consecutive rule, or it is off
	streak      atomic.Int64

	n        *notifier // nil when nobody listens
	reported State     // guarded by n.mu: the state its last change went to
	removed  bool      // guarded by n.mu: reset or evicted
}

func newEntry(key string, s Settings, idle time.Duration, n *notifier) *entry {
	e := &entry{key: key, n: n, keep: max(idle, s.Window, s.OpenDelay) + clockResolution}
	builder := circuitbreaker.NewBuilder[*http.Response]().
		WithDelay(s.OpenDelay).
		WithSuccessThreshold(uint(s.HalfOpenRequests)).
		OnStateChanged(func(circuitbreaker.StateChangedEvent) { e.changed() })
	if s.ratioOn() {
		builder = builder.WithFailureRateThreshold(s.FailureRatio, uint(s.MinRequests), s.Window)
		if s.consecutiveOn() {
			e.streakLimit = int64(s.ConsecutiveFailures)
		}
	} else {
		// N failures out of the last N results: N in a row.
		builder = builder.WithFailureThreshold(uint(s.ConsecutiveFailures))
	}
	e.cb = builder.Build()
	return e
}

// record counts the outcome of a request the upstream answered, or failed
// to answer.
func (e *entry) record(failed bool) {
	if !failed {
		e.cb.RecordSuccess()
		if e.streakLimit > 0 && e.streak.Load() != 0 {
			e.streak.Store(0)
		}
		return
	}
	e.cb.RecordFailure()
	if e.streakLimit > 0 && e.streak.Add(1) >= e.streakLimit && e.cb.IsClosed() {
		e.cb.Open()
	}
}

// forget settles a request whose outcome says nothing about the upstream,
// such as one its client canceled. A half-open breaker's trial requests
// each hold one of its few permits, which failsafe-go takes back only
// with a result; so there the request counts as a failure, and the breaker
// reopens and tries again after its delay instead of waiting forever for
// the permit.
func (e *entry) forget() {
	if e.cb.IsHalfOpen() {
		e.cb.RecordFailure()
	}
}

// changed runs after each state change of e.cb, with e.cb unlocked.
func (e *entry) changed() {
	e.streak.Store(0)
	if e.n != nil {
		e.n.changed(e)
	}
}
