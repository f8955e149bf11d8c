package gateway_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/gateway"
	"github.com/mcphub/apigateway/limit"
)

// BenchmarkHeapAtCaps measures the heap a gateway holds with its bounded
// state full: one million rate-limit counters in a memory store, and the
// deployment cache and the breaker registry at their default caps of
// 10,000 (one request to each of 10,000 deployments, which also opens
// their per-deployment counters). Run it with -benchtime=1x; it reports
// the heap in use after a collection, before and after, in MiB.
func BenchmarkHeapAtCaps(b *testing.B) {
	const (
		counters    = 1_000_000
		deployments = 10_000 // gateway.Config.CacheSize and breaker.Config.MaxBreakers defaults
	)
	for b.Loop() {
		before := heapInUse()

		store := limit.NewMemoryStore(limit.MemoryConfig{MaxKeys: counters})
		deps := gateway.DeploymentStoreFunc(func(_ context.Context, id string) (
			gateway.Deployment, error) {
			return gateway.Deployment{ID: id, OwnerID: "u", Status: gateway.StatusRunning,
				UpstreamURL: memUpstream}, nil
		})
		tokens, _ := auth.NewBearerVerifier(auth.StaticTokens(map[string]string{"bench-token": "u"}))
		gw, err := gateway.New(gateway.Config{
			Verifier:    tokens,
			Deployments: deps,
			CacheTTL:    time.Hour,
			Transport:   memTransport{},
			Limits: limit.Config{
				Store:         store,
				PerUser:       limit.Rate{Limit: 1 << 40, Period: time.Hour},
				PerDeployment: limit.Rate{Limit: 1 << 40, Period: time.Hour},
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		for i := range deployments {
			serveOne(b, gw, "/api/gateway/u/dep-"+strconv.Itoa(i)+"/small", benchAuth)
		}
		// The rest of the million: users, as the Limiter keys them.
		rate := limit.Rate{Limit: 100, Period: time.Hour}
		for i := store.Len(); i < counters; i++ {
			if _, err := store.Take(context.Background(), fmt.Sprintf("u:user-%07d", i), rate); err != nil {
				b.Fatal(err)
			}
		}
		if n := store.Len(); n != counters {
			b.Fatalf("store holds %d counters, want %d", n, counters)
		}

		after := heapInUse()
		runtime.KeepAlive(gw)
		runtime.KeepAlive(store)
		b.ReportMetric(float64(after-before)/(1<<20), "heap-MiB")
		gw.Close()
	}
}

// heapInUse returns the bytes of live heap objects after a full
// collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
