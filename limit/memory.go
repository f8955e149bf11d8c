package limit

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ulule/limiter/v3/drivers/store/memory"
)

// MemoryConfig configures a [MemoryStore].
type MemoryConfig struct {
	// MaxKeys bounds how many counters the store holds. Once it is reached,
	// Take for a key the store does not hold fails with [ErrStoreFull]
	// (counters it holds keep working) until expired counters are swept.
	// Zero means 500,000. A counter takes about 185 bytes of heap with a
	// short id and 217 with a UUID: 500,000 take 90 to 105 MiB.
	MaxKeys int

	// SweepInterval is how often expired counters are removed. Zero means
	// one minute. A full store sweeps at most once a second.
	SweepInterval time.Duration
}

// ErrStoreFull is returned by [MemoryStore.Take] for a new key when the
// store already holds MaxKeys counters.
var ErrStoreFull = errors.New("limit: memory store is full")

// A MemoryStore is a [LimitStore] that keeps its counters in this process,
// in the counter cache of github.com/ulule/limiter/v3's memory store. Each
// replica of a gateway then has its own counters; share them with
// [NewRedisStore].
//
// Unlike the ulule store it is bounded: it holds at most MaxKeys counters
// and removes expired ones every SweepInterval, without a goroutine of its
// own between sweeps.
//
// A counter whose window restarts in the instant a sweep removes it loses
// the requests counted in that instant, so a window can allow one or two
// requests more than its limit when that happens.
type MemoryStore struct {
	cache    *memory.CacheWrapper
	keys     atomic.Int64
	maxKeys  int64
	interval time.Duration

	nextSweep atomic.Int64 // Unix nanoseconds
	lastSweep atomic.Int64 // Unix nanoseconds
	sweeping  atomic.Bool
}

var _ LimitStore = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(cfg MemoryConfig) *MemoryStore {
	s := &MemoryStore{
		// No cleaner goroutine: sweeps are started by Take.
		cache:    memory.NewCache(0),
		maxKeys:  int64(cfg.MaxKeys),
		interval: cfg.SweepInterval,
	}
	if s.maxKeys <= 0 {
		s.maxKeys = 500_000
	}
	if s.interval <= 0 {
		s.interval = time.Minute
	}
	s.nextSweep.Store(time.Now().Add(s.interval).UnixNano())
	return s
}

// Take counts one request for key under rate. It never blocks and ignores
// ctx. A new counter keeps a copy of key, never key itself.
func (s *MemoryStore) Take(_ context.Context, key string, rate Rate) (Result, error) {
	if !rate.valid() || rate.IsUnlimited() {
		return Result{}, ErrInvalidRate
	}
	now := time.Now()
	if now.UnixNano() >= s.nextSweep.Load() {
		s.sweep(now)
	}

	c, ok := s.cache.Load(key)
	if !ok {
		if s.keys.Load() >= s.maxKeys {
			if now.UnixNano()-s.lastSweep.Load() >= int64(time.Second) {
				s.sweep(now)
			}
			return Result{}, ErrStoreFull
		}
		var loaded bool
		// A zero counter counts as expired, so Increment opens a window.
		// The key is copied: it may be cut from a longer string (the
		// Limiter cuts all of a request's keys from one), which the
		// store would otherwise keep alive for as long as the counter.
		c, loaded = s.cache.LoadOrStore(strings.Clone(key), &memory.Counter{})
		if !loaded {
			s.keys.Add(1)
		}
	}
	count, end := c.Increment(1, now.Add(rate.Period).UnixNano())
	return result(rate, count, time.Unix(0, end)), nil
}

// Len returns how many counters the store holds, expired or not.
func (s *MemoryStore) Len() int { return int(s.keys.Load()) }

// sweep starts removing expired counters in the background, unless a sweep
// is running, and schedules the next one.
func (s *MemoryStore) sweep(now time.Time) {
	if !s.sweeping.CompareAndSwap(false, true) {
		return
	}
	s.lastSweep.Store(now.UnixNano())
	s.nextSweep.Store(now.Add(s.interval).UnixNano())
	go func() {
		defer s.sweeping.Store(false)
		s.cache.Range(func(key string, c *memory.Counter) {
			if c.Expired() {
				s.cache.Delete(key)
				s.keys.Add(-1)
			}
		})
	}()
}
