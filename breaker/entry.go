package breaker

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
)

// entry is one key's breaker: failsafe-go's circuit breaker, the
// consecutive-failure rule when failsafe-go already applies the ratio rule
// (it applies one rule per breaker), and the ordered delivery of state
// changes to Config.OnStateChange.
type entry struct {
	key  string
	cb   circuitbreaker.CircuitBreaker[*http.Response]
	keep time.Duration // how long the registry keeps it while idle

	streakLimit int64 // zero when failsafe-go applies the consecutive rule, or it is off
	streak      atomic.Int64

	notify func(key string, from, to State) // nil when nobody listens

	mu         sync.Mutex
	reported   State // the state the last queued change went to
	removed    bool  // reset or evicted: later changes are not reported
	pending    []change
	delivering bool
}

type change struct{ from, to State }

func newEntry(key string, s Settings, idle time.Duration, notify func(string, State, State)) *entry {
	e := &entry{key: key, notify: notify, keep: max(idle, s.Window, s.OpenDelay)}
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
	if e.notify != nil {
		// The breaker's current state rather than the event's: failsafe-go
		// calls listeners after unlocking, so two changes' listeners may run
		// out of order, but the last to run sees the final state.
		e.publish(stateOf(e.cb.State()), false)
	}
}

// remove reports that e was dropped from the registry: its key's next
// breaker starts closed.
func (e *entry) remove() {
	if e.notify != nil {
		e.publish(Closed, true)
	}
}

// publish queues a change to state to, unless e was removed; last marks it
// removed. Then it delivers the queued changes in order, unless another
// goroutine is already doing so: notify may thus call back into
// Breakers, even for the same key, without deadlock.
func (e *entry) publish(to State, last bool) {
	e.mu.Lock()
	if e.removed {
		e.mu.Unlock()
		return
	}
	e.removed = last
	if to != e.reported {
		e.pending = append(e.pending, change{e.reported, to})
		e.reported = to
	}
	if e.delivering || len(e.pending) == 0 {
		e.mu.Unlock()
		return
	}
	e.delivering = true
	e.mu.Unlock()

	e.deliver()
}

// deliver calls notify for each queued change until none is left.
func (e *entry) deliver() {
	done := false
	defer func() {
		if !done {
			// notify panicked: let the next change deliver again.
			e.mu.Lock()
			e.pending, e.delivering = nil, false
			e.mu.Unlock()
		}
	}()
	for {
		e.mu.Lock()
		if len(e.pending) == 0 {
			e.pending, e.delivering = e.pending[:0], false
			e.mu.Unlock()
			done = true
			return
		}
		c := e.pending[0]
		e.pending = e.pending[1:]
		e.mu.Unlock()

		e.notify(e.key, c.from, c.to)
	}
}
