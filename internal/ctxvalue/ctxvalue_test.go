package ctxvalue

import (
	"context"
	"testing"
	"time"
)

type keyA struct{}
type keyB struct{}
type keyC struct{}

func TestWithFrom(t *testing.T) {
	type pair struct{ a, b string }
	parent := context.WithValue(context.Background(), keyC{}, 7)
	ctx, p := With[keyA](parent, pair{"x", "y"})
	ctx, _ = With[keyB](ctx, 42)

	got, ok := From[keyA, pair](ctx)
	if !ok || got != p || *got != (pair{"x", "y"}) {
		t.Errorf("From[keyA] = %v, %v; want %v, true", got, ok, pair{"x", "y"})
	}
	if n, ok := From[keyB, int](ctx); !ok || *n != 42 {
		t.Errorf("From[keyB] = %v, %v; want 42, true", n, ok)
	}
	if v := ctx.Value(keyC{}); v != 7 {
		t.Errorf("parent's value = %v, want 7", v)
	}
	if _, ok := From[keyB, int](parent); ok {
		t.Error("From found a value in a context without one")
	}
}

func TestCancellationPassesThrough(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	ctx, _ := With[keyA](parent, 1)
	child, stop := context.WithTimeout(ctx, time.Hour)
	defer stop()

	cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a child of the node was not canceled with its parent")
	}
	if ctx.Err() != context.Canceled {
		t.Errorf("Err = %v, want %v", ctx.Err(), context.Canceled)
	}
}

func TestWithAllocatesOnce(t *testing.T) {
	parent := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		ctx, _ := With[keyA](parent, [2]string{"a", "b"})
		if p, ok := From[keyA, [2]string](ctx); !ok || p[1] != "b" {
			t.Fatal("value lost")
		}
	})
	if allocs > 1 {
		t.Errorf("With and From allocate %v times, want 1", allocs)
	}
}
