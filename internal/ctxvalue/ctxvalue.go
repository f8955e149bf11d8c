// Package ctxvalue stores a request-scoped value in a context in one
// allocation. context.WithValue takes two for most values: its node, and
// the value boxed in an interface (or allocated elsewhere so that a
// pointer can be stored). Here the node holds the value itself, and
// lookups get a pointer to it.
package ctxvalue

import "context"

// node is a context carrying one value of type V under the key K{}.
type node[K comparable, V any] struct {
	context.Context
	v V
}

// Value returns a pointer to the node's value for any key of type K, and
// asks the parent for every other key.
func (n *node[K, V]) Value(key any) any {
	if _, ok := key.(K); ok {
		return &n.v
	}
	return n.Context.Value(key)
}

// With returns a child of parent that carries a copy of v under the key
// K{}, and a pointer to that copy. K should be an unexported struct type
// of the caller's package, as for context.WithValue.
func With[K comparable, V any](parent context.Context, v V) (context.Context, *V) {
	n := &node[K, V]{Context: parent, v: v}
	return n, &n.v
}

// From returns the pointer that ctx's Value gives for the key K{}: the
// value stored by [With] with the same K and V, if any.
func From[K comparable, V any](ctx context.Context) (*V, bool) {
	var k K
	p, ok := ctx.Value(k).(*V)
	return p, ok && p != nil
}
