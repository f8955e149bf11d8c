package limit_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

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

// TakeAll counts on the keys Take uses, each expiring with its window, and
// creates no key for a counter after a refusal.
func TestRedisTakeAllUsesTakeKeys(t *testing.T) {
	t.Parallel()
	m, client := newMiniredis(t)
	store, err := limit.NewRedisStore(client, "pfx")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rate := limit.Rate{Limit: 5, Period: time.Minute}

	_, err = store.TakeAll(ctx, []limit.Counter{
		{Key: "u:alice", Rate: rate}, {Key: "d:dep", Rate: rate}})
	if err != nil {
		t.Fatal(err)
	}
	refused, err := store.TakeAll(ctx, []limit.Counter{
		{Key: "u:bob", Rate: limit.Rate{Limit: 0, Period: time.Minute}}, {Key: "d:other", Rate: rate}})
	if err != nil {
		t.Fatal(err)
	}

	if len(refused) != 1 || refused[0].Allowed {
		t.Fatalf("TakeAll refused by its first counter: got %+v, want one refusal", refused)
	}
	want := []string{"pfx:d:dep", "pfx:u:alice", "pfx:u:bob"}
	if diff := cmp.Diff(want, m.Keys()); diff != "" {
		t.Fatalf("keys in Redis (-want +got):\n%s", diff)
	}
	for _, key := range want {
		if ttl := m.TTL(key); ttl <= 0 || ttl > time.Minute {
			t.Errorf("TTL of %s: got %v, want at most the period", key, ttl)
		}
	}
}

// TakeAll goes on counting when Redis forgets its script.
func TestRedisTakeAllSurvivesScriptFlush(t *testing.T) {
	t.Parallel()
	_, client := newMiniredis(t)
	store, err := limit.NewRedisStore(client, uniquePrefix(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	counters := []limit.Counter{{Key: "a", Rate: limit.Rate{Limit: 5, Period: time.Minute}},
		{Key: "b", Rate: limit.Rate{Limit: 5, Period: time.Minute}}}
	store.TakeAll(ctx, counters)

	if err := client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	res, err := store.TakeAll(ctx, counters)

	if err != nil || len(res) != 2 || res[0].Remaining != 3 || res[1].Remaining != 3 {
		t.Fatalf("TakeAll after SCRIPT FLUSH: got %+v, %v; want Remaining 3 and 3", res, err)
	}
}

// A cluster client may hold a request's keys on different servers, so
// TakeAll takes them one command each rather than in one script.
func TestRedisTakeAllWithClusterClientTakesEach(t *testing.T) {
	t.Parallel()
	m, _ := newMiniredis(t)
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{m.Addr()},
		ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	var commands commandCounter
	client.AddHook(&commands)
	store, err := limit.NewRedisStore(client, uniquePrefix(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rate := limit.Rate{Limit: 5, Period: time.Minute}
	counters := []limit.Counter{{Key: "a", Rate: rate}, {Key: "b", Rate: rate}}
	store.TakeAll(ctx, counters) // loads the script and the cluster's layout

	before := commands.n.Load()
	res, err := store.TakeAll(ctx, counters)
	got := commands.n.Load() - before

	if err != nil || len(res) != 2 || res[0].Remaining != 3 || res[1].Remaining != 3 {
		t.Fatalf("TakeAll through a cluster client: got %+v, %v; want Remaining 3 and 3", res, err)
	}
	if got != 2 {
		t.Errorf("Redis commands for two counters through a cluster client: got %d, want 2", got)
	}
}
