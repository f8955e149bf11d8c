package usage_test

import (
	"sync"
	"testing"
	"time"

	"github.com/mcphub/apigateway/telemetry/usage"
)

// start is the time the tests' clocks start at: the start of a minute, and
// of a ten-minute span.
var start = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// clock is a fake clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: start} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newStore returns a store on clk configured by cfg.
func newStore(t testing.TB, cfg usage.Config, clk *clock) *usage.Store {
	t.Helper()
	cfg.Now = clk.Now
	s, err := usage.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// request returns a successful request of user u1 to deployment d1.
func request() usage.Event {
	return usage.Event{UserID: "u1", DeploymentID: "d1", Status: 200}
}

// with returns e changed by f.
func with(e usage.Event, f func(*usage.Event)) usage.Event {
	f(&e)
	return e
}

// mustSummary returns the summary that get returns for id, failing the
// test when it reports no requests.
func mustSummary(t *testing.T, get func(string) (usage.Summary, bool), id string) usage.Summary {
	t.Helper()
	s, ok := get(id)
	if !ok {
		t.Fatalf("no usage for %s", id)
	}
	return s
}
