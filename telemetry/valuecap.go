package telemetry

import "sync"

// valueCap bounds the distinct values one metric attribute takes, so that
// no input can create series without end: the first max values pass, later
// ones become [Other]. It never forgets a value; a series already exported
// stays in a cumulative exporter anyway, so forgetting would not free it.
type valueCap struct {
	max  int // negative: no cap
	mu   sync.RWMutex
	seen map[string]struct{}
}

func newValueCap(max int) *valueCap {
	return &valueCap{max: max, seen: make(map[string]struct{})}
}

// value returns v if it may appear in metrics, [Other] if not. The empty
// string, meaning "not known", always passes.
func (c *valueCap) value(v string) string {
	if v == "" || c.max < 0 {
		return v
	}
	c.mu.RLock()
	_, ok := c.seen[v]
	full := len(c.seen) >= c.max
	c.mu.RUnlock()
	switch {
	case ok:
		return v
	case full:
		return Other
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[v]; ok {
		return v
	}
	if len(c.seen) >= c.max {
		return Other
	}
	c.seen[v] = struct{}{}
	return v
}
