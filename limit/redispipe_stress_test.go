package limit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Stress and edge-case tests of the pipeliner through RedisStore.TakeAll
// and runScript.

// psRealRedis returns a client of the server named by APIGATEWAY_REDIS_URL
// (skipping the test when it is unset), a second client for disturbing the
// server, and a key prefix unique to the test; keys under it are deleted
// when the test ends.
func psRealRedis(t *testing.T) (client, admin *redis.Client, prefix string) {
	t.Helper()
	url := os.Getenv("APIGATEWAY_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("APIGATEWAY_REDIS_URL is not set: CI must run the pipeline stress tests against a real redis-server")
		}
		t.Skip("APIGATEWAY_REDIS_URL is not set; skipping tests against a real Redis")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("APIGATEWAY_REDIS_URL: %v", err)
	}
	opt.ContextTimeoutEnabled = true
	client = redis.NewClient(opt)
	admin = redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		admin.Close()
		t.Fatalf("APIGATEWAY_REDIS_URL=%s: %v", url, err)
	}
	prefix = fmt.Sprintf("apigateway-stress:%d:%d", time.Now().UnixNano(), rand.Int64())
	t.Cleanup(func() {
		defer client.Close()
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := admin.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			admin.Del(ctx, iter.Val())
		}
	})
	return client, admin, prefix
}

// psWaitDrained waits until s has no call in flight, nothing queued and no
// pipeline goroutine running, and fails the test if that takes longer than
// within. It returns how long it took.
func psWaitDrained(t *testing.T, s *RedisStore, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		s.pipe.mu.Lock()
		running, queued := s.pipe.running, len(s.pipe.queue)
		s.pipe.mu.Unlock()
		inFlight := len(s.inFlight)
		if running == 0 && queued == 0 && inFlight == 0 {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("after %v: %d places in flight not given back, %d calls queued, %d pipeline goroutines running",
				within, inFlight, queued, running)
		}
		time.Sleep(time.Millisecond)
	}
}

// What one stress call saw.
type psOutcome uint8

const (
	psSuccess  psOutcome = iota // answered: counted exactly once
	psUnknown                   // failed once its context was done: counted once or not at all
	psPreDone                   // context done before the call: never counted
	psBusy                      // ErrStoreBusy: never counted
	psNoScript                  // NOSCRIPT even after the reload: never counted
)

type psCall struct {
	outcome psOutcome
	shared  int64 // the shared counter's count the call saw, on success
}

// psStress runs goroutines × calls TakeAll calls with random contexts
// (already cancelled, short deadlines, cancellation while waiting, long
// deadlines, none) against client while disturb runs, and then checks
// each call's counter exactly: a call answered is counted exactly once and
// its answer is its own; a call refused before it was queued is never
// counted; a call that failed with its context done is counted at most
// once. Every script takes a shared counter too, whose count must equal
// the calls counted, each answered call having seen a different value.
// With connErrorsOK, calls may also fail with a live context; each of
// those is counted at most once.
func psStress(t *testing.T, client, admin *redis.Client, prefix string, goroutines, calls int,
	disturb func(ctx context.Context), connErrorsOK bool) {
	store, err := NewRedisStore(client, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if store.pipe == nil {
		t.Fatal("a *redis.Client store does not pipeline")
	}
	total := goroutines * calls
	results := make([]psCall, total)
	shared := Rate{Limit: 1 << 40, Period: time.Hour}
	// Each call's own counter has a period of its own, whole seconds apart,
	// so the TTL in its answer tells whose script the answer came from.
	ownRate := func(i int) Rate { return Rate{Limit: 10, Period: time.Duration(3600+i) * time.Second} }

	// Sample the number of pipeline goroutines while the calls run.
	stop := make(chan struct{})
	var maxRunning atomic.Int64
	var bg sync.WaitGroup
	bg.Go(func() {
		for i := 0; i < 100_000; i++ {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
			store.pipe.mu.Lock()
			r := int64(store.pipe.running)
			store.pipe.mu.Unlock()
			if r > maxRunning.Load() {
				maxRunning.Store(r)
			}
		}
	})
	disturbCtx, stopDisturbing := context.WithCancel(context.Background())
	if disturb != nil {
		bg.Go(func() { disturb(disturbCtx) })
	}

	start := time.Now()
	var wg sync.WaitGroup
	var failures atomic.Int64
	fail := func(format string, args ...any) { // reports the first 20 failures
		if failures.Add(1) <= 20 {
			t.Errorf(format, args...)
		}
	}
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			for j := range calls {
				i := g*calls + j
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				mode := rng.IntN(100)
				switch {
				case mode < 10:
					ctx, cancel = context.WithCancel(ctx)
					cancel()
				case mode < 40:
					ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(3000))*time.Microsecond)
				case mode < 60:
					ctx, cancel = context.WithCancel(ctx)
					time.AfterFunc(time.Duration(rng.IntN(2000))*time.Microsecond, cancel)
				case mode < 80:
					ctx, cancel = context.WithTimeout(ctx, 3*time.Second)
				}
				own := ownRate(i)
				res, err := store.TakeAll(ctx, []Counter{
					{Key: "shared", Rate: shared},
					{Key: "own:" + strconv.Itoa(i), Rate: own},
				})
				after := time.Now()
				// A context's timer may fire a little after its deadline,
				// under load, but go-redis already fails at the deadline.
				d, bounded := ctx.Deadline()
				ctxDone := ctx.Err() != nil || bounded && !after.Before(d)
				cancel()
				switch {
				case err == nil:
					if len(res) != 2 {
						fail("call %d: got %d results, want 2", i, len(res))
						results[i] = psCall{outcome: psUnknown}
						continue
					}
					results[i] = psCall{outcome: psSuccess, shared: shared.Limit - res[0].Remaining}
					if !res[1].Allowed || res[1].Remaining != own.Limit-1 {
						fail("call %d: answered with its own counter at %d, want 1", i, own.Limit-res[1].Remaining)
					}
					// Reset is TakeAll's now plus the TTL Redis returned, the
					// call's own period for a counter it created.
					if d := res[1].Reset.Sub(after); d > own.Period || d < own.Period-500*time.Millisecond {
						fail("call %d: its counter resets in %v, want %v: the answer is another call's",
							i, d, own.Period)
					}
				case mode < 10:
					results[i] = psCall{outcome: psPreDone}
					if !errors.Is(err, context.Canceled) {
						fail("call %d with its context already cancelled: got %v", i, err)
					}
				case ctxDone:
					results[i] = psCall{outcome: psUnknown}
				case errors.Is(err, ErrStoreBusy):
					results[i] = psCall{outcome: psBusy}
				case redis.HasErrorPrefix(err, "NOSCRIPT"):
					// The scripts were flushed again between the reload and
					// the second try.
					results[i] = psCall{outcome: psNoScript}
				case connErrorsOK:
					// A connection lost: the script may have run.
					results[i] = psCall{outcome: psUnknown}
				default:
					fail("call %d with its context live: %v", i, err)
					results[i] = psCall{outcome: psUnknown}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failures.Load(); n > 20 {
		t.Errorf("%d failed calls in all", n)
	}
	stopDisturbing()
	close(stop)
	bg.Wait()
	drain := psWaitDrained(t, store, 3*time.Second)
	if m := maxRunning.Load(); m > maxPipelines {
		t.Errorf("%d pipeline goroutines ran at once, want at most %d", m, maxPipelines)
	}

	// Read every counter.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts := make([]int64, total)
	for lo := 0; lo < total; lo += 500 {
		hi := min(lo+500, total)
		keys := make([]string, 0, hi-lo)
		for i := lo; i < hi; i++ {
			keys = append(keys, prefix+":own:"+strconv.Itoa(i))
		}
		vals, err := admin.MGet(ctx, keys...).Result()
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range vals {
			if v == nil {
				continue
			}
			n, err := strconv.ParseInt(v.(string), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			counts[lo+k] = n
		}
	}
	sharedCount, err := admin.Get(ctx, prefix+":shared").Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}

	var n [5]int
	var unknownCounted, counted, overcounted int64
	seen := make(map[int64]int)
	bad := 0
	for i, r := range results {
		n[r.outcome]++
		c := counts[i]
		counted += c
		ok := true
		switch r.outcome {
		case psSuccess:
			ok = c == 1
			if prev, dup := seen[r.shared]; dup {
				t.Errorf("calls %d and %d both saw the shared counter at %d", prev, i, r.shared)
			}
			seen[r.shared] = i
			if r.shared < 1 || r.shared > sharedCount {
				t.Errorf("call %d saw the shared counter at %d, beyond its final %d", i, r.shared, sharedCount)
			}
		case psPreDone, psBusy, psNoScript:
			ok = c == 0
		case psUnknown:
			ok = c <= 1
			unknownCounted += c
		}
		if !ok {
			if c > 1 {
				overcounted++
			}
			if bad++; bad <= 20 {
				t.Errorf("call %d (outcome %d): its counter is %d", i, r.outcome, c)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d calls counted wrongly in all, %d of them more than once", bad, overcounted)
	}
	if counted != sharedCount {
		t.Errorf("the shared counter is %d, but %d calls' own counters were taken", sharedCount, counted)
	}
	t.Logf("%d calls in %v: %d answered, %d failed with their context done or a connection lost (%d of them counted), "+
		"%d refused as already done, %d ErrStoreBusy, %d NOSCRIPT after the reload; shared counter %d; at most %d pipelines at once; drained in %v",
		total, elapsed.Round(time.Millisecond), n[psSuccess], n[psUnknown], unknownCounted, n[psPreDone], n[psBusy],
		n[psNoScript], sharedCount, maxRunning.Load(), drain.Round(time.Millisecond))
}

// psFlushScripts makes Redis forget its scripts again and again until ctx
// is done, so that pipelines of many calls meet NOSCRIPT, in part or whole.
func psFlushScripts(admin *redis.Client, every time.Duration) func(ctx context.Context) {
	return func(ctx context.Context) {
		for i := 0; i < 10_000 && ctx.Err() == nil; i++ {
			fctx, cancel := context.WithTimeout(ctx, time.Second)
			admin.ScriptFlush(fctx)
			cancel()
			select {
			case <-ctx.Done():
			case <-time.After(every):
			}
		}
	}
}

// psKillClients closes every client connection of Redis but admin's again
// and again until ctx is done, as a restart or a network failure would.
func psKillClients(admin *redis.Client, every time.Duration) func(ctx context.Context) {
	return func(ctx context.Context) {
		for i := 0; i < 10_000 && ctx.Err() == nil; i++ {
			fctx, cancel := context.WithTimeout(ctx, time.Second)
			admin.ClientKillByFilter(fctx, "TYPE", "normal", "SKIPME", "yes")
			cancel()
			select {
			case <-ctx.Done():
			case <-time.After(every):
			}
		}
	}
}

// Connections dropped under load (CLIENT KILL every 5ms): calls may fail,
// but none may be counted twice, though go-redis would send a pipeline, or
// a lone EVALSHA, again after EOF; see
// TestPipelineLostConnectionDoesNotCountTwice.
func TestPipelineStressRealRedisConnectionsDropped(t *testing.T) {
	client, admin, prefix := psRealRedis(t)
	psStress(t, client, admin, prefix, 200, 50, psKillClients(admin, 5*time.Millisecond), true)
}

// 200 goroutines × 50 calls against a real Redis that keeps losing its
// scripts: every call is counted as its outcome requires, and the store
// ends with no place in flight, nothing queued and no goroutine.
func TestPipelineStressRealRedis(t *testing.T) {
	client, admin, prefix := psRealRedis(t)
	psStress(t, client, admin, prefix, 200, 50, psFlushScripts(admin, 3*time.Millisecond), false)
}

// The same without disturbance, so that most calls are answered.
func TestPipelineStressRealRedisSteady(t *testing.T) {
	client, admin, prefix := psRealRedis(t)
	psStress(t, client, admin, prefix, 200, 50, nil, false)
}

// The same, smaller, against miniredis, so that it runs without a real
// server too.
func TestPipelineStressMiniredis(t *testing.T) {
	m := miniredis.RunT(t)
	opt := &redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true}
	client, admin := redis.NewClient(opt), redis.NewClient(opt)
	t.Cleanup(func() { client.Close(); admin.Close() })
	psStress(t, client, admin, "stress", 50, 40, psFlushScripts(admin, 5*time.Millisecond), false)
}

// A hook that runs a function on the commands and pipelines a client sends.
type psHook struct {
	cmd  func(ctx context.Context, cmd redis.Cmder, next redis.ProcessHook) error
	pipe func(ctx context.Context, cmds []redis.Cmder, next redis.ProcessPipelineHook) error
}

func (h *psHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *psHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.cmd == nil {
			return next(ctx, cmd)
		}
		return h.cmd(ctx, cmd, next)
	}
}

func (h *psHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.pipe == nil {
			return next(ctx, cmds)
		}
		return h.pipe(ctx, cmds, next)
	}
}

func psIsScriptLoad(cmd redis.Cmder) bool {
	args := cmd.Args()
	return cmd.Name() == "script" && len(args) > 1 && fmt.Sprint(args[1]) == "load"
}

// The script must be counted on even when Redis forgets it again while the
// pipeline that met NOSCRIPT reloads it (it restarts, or its scripts are
// flushed, twice in a row): sending the script itself the second time, as
// EVAL, cannot meet NOSCRIPT, where a SCRIPT LOAD followed by EVALSHA
// could. The hook flushes the scripts after any SCRIPT LOAD, should one
// ever be sent.
func TestPipelineScriptsFlushedDuringReloadStillCounted(t *testing.T) {
	m := miniredis.RunT(t) // a new server: it knows no script
	opt := &redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true}
	client, admin := redis.NewClient(opt), redis.NewClient(opt)
	t.Cleanup(func() { client.Close(); admin.Close() })
	client.AddHook(&psHook{cmd: func(ctx context.Context, cmd redis.Cmder, next redis.ProcessHook) error {
		err := next(ctx, cmd)
		if psIsScriptLoad(cmd) {
			admin.ScriptFlush(ctx) // Redis forgets the script once more
		}
		return err
	}})
	p := &pipeliner{client: client}
	slots := make(chan struct{}, 2)
	batch := psBatch(slots, "a", "b")

	p.send(batch)

	for _, c := range batch {
		<-c.done
		if c.err != nil || len(c.reply) != 2 || c.reply[0] != int64(1) {
			t.Errorf("call %s: got %v, %v; want count 1 and its TTL", c.keys[0], c.reply, c.err)
		}
		if got, _ := m.Get(c.keys[0]); got != "1" {
			t.Errorf("call %s: its counter is %q, want 1", c.keys[0], got)
		}
	}
	if len(slots) != 0 {
		t.Errorf("%d places among the calls in flight were not given back", len(slots))
	}
}

// A pipeline that finds Redis without the script (it restarted, or its
// scripts were flushed) counted nothing. When a caller gives up while that
// pipeline is out, the call must be left out of the pipeline that goes
// again, which leaves after the caller gave up, as it would have been left
// out of the first: the gateway answered the request without a count.
func TestPipelineRetryAfterNoscriptLeavesOutCallsGivenUp(t *testing.T) {
	m := miniredis.RunT(t) // a new server: it knows no script
	client := redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	gone, giveUp := context.WithCancel(context.Background())
	defer giveUp()
	client.AddHook(&psHook{pipe: func(ctx context.Context, cmds []redis.Cmder, next redis.ProcessPipelineHook) error {
		err := next(ctx, cmds)
		giveUp() // the caller's deadline passes while the first pipeline is out
		return err
	}})
	p := &pipeliner{client: client}
	slots := make(chan struct{}, 2)
	slots <- struct{}{}
	slots <- struct{}{}
	args := []any{int64(60_000), int64(10)}
	waiting := &scriptCall{ctx: context.Background(), keys: []string{"kept"}, args: args,
		done: make(chan struct{}), slot: slots}
	givenUp := &scriptCall{ctx: gone, keys: []string{"given-up"}, args: args,
		done: make(chan struct{}), slot: slots}

	p.send([]*scriptCall{waiting, givenUp})

	<-waiting.done
	<-givenUp.done
	if waiting.err != nil || len(waiting.reply) != 2 || waiting.reply[0] != int64(1) {
		t.Errorf("waiting call: got %v, %v; want count 1 and its TTL", waiting.reply, waiting.err)
	}
	if got, _ := m.Get("kept"); got != "1" {
		t.Errorf("the waiting call's counter: got %q, want 1", got)
	}
	if m.Exists("given-up") {
		t.Errorf("a call given up on before the pipeline that ran it left was counted (its answer: %v, %v)",
			givenUp.reply, givenUp.err)
	}
	if !errors.Is(givenUp.err, context.Canceled) {
		t.Errorf("call given up on: got error %v, want context.Canceled", givenUp.err)
	}
	if len(slots) != 0 {
		t.Errorf("%d places among the calls in flight were not given back", len(slots))
	}
}

// Through TakeAll: while all four pipelines are out, calls queue; those
// whose callers give up return at once, are never counted once the
// pipelines come back, and give back their places; the others are
// answered, together, and counted once.
func TestPipelineQueuedCallsGivenUpAreNotCounted(t *testing.T) {
	m := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	if err := takeAllScript.Load(context.Background(), client).Err(); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var blocked atomic.Int64
	var trips atomic.Int64
	client.AddHook(&psHook{
		cmd: func(ctx context.Context, cmd redis.Cmder, next redis.ProcessHook) error {
			trips.Add(1)
			err := next(ctx, cmd)
			if cmd.Name() == "evalsha" {
				blocked.Add(1)
				select { // the reply is slow to come back
				case <-release:
				case <-time.After(5 * time.Second):
				}
			}
			return err
		},
		pipe: func(ctx context.Context, cmds []redis.Cmder, next redis.ProcessPipelineHook) error {
			trips.Add(1)
			return next(ctx, cmds)
		},
	})
	s, err := NewRedisStore(client, "q")
	if err != nil {
		t.Fatal(err)
	}
	rate := Rate{Limit: 100, Period: time.Minute}
	take := func(ctx context.Context, key string) error {
		_, err := s.TakeAll(ctx, []Counter{{Key: key, Rate: rate}, {Key: "shared", Rate: rate}})
		return err
	}

	// Four lone calls, one after the other, each on a pipeline goroutine of
	// its own, whose replies are slow to come back: each finds the one
	// before it out for longer than stallAfter.
	var wg sync.WaitGroup
	for i := range maxPipelines {
		time.Sleep(2 * stallAfter)
		wg.Go(func() {
			if err := take(context.Background(), "first:"+strconv.Itoa(i)); err != nil {
				t.Errorf("first call %d: %v", i, err)
			}
		})
		for deadline := time.Now().Add(3 * time.Second); blocked.Load() < int64(i+1); {
			if time.Now().After(deadline) {
				close(release)
				wg.Wait()
				t.Fatalf("%d of %d first calls reached Redis", blocked.Load(), i+1)
			}
			time.Sleep(time.Millisecond)
		}
	}

	const queued = 20
	ctxs := make([]context.Context, queued)
	cancels := make([]context.CancelFunc, queued)
	errs := make([]error, queued)
	tookAfterCancel := make([]time.Duration, queued)
	var cancelledAt [queued]atomic.Int64
	for i := range queued {
		ctxs[i], cancels[i] = context.WithCancel(context.Background())
		wg.Go(func() {
			errs[i] = take(ctxs[i], "queued:"+strconv.Itoa(i))
			if at := cancelledAt[i].Load(); at != 0 {
				tookAfterCancel[i] = time.Since(time.Unix(0, at))
			}
		})
	}
	for deadline := time.Now().Add(3 * time.Second); ; {
		s.pipe.mu.Lock()
		n := len(s.pipe.queue)
		s.pipe.mu.Unlock()
		if n == queued {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			wg.Wait()
			t.Fatalf("%d of %d calls queued", n, queued)
		}
		time.Sleep(time.Millisecond)
	}
	if got := len(s.inFlight); got != maxPipelines+queued {
		t.Errorf("places in flight: got %d, want %d", got, maxPipelines+queued)
	}
	for i := 0; i < queued; i += 2 {
		cancelledAt[i].Store(time.Now().UnixNano())
		cancels[i]()
	}
	time.Sleep(50 * time.Millisecond) // the callers given up return meanwhile
	tripsBefore := trips.Load()
	close(release)
	wg.Wait()
	for _, cancel := range cancels {
		cancel()
	}

	for i := range queued {
		key := "q:queued:" + strconv.Itoa(i)
		if i%2 == 0 {
			if !errors.Is(errs[i], context.Canceled) {
				t.Errorf("queued call %d given up on: got %v, want context.Canceled", i, errs[i])
			}
			if tookAfterCancel[i] > 40*time.Millisecond {
				t.Errorf("queued call %d returned %v after its cancellation, want at once", i, tookAfterCancel[i])
			}
			if m.Exists(key) {
				t.Errorf("queued call %d given up on before its pipeline left was counted", i)
			}
		} else {
			if errs[i] != nil {
				t.Errorf("queued call %d: %v", i, errs[i])
			}
			if got, _ := m.Get(key); got != "1" {
				t.Errorf("queued call %d's counter: got %q, want 1", i, got)
			}
		}
	}
	if got, _ := m.Get("q:shared"); got != strconv.Itoa(maxPipelines+queued/2) {
		t.Errorf("shared counter: got %s, want %d", got, maxPipelines+queued/2)
	}
	// The ten calls still waiting leave together: one round trip, or a few
	// if the four goroutines come back at different times.
	if got := trips.Load() - tripsBefore; got > maxPipelines {
		t.Errorf("the %d calls still waiting took %d round trips, want at most %d", queued/2, got, maxPipelines)
	}
	psWaitDrained(t, s, time.Second)
}

// On a Redis that accepts connections and never answers, every caller
// returns at its own deadline, however many pipelines are stuck; once the
// client's ReadTimeout (2s) ends the stuck pipelines, every place in flight
// is given back and no pipeline goroutine is left.
func TestPipelineHungRedisCallersReturnAndSlotsDrain(t *testing.T) {
	s := hungRedisStore(t)
	rate := Rate{Limit: 10, Period: time.Minute}
	const callers = 300
	var wg sync.WaitGroup
	var late atomic.Int64
	var worst atomic.Int64
	for i := range callers {
		wg.Go(func() {
			d := time.Duration(5+i%30) * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			start := time.Now()
			_, err := s.TakeAll(ctx, []Counter{{Key: "a" + strconv.Itoa(i), Rate: rate}, {Key: "b", Rate: rate}})
			over := time.Since(start) - d
			if over > time.Duration(worst.Load()) {
				worst.Store(int64(over))
			}
			if over > 300*time.Millisecond {
				late.Add(1)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("caller %d: got %v, want a deadline error", i, err)
			}
		})
	}
	wg.Wait()
	if n := late.Load(); n > 0 {
		t.Errorf("%d of %d callers returned more than 300ms after their deadline (worst %v)",
			n, callers, time.Duration(worst.Load()))
	}
	drain := psWaitDrained(t, s, 4*time.Second)
	t.Logf("callers returned at most %v after their deadlines; the store drained %v after the last",
		time.Duration(worst.Load()).Round(time.Millisecond), drain.Round(time.Millisecond))
}

// psDroppingProxy forwards connections on loopback to addr. The first time
// a client sends scripts (EVAL or EVALSHA) at least scripts at once, it
// lets Redis run them and then closes the connection before the replies
// reach the client, as a network failure or a restart would after Redis
// ran the scripts.
func psDroppingProxy(t *testing.T, addr string, scripts int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		conns   []net.Conn
		dropped bool
		wg      sync.WaitGroup
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", addr)
			if err != nil {
				client.Close()
				continue
			}
			track(client)
			track(server)
			drop := make(chan struct{})
			wg.Go(func() { // server to client, until the drop
				buf := make([]byte, 64<<10)
				for {
					n, err := server.Read(buf)
					select {
					case <-drop:
						return
					default:
					}
					if n > 0 {
						if _, err := client.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						client.Close()
						return
					}
				}
			})
			wg.Go(func() { // client to server
				buf := make([]byte, 64<<10)
				for {
					n, err := client.Read(buf)
					if n > 0 {
						if _, err := server.Write(buf[:n]); err != nil {
							return
						}
						mu.Lock()
						now := !dropped && bytes.Count(bytes.ToLower(buf[:n]), []byte("eval")) >= scripts
						if now {
							dropped = true
						}
						mu.Unlock()
						if now {
							close(drop)
							time.Sleep(50 * time.Millisecond) // Redis runs the scripts
							client.Close()
							server.Close()
							return
						}
					}
					if err != nil {
						server.Close()
						return
					}
				}
			})
		}
	})
	return ln.Addr().String()
}

// When the connection is lost after a pipeline left, Redis may have run
// every script in it: the pipeline must not be sent again, or each of its
// calls is counted twice (go-redis retries a pipeline that meets a
// connection error, MaxRetries times by default). The calls fail instead;
// the limiter's store-failure policy answers those requests. A lone
// EVALSHA would have the same problem (go-redis also retries a single
// command after EOF); in a pipeline, one lost connection would count a
// whole batch twice.
func TestPipelineLostConnectionDoesNotCountTwice(t *testing.T) {
	m := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: psDroppingProxy(t, m.Addr(), 2), ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	if err := takeAllScript.Load(context.Background(), client).Err(); err != nil {
		t.Fatal(err)
	}
	p := &pipeliner{client: client}
	slots := make(chan struct{}, 3)
	batch := psBatch(slots, "a", "b", "c")

	p.send(batch)

	for _, c := range batch {
		<-c.done
		got, _ := m.Get(c.keys[0])
		if got != "1" && got != "" {
			t.Errorf("call %s: counted %s times (its answer: %v, %v)", c.keys[0], got, c.reply, c.err)
		}
		if c.err == nil && got != "1" {
			t.Errorf("call %s answered, but its counter is %q", c.keys[0], got)
		}
	}
	if len(slots) != 0 {
		t.Errorf("%d places among the calls in flight were not given back", len(slots))
	}
}

// Take, which runs the ulule store's script, is not sent again after a lost
// connection either.
func TestTakeLostConnectionDoesNotCountTwice(t *testing.T) {
	m := miniredis.RunT(t)
	rate := Rate{Limit: 10, Period: time.Minute}
	// A first Take straight to Redis loads the script, so that the one
	// through the proxy is a lone EVALSHA that Redis runs.
	direct := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { direct.Close() })
	loader, err := NewRedisStore(direct, "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loader.Take(context.Background(), "loaded", rate); err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(&redis.Options{Addr: psDroppingProxy(t, m.Addr(), 1), ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	store, err := NewRedisStore(client, "t")
	if err != nil {
		t.Fatal(err)
	}

	res, err := store.Take(context.Background(), "k", rate)

	got, _ := m.Get("t:k")
	if got != "1" && got != "" {
		t.Errorf("Take counted %s times (its answer: %+v, %v)", got, res, err)
	}
	if err == nil && got != "1" {
		t.Errorf("Take answered, but its counter is %q", got)
	}
}

// psBatch returns one queued call per key, each counting its own key with
// a limit of 10 a minute and holding a place in slots.
func psBatch(slots chan struct{}, keys ...string) []*scriptCall {
	var batch []*scriptCall
	for _, key := range keys {
		slots <- struct{}{}
		batch = append(batch, &scriptCall{ctx: context.Background(), keys: []string{key},
			args: []any{int64(60_000), int64(10)}, done: make(chan struct{}), slot: slots})
	}
	return batch
}
