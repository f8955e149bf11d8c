package breaker_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/apigateway/breaker"
)

// A request whose context names no breaker goes straight through, and no
// breaker is created for it.
func TestUnkeyedRequestsPassThrough(t *testing.T) {
	t.Parallel()
	up := status(http.StatusBadGateway)
	b := newBreakers(t, oneStrike)
	rt := b.RoundTripper(up)

	unkeyed := []context.Context{context.Background(), breaker.NewContext(context.Background(), "")}
	for _, ctx := range unkeyed {
		for range 10 {
			r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://upstream.invalid/", nil)
			resp, err := rt.RoundTrip(r)
			if err != nil || resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("unkeyed request: got %v, %v; want the upstream's 502", resp, err)
			}
		}
	}

	if got := up.calls.Load(); got != 20 {
		t.Errorf("upstream calls: got %d, want 20", got)
	}
	if got := b.Len(); got != 0 {
		t.Errorf("Len: got %d, want 0", got)
	}
}

// The body of a response that passed streams: its first bytes can be read
// while the upstream is still writing.
func TestResponseBodyStreams(t *testing.T) {
	t.Parallel()
	finish := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-finish:
		case <-time.After(5 * time.Second):
		}
		fmt.Fprint(w, "data: last\n\n")
	}))
	t.Cleanup(upstream.Close)
	defer close(finish)
	b := newBreakers(t, breaker.Config{})
	rt := b.RoundTripper(newTransport(t, 0))
	r, _ := http.NewRequestWithContext(breaker.NewContext(context.Background(), "dep-1"),
		http.MethodGet, upstream.URL+"/events", nil)

	resp, err := rt.RoundTrip(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		got <- line
	}()

	select {
	case line := <-got:
		if line != "data: first\n" {
			t.Errorf("first line: got %q, want %q", line, "data: first\n")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the first event did not arrive while the upstream was still writing")
	}
}

// A protocol switch (101) passes through with its writable body, and
// counts as a success at once.
func TestSwitchingProtocolsPassesThrough(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\n" +
			"Connection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n')
		rw.WriteString("echo: " + line)
		rw.Flush()
	}))
	t.Cleanup(upstream.Close)
	b := newBreakers(t, breaker.Config{Default: breaker.Settings{ConsecutiveFailures: 2}})
	rt := b.RoundTripper(newTransport(t, 0))
	r, _ := http.NewRequestWithContext(breaker.NewContext(context.Background(), "dep-1"),
		http.MethodGet, upstream.URL+"/ws", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "echo")

	resp, err := rt.RoundTrip(r)

	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got %v, %v; want 101", resp, err)
	}
	conn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		t.Fatalf("101 body is a %T, want an io.ReadWriteCloser", resp.Body)
	}
	defer conn.Close()
	fmt.Fprint(conn, "hello\n")
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if line != "echo: hello\n" {
		t.Errorf("over the switched connection: got %q, want %q", line, "echo: hello\n")
	}
	if got := b.State("dep-1"); got != breaker.Closed {
		t.Errorf("state: got %v, want closed", got)
	}
}

// Many goroutines on a few keys, with failures, client cancels, Resets and
// reads, under the race detector. Each request either reaches the upstream
// or is refused, and each key's reported changes form one chain that ends
// at its breaker's state.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	last := map[string]breaker.State{}
	var chainBroken atomic.Bool
	b := newBreakers(t, breaker.Config{
		Default: breaker.Settings{ConsecutiveFailures: 3, MinRequests: 5,
			OpenDelay: 5 * time.Millisecond, HalfOpenRequests: 2},
		OnStateChange: func(key string, from, to breaker.State) {
			mu.Lock()
			if last[key] != from {
				chainBroken.Store(true)
			}
			last[key] = to
			mu.Unlock()
		},
	})
	up := &fakeUpstream{respond: func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
			return nil, r.Context().Err()
		}
		switch rand.IntN(4) {
		case 0:
			return answer(r, http.StatusServiceUnavailable), nil
		case 1:
			return nil, errors.New("connection reset")
		}
		return answer(r, http.StatusOK), nil
	}}
	rt := b.RoundTripper(up)
	keys := []string{"dep-1", "dep-2", "dep-3", "dep-4"}

	var sent, refused atomic.Int64
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := range 300 {
				key := keys[(w+i)%len(keys)]
				var err error
				switch {
				case i%50 == 49:
					b.Reset(key)
					continue
				case i%10 == 9:
					err = sendCanceled(t, rt, key, 0)
				default:
					_, err = send(t, rt, key)
				}
				sent.Add(1)
				if errors.Is(err, breaker.ErrOpen) {
					refused.Add(1)
				}
				b.State(key)
			}
		})
	}
	wg.Wait()

	if chainBroken.Load() {
		t.Error("OnStateChange: a change did not start from the state the previous one went to")
	}
	if got := up.calls.Load() + refused.Load(); got != sent.Load() {
		t.Errorf("upstream calls %d + refused %d: got %d, want the %d requests sent",
			up.calls.Load(), refused.Load(), got, sent.Load())
	}
	if refused.Load() == 0 {
		t.Error("no request was refused: the breakers never opened")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, key := range keys {
		if got, want := last[key], b.State(key); got != want {
			t.Errorf("%s: last reported %v, breaker is %v", key, got, want)
		}
	}
}
