package limit

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// hungRedisStore returns a RedisStore whose server accepts connections
// and never answers.
func hungRedisStore(t *testing.T) *RedisStore {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // never answered
			mu.Unlock()
		}
	}()
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ReadTimeout: 2 * time.Second})
	t.Cleanup(func() { client.Close() })
	s, err := NewRedisStore(client, "test")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Calls abandoned on a hung Redis are bounded: past the cap, Take fails at
// once instead of starting more goroutines.
func TestRedisStoreBoundsCallsInFlight(t *testing.T) {
	s := hungRedisStore(t)
	s.inFlight = make(chan struct{}, 2)
	rate := Rate{Limit: 1, Period: time.Minute}
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := s.Take(ctx, "k", rate)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Take on a hung Redis: got %v, want a deadline error", err)
		}
	}

	start := time.Now()
	_, err := s.Take(context.Background(), "k", rate)

	if !errors.Is(err, ErrStoreBusy) {
		t.Fatalf("third Take with two calls stuck: got %v, want ErrStoreBusy", err)
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("ErrStoreBusy took %v, want at once", took)
	}
	_, err = s.TakeAll(context.Background(), []Counter{{Key: "a", Rate: rate}, {Key: "b", Rate: rate}})
	if !errors.Is(err, ErrStoreBusy) {
		t.Fatalf("TakeAll with two calls stuck: got %v, want ErrStoreBusy", err)
	}
}

// TakeAll on a hung Redis returns at its deadline.
func TestRedisTakeAllHonoursDeadline(t *testing.T) {
	s := hungRedisStore(t)
	rate := Rate{Limit: 1, Period: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, err := s.TakeAll(ctx, []Counter{{Key: "a", Rate: rate}, {Key: "b", Rate: rate}})

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("TakeAll on a hung Redis: got %v, want a deadline error", err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("TakeAll on a hung Redis took %v, want about its 20ms deadline", took)
	}
}

// A pipeline leaves out the calls whose callers gave up before it left:
// those requests were answered without a count, so nothing is counted for
// them. Both calls give back their place among the calls in flight.
func TestPipelineLeavesOutCallsGivenUp(t *testing.T) {
	m := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { client.Close() })
	p := &pipeliner{client: client}
	slots := make(chan struct{}, 2)
	slots <- struct{}{}
	slots <- struct{}{}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	args := []any{int64(60_000), int64(10)}
	abandoned := &scriptCall{ctx: gone, keys: []string{"gone"}, args: args, done: make(chan struct{}), slot: slots}
	waiting := &scriptCall{ctx: context.Background(), keys: []string{"kept"}, args: args, done: make(chan struct{}), slot: slots}

	p.send([]*scriptCall{abandoned, waiting})

	<-abandoned.done
	<-waiting.done
	if !errors.Is(abandoned.err, context.Canceled) {
		t.Errorf("call given up on: got error %v, want context.Canceled", abandoned.err)
	}
	if waiting.err != nil || len(waiting.reply) != 2 || waiting.reply[0] != int64(1) {
		t.Errorf("waiting call: got %v, %v; want count 1 and its TTL", waiting.reply, waiting.err)
	}
	if m.Exists("gone") {
		t.Error("the call given up on was counted in Redis")
	}
	if got, _ := m.Get("kept"); got != "1" {
		t.Errorf("the waiting call's counter: got %q, want 1", got)
	}
	if len(slots) != 0 {
		t.Errorf("%d places among the calls in flight were not given back", len(slots))
	}
}
