package limit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// uniquePrefix returns a key prefix no other test run uses, so a shared
// Redis is never disturbed.
func uniquePrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	return "apigateway-test:" + hex.EncodeToString(b)
}

// newMiniredis starts an in-process Redis whose keys expire with the
// clock, like a real server's.
func newMiniredis(t testing.TB) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	m := miniredis.RunT(t)
	m.ClockTTL(true)
	client := redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	return m, client
}

// realRedis returns a client of the Redis server named by
// APIGATEWAY_REDIS_URL and a prefix unique to this test. It skips the test
// when the variable is unset, except in CI, where that is a failure. Keys
// under the prefix are deleted when the test ends; nothing else is touched.
func realRedis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv("APIGATEWAY_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("APIGATEWAY_REDIS_URL is not set: CI must run the Redis store tests against a real " +
				"redis-server (e.g. redis://127.0.0.1:PORT/0)")
		}
		t.Skip("APIGATEWAY_REDIS_URL is not set; skipping tests against a real Redis")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("APIGATEWAY_REDIS_URL: %v", err)
	}
	opt.ContextTimeoutEnabled = true
	client := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		t.Fatalf("APIGATEWAY_REDIS_URL=%s: %v", url, err)
	}
	prefix := uniquePrefix(t)
	t.Cleanup(func() {
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
	})
	return client, prefix
}

func getenv(name string) string { return os.Getenv(name) }

// commandCounter is a go-redis hook that counts the commands a client
// sends, each one round trip; miniredis's own count includes the commands
// scripts run.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(
	next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}
