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

// ErrStoreBusy is returned by [RedisStore.Take] when too many earlier calls
// are still waiting for Redis, as when the server hangs.
var ErrStoreBusy = errors.New("limit: too many limit store calls in flight")

// A RedisStore is a [LimitStore] whose counters live in Redis, so that
// every replica of a gateway shares them. It runs the atomic counting script
// of github.com/ulule/limiter/v3's Redis store; each counter is one Redis
// key, prefix + ":" + key, that expires with its window.
//
// Take returns as soon as its context is done, even if the client is still
// waiting for Redis: go-redis ignores context deadlines unless its
// ContextTimeoutEnabled option is set, and a server that accepts
// connections but never answers would otherwise stall every request for
// the client's ReadTimeout. Set ContextTimeoutEnabled anyway, so that calls
// given up on also end promptly; at most 4096 calls wait at once, and
// beyond that Take fails at once with [ErrStoreBusy].
//
// While Redis refuses connections, go-redis retries the dial within the
// call, so each call waits out the limiter's StoreTimeout (100ms by
// default) before the store-failure policy applies; it keeps trying to
// connect, so counting resumes within about a second of Redis coming back.
type RedisStore struct {
	store    limiter.Store
	inFlight chan struct{}
}

var _ LimitStore = (*RedisStore)(nil)

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
	return &RedisStore{store: store, inFlight: make(chan struct{}, maxInFlight)}, nil
}

// Take counts one request for key under rate, in one round trip.
func (s *RedisStore) Take(ctx context.Context, key string, rate Rate) (Result, error) {
	if !rate.valid() || rate.IsUnlimited() {
		return Result{}, ErrInvalidRate
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("limit: redis: %w", err)
	}
	select {
	case s.inFlight <- struct{}{}:
	default:
		return Result{}, ErrStoreBusy
	}

	rep := new(scriptReply)
	ctx = context.WithValue(ctx, scriptReplyKey{}, rep)
	done := make(chan error, 1)
	go func() {
		defer func() { <-s.inFlight }()
		_, err := s.store.Get(ctx, key, limiter.Rate{Limit: rate.Limit, Period: rate.Period})
		done <- err
	}()

	select {
	case err := <-done:
		if err != nil {
			return Result{}, fmt.Errorf("limit: redis: %w", err)
		}
	case <-ctx.Done():
		return Result{}, fmt.Errorf("limit: redis: %w", ctx.Err())
	}
	// The window ends ttl after Redis ran the script, which is before now.
	reset := time.Now().Add(rate.Period)
	if rep.ttl > 0 {
		reset = time.Now().Add(rep.ttl)
	}
	return result(rate, rep.count, reset), nil
}

// A scriptClient is the client the ulule store talks to. It differs from
// the go-redis client in two ways. ScriptLoad computes the script's SHA
// locally instead of loading it, so creating the store needs no round trip,
// and EvalSha falls back to EVAL when Redis does not know the script (it
// was never loaded, or Redis restarted), which also loads it. And EvalSha
// keeps the count and the TTL in milliseconds that the script returns for
// Take, because the ulule store reports the end of a window in whole
// seconds only.
type scriptClient struct {
	redis.UniversalClient
	scripts sync.Map // SHA → source
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
	cmd := c.UniversalClient.EvalSha(ctx, sha, keys, args...)
	if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if src, ok := c.scripts.Load(sha); ok {
			cmd = c.UniversalClient.Eval(ctx, src.(string), keys, args...)
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
