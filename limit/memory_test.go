package limit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mcphub/apigateway/limit"
)

// The memory store holds at most MaxKeys counters: a new key past that is
// refused with ErrStoreFull while known keys keep counting, and room comes
// back once expired counters are swept.
func TestMemoryStoreIsBounded(t *testing.T) {
	t.Parallel()
	s := limit.NewMemoryStore(limit.MemoryConfig{MaxKeys: 10, SweepInterval: 100 * time.Millisecond})
	short := limit.Rate{Limit: 5, Period: 50 * time.Millisecond}
	ctx := context.Background()
	for i := range 10 {
		if _, err := s.Take(ctx, fmt.Sprint("k", i), short); err != nil {
			t.Fatalf("key %d of 10: %v", i, err)
		}
	}

	_, err := s.Take(ctx, "k10", short)

	if !errors.Is(err, limit.ErrStoreFull) {
		t.Fatalf("11th key: got %v, want ErrStoreFull", err)
	}
	if res, err := s.Take(ctx, "k3", short); err != nil || res.Remaining != 3 {
		t.Fatalf("known key while full: got %+v, %v; want Remaining 3", res, err)
	}
	if s.Len() != 10 {
		t.Errorf("Len: got %d, want 10", s.Len())
	}

	deadline := time.Now().Add(3 * time.Second)
	for {
		time.Sleep(20 * time.Millisecond)
		if _, err = s.Take(ctx, "k10", short); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new key after the others expired: %v", err)
		}
	}
	if s.Len() > 2 {
		t.Errorf("Len after sweeping expired counters: got %d, want at most 2", s.Len())
	}
}
