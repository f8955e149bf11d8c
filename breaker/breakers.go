package breaker

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/maypok86/otter/v2"
)

// Breakers holds one circuit breaker per key (per deployment), created on
// a key's first request, in a bounded registry that drops idle breakers.
// Build it with [New]; it is safe for concurrent use.
//
// Breakers live in the process: each gateway replica trips its own.
// Under memory pressure (more than Config.MaxBreakers keys in use) a
// breaker may be dropped while open, and its deployment then gets
// requests again until a new breaker trips.
type Breakers struct {
	base      Settings
	forKey    func(string) (Settings, bool)
	keyOf     func(*http.Request) (string, bool)
	isFailure func(*http.Response, error) bool
	notifier  *notifier // nil without Config.OnStateChange
	logger    *slog.Logger
	idle      time.Duration
	cache     *otter.Cache[string, *entry]
}

// New returns Breakers configured by cfg. It fails when cfg holds a
// negative count or duration, a FailureRatio over 1, counts over their
// bounds, or turns both trip rules off.
func New(cfg Config) (*Breakers, error) {
	base := cfg.Default.resolve(packageDefaults)
	if err := base.validate(); err != nil {
		return nil, fmt.Errorf("breaker: Config.Default: %w", err)
	}
	switch {
	case cfg.MaxBreakers < 0:
		return nil, fmt.Errorf("breaker: Config.MaxBreakers %d is negative", cfg.MaxBreakers)
	case cfg.IdleTimeout < 0:
		return nil, fmt.Errorf("breaker: Config.IdleTimeout %v is negative", cfg.IdleTimeout)
	}

	b := &Breakers{
		base:      base,
		forKey:    cfg.For,
		keyOf:     cfg.Key,
		isFailure: cfg.IsFailure,
		logger:    cfg.Logger,
		idle:      orDefault(cfg.IdleTimeout, defaultIdleTimeout),
	}
	if b.isFailure == nil {
		b.isFailure = DefaultIsFailure
	}
	if b.keyOf == nil {
		b.keyOf = keyFromContext
	}
	opts := &otter.Options[string, *entry]{
		MaximumSize: orDefault(cfg.MaxBreakers, defaultMaxBreakers),
		// An idle breaker lives at least as long as the state it holds
		// means something: its window of results, or its open delay.
		ExpiryCalculator: otter.ExpiryAccessingFunc(keep),
		// Reading the precise time is a large part of a lookup; idle
		// expiry needs no precision. The clock stops with the registry.
		Clock:  otter.NewCoarseClock(clockResolution),
		Logger: otterLogger{cfg.Logger},
	}
	if cfg.OnStateChange != nil {
		n := &notifier{hook: cfg.OnStateChange}
		b.notifier = n
		// Within the deletion, so that the change is queued before a new
		// breaker for the key can report anything.
		opts.OnAtomicDeletion = func(ev otter.DeletionEvent[string, *entry]) {
			if ev.Cause != otter.CauseReplacement && n.removed(ev.Value) && ev.WasEvicted() {
				go n.deliver() // Reset delivers its own
			}
		}
	}
	cache, err := otter.New(opts)
	if err != nil {
		return nil, fmt.Errorf("breaker: building the registry: %w", err)
	}
	b.cache = cache
	return b, nil
}

// keep returns how long the registry keeps e's breaker while idle.
func keep(e otter.Entry[string, *entry]) time.Duration { return e.Value.keep }

// clockResolution is the precision of the registry's clock.
const clockResolution = 100 * time.Millisecond

// orDefault returns v, or def when v is zero.
func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// State returns the state of key's breaker: [Closed] when key has none.
// An open breaker whose delay has passed reports [Open] until the next
// request for key makes it half-open. State does not keep an idle breaker
// alive.
func (b *Breakers) State(key string) State {
	e, ok := b.cache.GetEntryQuietly(key)
	if !ok {
		return Closed
	}
	return stateOf(e.Value.cb.State())
}

// Reset drops key's breaker, so that the next request for key reaches the
// upstream and starts a new, closed breaker with the settings Config.For
// then returns. Call it when a deployment is redeployed or replaced:
// failures of the old instance say nothing about the new one. Requests
// under way when Reset is called are not counted against the new breaker.
func (b *Breakers) Reset(key string) {
	b.cache.Invalidate(key)
	if b.notifier != nil {
		b.notifier.deliver()
	}
}

// Len returns the number of breakers held.
func (b *Breakers) Len() int {
	b.cache.CleanUp()
	return b.cache.EstimatedSize()
}

// breaker returns key's breaker, creating it on first use.
func (b *Breakers) breaker(key string) *entry {
	if e, ok := b.cache.GetIfPresent(key); ok {
		return e
	}
	// Built outside the registry's locks, because For is the host's code;
	// when two requests race, one breaker wins and the other is dropped
	// before it counted anything.
	e := newEntry(key, b.settingsFor(key), b.idle, b.notifier)
	e, _ = b.cache.SetIfAbsent(key, e)
	return e
}

// otterLogger sends the registry's rare complaints (a panic during its
// maintenance) to the configured logger, or nowhere.
type otterLogger struct{ l *slog.Logger }

func (o otterLogger) Warn(ctx context.Context, msg string, err error) {
	if o.l != nil {
		o.l.WarnContext(ctx, "breaker: registry: "+msg, "error", err)
	}
}

func (o otterLogger) Error(ctx context.Context, msg string, err error) {
	if o.l != nil {
		o.l.ErrorContext(ctx, "breaker: registry: "+msg, "error", err)
	}
}
