package limit_test

import (
	"context"
	"testing"
	"time"

	"github.com/mcphub/apigateway/limit"
)

// Each counter is one Redis key, prefix:key, that expires with its window,
// so Redis holds no counter longer than its period.
func TestRedisCounterKeyExpires(t *testing.T) {
	t.Parallel()
	m, client := newMiniredis(t)
	store, err := limit.NewRedisStore(client, "pfx")
	if err != nil {
		t.Fatal(err)
	}

	_, err = store.Take(context.Background(), "u:alice", limit.Rate{Limit: 5, Period: time.Minute})
	if err != nil {
		t.Fatal(err)
	}

	if got := m.Keys(); len(got) != 1 || got[0] != "pfx:u:alice" {
		t.Fatalf("keys in Redis: got %q, want [pfx:u:alice]", got)
	}
	if ttl := m.TTL("pfx:u:alice"); ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL: got %v, want at most the period", ttl)
	}
	m.FastForward(time.Minute)
	if m.Exists("pfx:u:alice") {
		t.Error("counter still in Redis after its window")
	}
}

// Counting goes on when Redis forgets the script, as after a restart or
// SCRIPT FLUSH.
func TestRedisStoreSurvivesScriptFlush(t *testing.T) {
	t.Parallel()
	_, client := newMiniredis(t)
	store, err := limit.NewRedisStore(client, uniquePrefix(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rate := limit.Rate{Limit: 5, Period: time.Minute}
	store.Take(ctx, "k", rate)

	if err := client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	res, err := store.Take(ctx, "k", rate)

	if err != nil || res.Remaining != 3 {
		t.Fatalf("Take after SCRIPT FLUSH: got %+v, %v; want Remaining 3", res, err)
	}
}

// Replicas sharing a Redis share counters.
func TestRedisStoreSharedByReplicas(t *testing.T) {
	t.Parallel()
	_, client := newMiniredis(t)
	prefix := uniquePrefix(t)
	a, _ := limit.NewRedisStore(client, prefix)
	b, _ := limit.NewRedisStore(client, prefix)
	ctx := context.Background()
	rate := limit.Rate{Limit: 2, Period: time.Minute}

	a.Take(ctx, "u:alice", rate)
	b.Take(ctx, "u:alice", rate)
	res, err := a.Take(ctx, "u:alice", rate)

	if err != nil || res.Allowed {
		t.Fatalf("third request across two replicas under 2-M: got %+v, %v; want refused", res, err)
	}
}
