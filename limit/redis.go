package limit

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	ulredis "github.com/ulule/limiter/v3/drivers/store/redis"
)

// maxInFlight bounds the Redis calls a [RedisStore] waits for at once,
// including calls whose caller already gave up.
const maxInFlight = 4096

// ErrStoreBusy is returned by [RedisStore.Take] and [RedisStore.TakeAll]
// when too many earlier calls are still waiting for Redis, as when the
// server hangs.
var ErrStoreBusy = errors.New("limit: too many limit store calls in flight")

// A RedisStore is a [LimitStore] whose counters live in Redis, so that
// every replica of a gateway shares them. It runs the atomic counting script
// of github.com/ulule/limiter/v3's Redis store; each counter is one Redis
// key, prefix + ":" + key, that expires with its window.
//
// It is also a [BatchStore]: TakeAll counts all of a request's counters
// with one script, which does for each key what the ulule script does, on
// the same keys. The scripts of requests waiting at the same time travel
// to Redis together, in pipelines (one out at a time while Redis answers
// within a millisecond, up to four while it is slower), so under load a
// round trip serves many requests; each script still runs atomically on
// its own. Only a client of one server or of a failover group (a
// [*redis.Client]) batches: a cluster or ring may hold the keys of one
// request on different servers, so with any other client TakeAll takes the
// counters one round trip each. A pipeline waits for Redis as long as the
// longest deadline among its callers; callers without a deadline leave it
// to the client's ReadTimeout, so give TakeAll a deadline (the [Limiter]
// always does) when the client has none.
//
// Scripts are sent once: a call whose connection is lost fails rather
// than being sent again, since Redis may have counted it already.
//
// Take and TakeAll return as soon as their context is done, even if the
// client is still waiting for Redis: go-redis ignores context deadlines
// unless its ContextTimeoutEnabled option is set, and a server that accepts
// connections but never answers would otherwise stall every request for
// the client's ReadTimeout. Set ContextTimeoutEnabled anyway, so that calls
// given up on also end promptly; at most 4096 calls wait at once, and
// beyond that both fail at once with [ErrStoreBusy].
//
// While Redis refuses connections, go-redis retries the dial within the
// call, so each call waits out the limiter's StoreTimeout (100ms by
// default) before the store-failure policy applies; it keeps trying to
// connect, so counting resumes within about a second of Redis coming back.
type RedisStore struct {
	store    limiter.Store
	client   redis.UniversalClient
	prefix   string
	pipe     *pipeliner // nil unless one script may touch all of a request's keys
	inFlight chan struct{}
}

var _ BatchStore = (*RedisStore)(nil)

// NewRedisStore returns a RedisStore that keeps its counters in client under
// prefix (empty means "apigateway:limit"). It does not contact Redis: a
// gateway starts while Redis is down, and counting begins once it is up.
func NewRedisStore(client redis.UniversalClient, prefix string) (*RedisStore, error) {
	if client == nil {
		return nil, errors.New("limit: NewRedisStore needs a client")
	}
	if prefix == "" {
		prefix = "apigateway:limit"
	}
	store, err := ulredis.NewStoreWithOptions(&scriptClient{UniversalClient: client},
		limiter.StoreOptions{Prefix: prefix})
	if err != nil {
		// scriptClient.ScriptLoad does not fail.
		return nil, fmt.Errorf("limit: creating Redis store: %w", err)
	}
	s := &RedisStore{store: store, client: client, prefix: prefix,
		inFlight: make(chan struct{}, maxInFlight)}
	if c, ok := client.(*redis.Client); ok {
		s.pipe = &pipeliner{client: c}
	}
	return s, nil
}

// Take counts one request for key under rate, in one round trip.
func (s *RedisStore) Take(ctx context.Context, key string, rate Rate) (Result, error) {
	if !rate.valid() || rate.IsUnlimited() {
		return Result{}, ErrInvalidRate
	}

	rep := new(scriptReply)
	err := s.do(ctx, func(ctx context.Context) error {
		ctx = context.WithValue(ctx, scriptReplyKey{}, rep)
		_, err := s.store.Get(ctx, key, limiter.Rate{Limit: rate.Limit, Period: rate.Period})
		return err
	})
	if err != nil {
		return Result{}, err
	}

	// The window ends ttl after Redis ran the script, which is before now.
	reset := time.Now().Add(rate.Period)
	if rep.ttl > 0 {
		reset = time.Now().Add(rep.ttl)
	}
	return result(rate, rep.count, reset), nil
}

// takeAllScript takes the counters KEYS in order, as ulule's script takes
// one (ARGV holds each one's period in milliseconds and its limit), and
// stops after the first that is over its limit. It returns the count and
// the TTL in milliseconds of each counter it took.
var takeAllScript = redis.NewScript(takeAllSource)

const takeAllSource = `
local out = {}
for i, key in ipairs(KEYS) do
	local ttl = tonumber(ARGV[2 * i - 1])
	local n = redis.call("incr", key)
	if n == 1 then
		if ttl > 0 then
			redis.call("pexpire", key, ttl)
		end
	else
		ttl = redis.call("pttl", key)
	end
	out[#out + 1] = n
	out[#out + 1] = ttl
	if n > tonumber(ARGV[2 * i]) then
		break
	end
end
return out
`

// TakeAll counts one request for each of counters in order, in one round
// trip, and stops at the first that refuses, as [BatchStore] requires.
func (s *RedisStore) TakeAll(ctx context.Context, counters []Counter) ([]Result, error) {
	for _, c := range counters {
		if !c.Rate.valid() || c.Rate.IsUnlimited() {
			return nil, ErrInvalidRate
		}
	}
	if len(counters) == 0 {
		return nil, nil
	}
	if s.pipe == nil {
		return s.takeEach(ctx, counters)
	}

	keys := make([]string, len(counters))
	args := make([]any, 0, 2*len(counters))
	for i, c := range counters {
		keys[i] = s.prefix + ":" + c.Key
		args = append(args, c.Rate.Period.Milliseconds(), c.Rate.Limit)
	}
	reply, err := s.runScript(ctx, keys, args)
	if err != nil {
		return nil, err
	}

	if len(reply) < 2 || len(reply) > 2*len(counters) || len(reply)%2 != 0 {
		return nil, errors.New("limit: redis: counting script returned a reply of the wrong length")
	}
	now := time.Now()
	results := make([]Result, len(reply)/2)
	for i := range results {
		n, ok1 := reply[2*i].(int64)
		ttl, ok2 := reply[2*i+1].(int64)
		if !ok1 || !ok2 {
			return nil, errors.New("limit: redis: counting script returned a reply that is not numbers")
		}
		rate := counters[i].Rate
		// The window ends ttl after Redis ran the script, which is before now.
		reset := now.Add(rate.Period)
		if ttl > 0 {
			reset = now.Add(time.Duration(ttl) * time.Millisecond)
		}
		results[i] = result(rate, n, reset)
	}
	return results, nil
}

// runScript runs takeAllScript on keys and args in the next pipeline to
// Redis, waiting for its reply only until ctx is done. Like [RedisStore.do]
// it fails at once when maxInFlight calls are waiting already.
func (s *RedisStore) runScript(ctx context.Context, keys []string, args []any) ([]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("limit: redis: %w", err)
	}
	select {
	case s.inFlight <- struct{}{}:
	default:
		return nil, ErrStoreBusy
	}
	c := &scriptCall{ctx: ctx, keys: keys, args: args, done: make(chan struct{}), slot: s.inFlight}
	s.pipe.enqueue(c)
	select {
	case <-c.done:
		if c.err != nil {
			return nil, fmt.Errorf("limit: redis: %w", c.err)
		}
		return c.reply, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("limit: redis: %w", ctx.Err())
	}
}

// takeEach is TakeAll for a client whose keys may live on different
// servers: one Take per counter.
func (s *RedisStore) takeEach(ctx context.Context, counters []Counter) ([]Result, error) {
	results := make([]Result, 0, len(counters))
	for _, c := range counters {
		res, err := s.Take(ctx, c.Key, c.Rate)
		if err != nil {
			return results, err
		}
		results = append(results, res)
		if !res.Allowed {
			break
		}
	}
	return results, nil
}

// do runs call, one round trip to Redis, in a goroutine of its own and
// waits for it only until ctx is done, so that a connection that hangs
// cannot hold the caller past its deadline. At most maxInFlight calls run
// at once, those given up on included; past that, do fails at once.
func (s *RedisStore) do(ctx context.Context, call func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("limit: redis: %w", err)
	}
	select {
	case s.inFlight <- struct{}{}:
	default:
		return ErrStoreBusy
	}

	done := make(chan error, 1)
	go func() {
		defer func() { <-s.inFlight }()
		done <- call(ctx)
	}()

	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("limit: redis: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("limit: redis: %w", ctx.Err())
	}
}

// A scriptClient is the client the ulule store talks to. It differs from
// the go-redis client in two ways. ScriptLoad computes the script's SHA
// locally instead of loading it, so creating the store needs no round trip,
// and EvalSha falls back to EVAL when Redis does not know the script (it
// was never loaded, or Redis restarted), which also loads it. And EvalSha
// keeps the count and the TTL in milliseconds that the script returns for
// Take, because the ulule store reports the end of a window in whole
// seconds only. Scripts are sent once, never again after a lost
// connection.
type scriptClient struct {
	redis.UniversalClient
	scripts sync.Map // SHA → source
}

// runOnce runs a script without go-redis's retries after a lost
// connection, which could count a request twice (see [sentOnce]).
func (c *scriptClient) runOnce(ctx context.Context, eval, script string, keys []string, args []any) *redis.Cmd {
	cmd := scriptCmd(ctx, eval, script, keys, args)
	c.UniversalClient.Process(ctx, sentOnce{cmd})
	return cmd
}

// A scriptReply is what the counting script returned for one Take.
type scriptReply struct {
	count int64
	ttl   time.Duration
}

type scriptReplyKey struct{}

func (c *scriptClient) ScriptLoad(ctx context.Context, script string) *redis.StringCmd {
	sum := sha1.Sum([]byte(script))
	sha := hex.EncodeToString(sum[:])
	c.scripts.Store(sha, script)
	cmd := redis.NewStringCmd(ctx, "script", "load", script)
	cmd.SetVal(sha)
	return cmd
}

func (c *scriptClient) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	cmd := c.runOnce(ctx, "evalsha", sha, keys, args)
	if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if src, ok := c.scripts.Load(sha); ok {
			cmd = c.runOnce(ctx, "eval", src.(string), keys, args)
		}
	}
	if rep, ok := ctx.Value(scriptReplyKey{}).(*scriptReply); ok && cmd.Err() == nil {
		if fields, ok := cmd.Val().([]any); ok && len(fields) == 2 {
			rep.count, _ = fields[0].(int64)
			ttl, _ := fields[1].(int64)
			rep.ttl = time.Duration(ttl) * time.Millisecond
		}
	}
	return cmd
}
