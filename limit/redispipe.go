package limit

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxPipelines bounds the pipelines a [RedisStore] has in flight at once.
// While that many wait for Redis, new requests' scripts queue and leave
// together in the next pipeline to go out.
const maxPipelines = 4

// stallAfter is how long the latest pipeline may be out before another
// may leave beside it. While Redis answers within it, one pipeline at a
// time carries everything queued meanwhile, which makes batches large; a
// slow reply, or one connection stuck, does not hold the others back for
// longer.
const stallAfter = time.Millisecond

// A pipeliner sends the counting scripts of concurrent requests to Redis
// together: each request's script is still one atomic EVALSHA, but many
// travel in one write and come back in one read. Under load that turns a
// round trip per request into a round trip per batch, which saves the
// system calls, wake-ups and Redis's own reads and writes that dominate the
// cost of a small script. With little traffic a request's script leaves at
// once, alone, as it would without batching.
//
// Pipelines run on goroutines of their own, one while Redis answers
// promptly and at most maxPipelines when it does not (see stallAfter); a
// goroutine ends when it finds the queue empty, so an idle store holds
// none.
type pipeliner struct {
	client *redis.Client

	mu       sync.Mutex
	queue    []*scriptCall
	running  int       // goroutines sending pipelines
	lastSent time.Time // when the latest pipeline left
}

// A scriptCall is one request's run of takeAllScript, queued for a
// pipeline.
type scriptCall struct {
	ctx   context.Context // the caller's, for its deadline and to skip it once done
	keys  []string
	args  []any
	reply []any
	err   error
	done  chan struct{} // closed when reply and err are set
	slot  chan struct{} // the store's calls in flight, in which c holds a place until answered
}

// answer gives c its reply, and frees the place it held among the store's
// calls in flight.
func (p *pipeliner) answer(c *scriptCall, reply []any, err error) {
	c.reply, c.err = reply, err
	close(c.done)
	<-c.slot
}

// enqueue queues c for the next pipeline and makes sure one will leave.
func (p *pipeliner) enqueue(c *scriptCall) {
	p.mu.Lock()
	p.queue = append(p.queue, c)
	start := p.running == 0 || p.running < maxPipelines && time.Since(p.lastSent) > stallAfter
	if start {
		p.running++
		p.lastSent = time.Now() // so that a burst starts one goroutine, not four
	}
	p.mu.Unlock()
	if start {
		go p.run()
	}
}

// run sends what is queued as one pipeline, again and again, until it finds
// the queue empty.
func (p *pipeliner) run() {
	var batch []*scriptCall
	for {
		p.mu.Lock()
		batch, p.queue = p.queue, batch[:0]
		if len(batch) == 0 {
			p.running--
			p.mu.Unlock()
			return
		}
		p.lastSent = time.Now()
		p.mu.Unlock()
		p.send(batch)
		clear(batch) // let the calls go; the slice is reused as a queue
	}
}

// send runs the scripts of batch in one pipeline and hands each call its
// reply. Calls whose caller has already given up are left out: the
// gateway answered those requests without a count, and counting them now
// would charge users for requests it did not serve.
func (p *pipeliner) send(batch []*scriptCall) {
	live := batch[:0:0]
	var deadline time.Time
	unbounded := false
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			p.answer(c, nil, err)
			continue
		}
		live = append(live, c)
		if d, ok := c.ctx.Deadline(); !ok {
			unbounded = true
		} else if d.After(deadline) {
			deadline = d
		}
	}
	if len(live) == 0 {
		return
	}

	// A pipeline serving several callers lives as long as the last of them
	// waits, and no caller's cancellation cuts the others'. A lone call
	// goes out under its caller's context.
	ctx := live[0].ctx
	if len(live) > 1 {
		ctx = context.Background()
		if !unbounded {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
		}
	}

	cmds := p.exec(ctx, live, "evalsha", takeAllScript.Hash())
	var again []*scriptCall
	for i, c := range live {
		if err := cmds[i].Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Redis ran nothing. A caller who gave up meanwhile is left
			// out of the second try, as of the first.
			if err := c.ctx.Err(); err != nil {
				p.answer(c, nil, err)
				continue
			}
			again = append(again, c)
			continue
		}
		reply, err := cmds[i].Slice()
		p.answer(c, reply, err)
	}
	if len(again) == 0 {
		return
	}

	// Redis does not know the script (it restarted, or its scripts were
	// flushed): the calls that missed it go again with the script itself,
	// which EVAL also loads, so a flush between a load and its use cannot
	// fail them twice.
	cmds = p.exec(ctx, again, "eval", takeAllSource)
	for i, c := range again {
		reply, err := cmds[i].Slice()
		p.answer(c, reply, err)
	}
}

// exec sends the script (eval with its source, or evalsha with its hash)
// once per call, in a single pipeline. Each command carries its own
// error; a connection error is in all of them.
//
// go-redis would send the commands again after a lost connection or a
// timeout, but Redis may have run them by then: a request would be counted
// twice, or a whole batch would. So they go once, and a call whose answer
// is lost fails, and the limiter's store-failure policy decides.
func (p *pipeliner) exec(ctx context.Context, calls []*scriptCall, eval, script string) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = scriptCmd(ctx, eval, script, c.keys, c.args)
	}
	if len(calls) == 1 {
		p.client.Process(ctx, sentOnce{cmds[0]})
		return cmds
	}
	pipe := p.client.Pipeline()
	for _, cmd := range cmds {
		pipe.Process(ctx, sentOnce{cmd})
	}
	pipe.Exec(ctx) // the error is also each command's
	return cmds
}

// scriptCmd is the command that runs a script, given with eval ("eval"
// and its source, or "evalsha" and its hash), on keys and args.
func scriptCmd(ctx context.Context, eval, script string, keys []string, args []any) *redis.Cmd {
	all := make([]any, 0, 3+len(keys)+len(args))
	all = append(all, eval, script, len(keys))
	for _, k := range keys {
		all = append(all, k)
	}
	return redis.NewCmd(ctx, append(all, args...)...)
}

// sentOnce is a command go-redis must not send again after a connection
// error: Redis may have run it already.
type sentOnce struct{ *redis.Cmd }

func (sentOnce) NoRetry() bool { return true }
