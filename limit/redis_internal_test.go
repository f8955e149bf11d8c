package limit

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

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
