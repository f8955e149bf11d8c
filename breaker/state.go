package breaker

import "github.com/failsafe-go/failsafe-go/circuitbreaker"

// State is the state of one deployment's breaker.
type State int

// The states of a breaker.
const (
	// Closed lets every request through and counts failures.
	Closed State = iota
	// Open refuses every request with an [*OpenError] until its delay has
	// passed.
	Open
	// HalfOpen lets a few trial requests through, then closes or reopens.
	HalfOpen
)

// String returns "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

// stateOf maps a failsafe-go state to a State.
func stateOf(s circuitbreaker.State) State {
	switch s {
	case circuitbreaker.OpenState:
		return Open
	case circuitbreaker.HalfOpenState:
		return HalfOpen
	}
	return Closed
}
