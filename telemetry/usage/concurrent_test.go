package usage_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mcphub/apigateway/telemetry/usage"
)

// Record and the queries may run at once from many goroutines, as time
// passes, and nothing is lost or counted twice.
func TestConcurrentRecordAndQuery(t *testing.T) {
	t.Parallel()
	const writers, perWriter = 8, 500
	clk := newClock()
	s := newStore(t, usage.Config{Buckets: 60, MaxKeys: 4}, clk)
	stop := make(chan struct{})
	var readers, wg sync.WaitGroup

	for r := range 4 {
		readers.Go(func() {
			for i := 0; i < 1_000_000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				switch (r + i) % 4 {
				case 0:
					s.Deployment(fmt.Sprintf("d%d", i%4))
				case 1:
					s.User("u1")
				case 2:
					s.UserDeployments("u1")
				default:
					s.Len()
				}
			}
		})
	}
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				s.Record(usage.Event{
					UserID:       "u1",
					DeploymentID: fmt.Sprintf("d%d", w%4),
					Route:        fmt.Sprintf("/r%d", i%6),
					Country:      "DE",
					ClientIP:     fmt.Sprintf("192.0.2.%d", w),
					Status:       []int{200, 404, 500}[i%3],
					BytesOut:     1,
					Duration:     time.Millisecond,
				})
				if w == 0 && i%50 == 0 {
					clk.Advance(time.Minute)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	user := mustSummary(t, s.User, "u1")
	if want := int64(writers * perWriter); user.Requests != want || user.BytesOut != want {
		t.Errorf("user: got %d requests, %d bytes; want %d each", user.Requests, user.BytesOut, want)
	}
	var byDeployment int64
	for _, d := range s.UserDeployments("u1") {
		byDeployment += d.Requests
	}
	if byDeployment != user.Requests {
		t.Errorf("deployments: got %d requests, want %d", byDeployment, user.Requests)
	}
	if user.Clients != writers {
		t.Errorf("clients: got %d, want %d", user.Clients, writers)
	}
}
