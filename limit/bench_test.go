package limit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcphub/apigateway/limit"
)

// discard is a ResponseWriter that keeps nothing, so benchmarks measure
// the limiter rather than a recorder.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})

// benchHandler measures Handler on requests that pass, from users
// spread over 1000 ids, sequentially and from 16 goroutines per CPU.
func benchHandler(b *testing.B, store limit.LimitStore) {
	l, err := limit.New(limit.Config{
		Store:         store,
		PerUser:       limit.Rate{Limit: 1 << 40, Period: time.Hour},
		PerDeployment: limit.Rate{Limit: 1 << 40, Period: time.Hour},
	})
	if err != nil {
		b.Fatal(err)
	}
	h := l.Handler(okHandler)
	reqs := make([]*http.Request, 1000)
	for i := range reqs {
		r := httptest.NewRequest("GET", "/", nil)
		id := strconv.Itoa(i)
		reqs[i] = r.WithContext(limit.NewContext(r.Context(), limit.Subject{UserID: "user-" + id,
			DeploymentID: "dep-" + id}))
	}

	b.Run("sequential", func(b *testing.B) {
		b.ReportAllocs()
		w := &discard{h: http.Header{}}
		i := 0
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, reqs[i%len(reqs)])
			i++
		}
		if w.code != 0 {
			b.Fatalf("last answer: %d", w.code)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			w := &discard{h: http.Header{}}
			for pb.Next() {
				clear(w.h)
				h.ServeHTTP(w, reqs[next.Add(1)%int64(len(reqs))])
			}
		})
	})
}

func BenchmarkLimitMemory(b *testing.B) {
	benchHandler(b, limit.NewMemoryStore(limit.MemoryConfig{}))
}

// BenchmarkLimitRedis runs against the server named by APIGATEWAY_REDIS_URL
// when it is set, and against miniredis otherwise.
func BenchmarkLimitRedis(b *testing.B) {
	var client *redis.Client
	var prefix string
	if url := getenv("APIGATEWAY_REDIS_URL"); url != "" {
		client, prefix = realRedis(b)
	} else {
		_, client = newMiniredis(b)
		prefix = uniquePrefix(b)
	}
	store, err := limit.NewRedisStore(client, prefix)
	if err != nil {
		b.Fatal(err)
	}
	benchHandler(b, store)
}

// BenchmarkMemoryStoreMillionKeys measures the heap one million counters
// take in a MemoryStore, with keys like the Limiter's: "u:" and a short id
// (14 bytes) or a UUID (38 bytes). Run it with -benchtime=1x.
func BenchmarkMemoryStoreMillionKeys(b *testing.B) {
	const n = 1_000_000
	rate := limit.Rate{Limit: 100, Period: time.Hour}
	ctx := context.Background()
	for _, format := range []string{"u:user-%07d", "u:00000000-0000-4000-8000-%012d"} {
		b.Run(fmt.Sprintf("key=%dB", len(fmt.Sprintf(format, 0))), func(b *testing.B) {
			for b.Loop() {
				before := heapInUse()
				s := limit.NewMemoryStore(limit.MemoryConfig{MaxKeys: n})
				for i := range n {
					if _, err := s.Take(ctx, fmt.Sprintf(format, i), rate); err != nil {
						b.Fatal(err)
					}
				}
				after := heapInUse()
				runtime.KeepAlive(s)
				b.ReportMetric(float64(after-before)/n, "heap-B/key")
				b.ReportMetric(float64(after-before)/(1<<20), "heap-MiB/1M-keys")
			}
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
