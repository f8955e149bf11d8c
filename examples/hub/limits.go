package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/mcphub/apigateway/limit"
)

// The hub's default rates: far above what a person clicking around sends
// (a page and its assets are a handful of requests), low enough that a
// script hammering the hub meets them.
const (
	defaultUserRate       = "1200-M"
	defaultDeploymentRate = "2400-M"
)

// limitConfig builds the gateway's rate-limit configuration from the
// command-line values. With a Redis URL, counters are shared by every hub
// started with the same URL; close releases the Redis client.
func limitConfig(userRate, deploymentRate, redisURL string, logger *slog.Logger) (
	cfg limit.Config, close func(), err error,
) {
	close = func() {}
	if cfg.PerUser, err = limit.ParseRate(userRate); err != nil {
		return cfg, close, fmt.Errorf("-user-rate: %w", err)
	}
	if cfg.PerDeployment, err = limit.ParseRate(deploymentRate); err != nil {
		return cfg, close, fmt.Errorf("-deployment-rate: %w", err)
	}
	if redisURL == "" {
		return cfg, close, nil
	}

	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return cfg, close, fmt.Errorf("-redis-url: %w", err)
	}
	// Let request deadlines reach Redis calls, so a hung server holds no
	// pool connection longer than the limiter waits for it.
	opt.ContextTimeoutEnabled = true
	// go-redis logs through a process-wide logger; send it to the hub's
	// JSON log instead of plain text on stderr.
	redis.SetLogger(redisLog{logger})
	client := redis.NewClient(opt)
	store, err := limit.NewRedisStore(client, "apigateway:hub")
	if err != nil {
		client.Close()
		return cfg, close, fmt.Errorf("-redis-url: %w", err)
	}
	cfg.Store = store
	return cfg, func() { client.Close() }, nil
}

// redisLog adapts a slog.Logger to go-redis's logging interface.
type redisLog struct{ logger *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
