package breaker

import "sync"

// notifier delivers state changes to Config.OnStateChange in the order
// they happened, so that each key's changes form one chain, across the
// successive breakers a key may have. Changes are queued under a lock and
// delivered by one goroutine at a time, without the lock: the hook may
// call back into Breakers, even for the same key.
type notifier struct {
	hook func(key string, from, to State)

	mu         sync.Mutex
	pending    []change
	delivering bool
}

type change struct {
	key      string
	from, to State
}

// changed queues e's move to the state its breaker is in now, then
// delivers. The state is read under the lock: failsafe-go calls its
// listeners after unlocking the breaker, so two changes' listeners may
// run out of order, but whichever queues last reads the final state.
func (n *notifier) changed(e *entry) {
	n.mu.Lock()
	if !e.removed {
		n.queue(e, stateOf(e.cb.State()))
	}
	n.mu.Unlock()
	n.deliver()
}

// removed queues, when e was not closed, its move to closed: the next
// breaker for its key starts closed, and e's own later changes are not
// reported. It runs inside the registry's deletion of e, before a new
// breaker for the key can exist, and delivers nothing: the registry's
// locks are held. It reports whether a change was queued.
func (n *notifier) removed(e *entry) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.removed {
		return false
	}
	e.removed = true
	return n.queue(e, Closed)
}

// queue records e's move to state to, if it is one. n.mu is held.
func (n *notifier) queue(e *entry, to State) bool {
	if to == e.reported {
		return false
	}
	n.pending = append(n.pending, change{e.key, e.reported, to})
	e.reported = to
	return true
}

// deliver calls the hook for each queued change, unless another goroutine
// is already doing so.
func (n *notifier) deliver() {
	n.mu.Lock()
	if n.delivering || len(n.pending) == 0 {
		n.mu.Unlock()
		return
	}
	n.delivering = true
	n.mu.Unlock()

	done := false
	defer func() {
		if !done {
			// The hook panicked: the next change delivers the rest.
			n.mu.Lock()
			n.delivering = false
			n.mu.Unlock()
		}
	}()
	for {
		n.mu.Lock()
		if len(n.pending) == 0 {
			n.pending, n.delivering = n.pending[:0], false
			n.mu.Unlock()
			done = true
			return
		}
		c := n.pending[0]
		n.pending = n.pending[1:]
		n.mu.Unlock()

		n.hook(c.key, c.from, c.to)
	}
}
