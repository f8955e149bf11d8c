package usage_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/apigateway/telemetry/usage"
)

// BenchmarkRecord records requests of 100 users with ten deployments each,
// from several goroutines.
func BenchmarkRecord(b *testing.B) {
	s, err := usage.New(usage.Config{})
	if err != nil {
		b.Fatal(err)
	}
	events := make([]usage.Event, 1000)
	for i := range events {
		events[i] = usage.Event{
			UserID:       fmt.Sprintf("user-%d", i%100),
			DeploymentID: fmt.Sprintf("deployment-%d", i),
			Route:        []string{"/mcp", "/api/items/{id}", "/health"}[i%3],
			Country:      []string{"DE", "FR", "US", "JP"}[i%4],
			ClientIP:     fmt.Sprintf("192.0.2.%d", i%200),
			Status:       []int{200, 200, 200, 404, 503}[i%5],
			BytesIn:      int64(i),
			BytesOut:     int64(10 * i),
			Duration:     time.Duration(i+1) * 100 * time.Microsecond,
		}
	}
	for _, e := range events {
		s.Record(e)
	}
	b.ReportAllocs()
	b.ResetTimer()

	var goroutines atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine starts elsewhere, as requests for different
		// deployments finish at once.
		i := int(goroutines.Add(1)) * 311
		for pb.Next() {
			s.Record(events[i%len(events)])
			i += 7
		}
	})
}

// BenchmarkDeployment summarizes the usage of a busy deployment.
func BenchmarkDeployment(b *testing.B) {
	clk := newClock()
	s := newStore(b, usage.Config{}, clk)
	fillWorst(s, clk, 1)
	b.ReportAllocs()

	for b.Loop() {
		if _, ok := s.Deployment("deployment-0"); !ok {
			b.Fatal("no usage")
		}
	}
}

// BenchmarkMemoryAtCaps fills the store to its default caps, 10,000 users
// each with one deployment, and reports the heap it takes:
//
//	go test -run '^$' -bench MemoryAtCaps -benchtime 1x ./telemetry/usage/
//
// "one-request" gives each user and deployment one request; "hourly" one a
// minute for an hour, with one route, country and client; "worst" the
// worst case of TestMemoryPerEntityAtWorst.
func BenchmarkMemoryAtCaps(b *testing.B) {
	const pairs = 10_000
	fills := []struct {
		name string
		fill func(*usage.Store, *clock)
	}{
		{"one-request", func(s *usage.Store, clk *clock) {
			for p := range pairs {
				s.Record(typical(p))
			}
		}},
		{"hourly", func(s *usage.Store, clk *clock) {
			for range 60 {
				for p := range pairs {
					s.Record(typical(p))
				}
				clk.Advance(time.Minute)
			}
		}},
		{"worst", func(s *usage.Store, clk *clock) { fillWorst(s, clk, pairs) }},
	}
	for _, f := range fills {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				clk := newClock()
				s := newStore(b, usage.Config{}, clk)
				before := heapInUse()
				f.fill(s, clk)
				grown := heapInUse() - before
				users, deployments := s.Len()
				if users != pairs || deployments != pairs {
					b.Fatalf("Len: got %d users, %d deployments; want %d each", users, deployments, pairs)
				}
				b.ReportMetric(float64(grown)/(1<<20), "MiB")
				b.ReportMetric(float64(grown)/(2*pairs), "B/entity")
				runtime.KeepAlive(s)
			}
		})
	}
}

// typical returns a request of user p to their deployment.
func typical(p int) usage.Event {
	return usage.Event{
		UserID:       fmt.Sprintf("user-%d", p),
		DeploymentID: fmt.Sprintf("deployment-%d", p),
		Route:        "/mcp",
		Country:      "DE",
		ClientIP:     "192.0.2.1",
		Status:       200,
		BytesOut:     1000,
		Duration:     20 * time.Millisecond,
	}
}

// BenchmarkUserDeployments lists the deployments of one user among 10,000
// tracked.
func BenchmarkUserDeployments(b *testing.B) {
	clk := newClock()
	s := newStore(b, usage.Config{}, clk)
	for i := range 10_000 {
		s.Record(usage.Event{
			UserID:       fmt.Sprintf("user-%d", i/5),
			DeploymentID: fmt.Sprintf("deployment-%d", i),
			Status:       200,
		})
	}
	b.ReportAllocs()

	for b.Loop() {
		if got := s.UserDeployments("user-7"); len(got) != 5 {
			b.Fatalf("got %d deployments, want 5", len(got))
		}
	}
}
