package usage_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mcphub/apigateway/telemetry/usage"
)

// The bounds the package documentation states, in bytes per user or
// deployment.
const (
	// worstEntityBytes bounds an entity with requests in every bucket,
	// MaxKeys (32) routes of 64 bytes and countries of 16, over 16 clients and
	// latencies in every bin.
	worstEntityBytes = 16 << 10
	// floodEntityBytes bounds an entity with a single request.
	floodEntityBytes = 1536
)

// A flood of distinct users and deployments leaves the store within its
// caps, and its memory within the caps times the size of an entity.
// It does not run in parallel, so that it measures the heap alone.
func TestFloodStaysWithinCaps(t *testing.T) {
	const cfgUsers, cfgDeployments = 2_000, 5_000
	clk := newClock()
	s := newStore(t, usage.Config{MaxUsers: cfgUsers, MaxDeployments: cfgDeployments}, clk)
	before := heapInUse()

	// Two goroutines, as requests come, and to halve the time of the test.
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := g; i < 100_000; i += 2 {
				s.Record(usage.Event{
					UserID:       fmt.Sprintf("user-%d", i),
					DeploymentID: fmt.Sprintf("deployment-%d", i),
					Route:        "/mcp",
					Country:      "DE",
					ClientIP:     "192.0.2.1",
					Status:       200,
					Duration:     time.Millisecond,
				})
			}
		})
	}
	wg.Wait()

	users, deployments := s.Len()
	if users > cfgUsers || deployments > cfgDeployments {
		t.Errorf("Len: got %d users, %d deployments; want at most %d, %d",
			users, deployments, cfgUsers, cfgDeployments)
	}
	grown := heapInUse() - before
	if limit := int64(cfgUsers+cfgDeployments) * floodEntityBytes; grown > limit {
		t.Errorf("heap grew by %d KiB, want at most %d KiB", grown>>10, limit>>10)
	}
	t.Logf("%d users, %d deployments, heap grew by %d KiB: %d bytes per entity",
		users, deployments, grown>>10, grown/int64(users+deployments))
	runtime.KeepAlive(s)
}

// An entity filled in every way stays within the documented bound.
func TestMemoryPerEntityAtWorst(t *testing.T) {
	const pairs = 50
	clk := newClock()
	s := newStore(t, usage.Config{MaxKeys: 32}, clk)
	before := heapInUse()

	fillWorst(s, clk, pairs)

	users, deployments := s.Len()
	if users != pairs || deployments != pairs {
		t.Fatalf("Len: got %d users, %d deployments; want %d each", users, deployments, pairs)
	}
	perEntity := (heapInUse() - before) / (2 * pairs)
	if perEntity > worstEntityBytes {
		t.Errorf("heap per entity: got %d bytes, want at most %d", perEntity, worstEntityBytes)
	}
	t.Logf("heap per entity at worst: %d bytes", perEntity)
	runtime.KeepAlive(s)
}

// fillWorst records for each of pairs users, each with one deployment,
// requests in every bucket of the window and, in every span the store
// keeps, 32 routes of 64 bytes and 32 countries of 16, 20 clients and a
// latency in every bin.
func fillWorst(s *usage.Store, clk *clock, pairs int) {
	const minutes, spanMinutes = 70, 10
	var (
		latencies                []time.Duration
		routes, countries, addrs [32]string
		users, deployments       = make([]string, pairs), make([]string, pairs)
	)
	for d := 100 * time.Microsecond; d < 200*time.Second; d = d * 21 / 20 {
		latencies = append(latencies, d)
	}
	for i := range routes {
		routes[i] = fmt.Sprintf("/route/%-57d", i)
		countries[i] = fmt.Sprintf("country-%-8d", i)
		addrs[i] = fmt.Sprintf("192.0.2.%d", i)
	}
	for p := range pairs {
		users[p], deployments[p] = fmt.Sprintf("user-%d", p), fmt.Sprintf("deployment-%d", p)
	}

	for minute := range minutes {
		for p := range pairs {
			e := usage.Event{UserID: users[p], DeploymentID: deployments[p], Status: 200}
			if minute%spanMinutes != 0 {
				s.Record(e)
				continue
			}
			for i, d := range latencies {
				e.Route, e.Country, e.ClientIP = routes[i%32], countries[i%32], addrs[i%20]
				e.Duration = d
				s.Record(e)
			}
		}
		clk.Advance(time.Minute)
	}
	clk.Advance(-time.Minute)
}

// heapInUse returns the bytes of live heap objects after a collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
