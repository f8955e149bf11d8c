package breaker

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"
)

// Settings are the thresholds and delays of one deployment's breaker. A
// breaker trips on whichever of its two rules fires first: the failure
// ratio over a rolling window, or a run of consecutive failures.
type Settings struct {
	// FailureRatio trips the breaker when at least this fraction of the
	// requests counted in the last Window failed, once MinRequests were
	// counted there. It is at most 1. Zero means 0.5; a negative value
	// turns the ratio rule off.
	FailureRatio float64

	// MinRequests is how many requests the last Window must hold before
	// FailureRatio applies. Zero means 10.
	MinRequests int

	// Window is the rolling period FailureRatio looks at, at least 10ms; it
	// moves in steps of a tenth of its length. Zero means 30s.
	Window time.Duration

	// ConsecutiveFailures trips the breaker after this many failures in a
	// row, whatever the ratio; at most 10,000. Zero means 5; a negative
	// value turns the rule off.
	ConsecutiveFailures int

	// OpenDelay is how long a tripped breaker refuses requests before it
	// lets trial requests through. Zero means 30s.
	OpenDelay time.Duration

	// HalfOpenRequests is how many trial requests a half-open breaker lets
	// through at a time; at most 10,000. The breaker closes once that many
	// have succeeded and reopens at the first failure. Zero means 1.
	HalfOpenRequests int
}

// The package defaults of [Settings] and [Config].
const (
	defaultFailureRatio        = 0.5
	defaultMinRequests         = 10
	defaultWindow              = 30 * time.Second
	defaultConsecutiveFailures = 5
	defaultOpenDelay           = 30 * time.Second
	defaultHalfOpenRequests    = 1
	defaultMaxBreakers         = 10_000
	defaultIdleTimeout         = 5 * time.Minute

	// maxCount bounds the counts that size a breaker's memory.
	maxCount = 10_000
	// minWindow keeps the window's tenths from rounding to nothing.
	minWindow = 10 * time.Millisecond
)

// Config configures [Breakers]. The zero value works.
type Config struct {
	// Default holds the settings of every deployment's breaker. Zero fields
	// mean the package defaults given in [Settings].
	Default Settings

	// For returns the settings of the breaker for key, with ok false when
	// key has none of its own. Zero fields of the result take their value
	// from Default. It is called when a key's breaker is created, so new
	// settings take effect after [Breakers.Reset]. Settings that New would
	// refuse are replaced by Default and reported to Logger. Nil means
	// Default for every key.
	For func(key string) (s Settings, ok bool)

	// Key names the breaker guarding an upstream request, with ok false
	// when none guards it. It is called on every request the
	// [Breakers.RoundTripper] sends, so it should answer from the request
	// itself, as from a value its context already carries. Nil means
	// [FromContext]: the key stored with [NewContext].
	Key func(r *http.Request) (key string, ok bool)

	// IsFailure reports whether an upstream's answer counts as a failure:
	// resp and err are what the wrapped transport returned. It is not
	// consulted, and nothing counts, when the transport failed because the
	// request's context was canceled or its body could not be read. Nil
	// means [DefaultIsFailure].
	IsFailure func(resp *http.Response, err error) bool

	// MaxBreakers bounds how many breakers are kept; past it, the ones least
	// likely to be used again are dropped. Zero means 10,000.
	MaxBreakers int

	// IdleTimeout drops a breaker that no request used for this long, but
	// never sooner than its Window and OpenDelay. A dropped breaker is
	// created again, closed, by the next request for its key. Zero means
	// 5 minutes.
	IdleTimeout time.Duration

	// OnStateChange, when set, is told each time a key's breaker changes
	// state, and when a breaker that is not closed is reset or dropped (a
	// change to [Closed]: the next breaker for the key starts closed). For
	// each key the changes arrive in order, each from the state the
	// previous one went to. Calls never overlap. They run on the goroutine
	// of the request or Reset that caused the change (a breaker dropped by
	// the registry is reported from a goroutine of its own), so they must
	// be quick; they may call methods of the Breakers. Nil means no calls.
	OnStateChange func(key string, from, to State)

	// Logger receives a warning when For returns settings that are not
	// valid. Nil means silent.
	Logger *slog.Logger
}

// resolve returns s with its zero fields taken from base.
func (s Settings) resolve(base Settings) Settings {
	if s.FailureRatio == 0 {
		s.FailureRatio = base.FailureRatio
	}
	if s.MinRequests == 0 {
		s.MinRequests = base.MinRequests
	}
	if s.Window == 0 {
		s.Window = base.Window
	}
	if s.ConsecutiveFailures == 0 {
		s.ConsecutiveFailures = base.ConsecutiveFailures
	}
	if s.OpenDelay == 0 {
		s.OpenDelay = base.OpenDelay
	}
	if s.HalfOpenRequests == 0 {
		s.HalfOpenRequests = base.HalfOpenRequests
	}
	return s
}

// packageDefaults are the settings a zero Config gives every breaker.
var packageDefaults = Settings{
	FailureRatio:        defaultFailureRatio,
	MinRequests:         defaultMinRequests,
	Window:              defaultWindow,
	ConsecutiveFailures: defaultConsecutiveFailures,
	OpenDelay:           defaultOpenDelay,
	HalfOpenRequests:    defaultHalfOpenRequests,
}

// ratioOn and consecutiveOn report which trip rules s uses.
func (s Settings) ratioOn() bool       { return s.FailureRatio > 0 }
func (s Settings) consecutiveOn() bool { return s.ConsecutiveFailures > 0 }

// validate reports what is wrong with resolved settings, if anything.
func (s Settings) validate() error {
	switch {
	case math.IsNaN(s.FailureRatio) || s.FailureRatio > 1:
		return fmt.Errorf("FailureRatio %v is not at most 1", s.FailureRatio)
	case !s.ratioOn() && !s.consecutiveOn():
		return errors.New("both FailureRatio and ConsecutiveFailures are off: " +
			"the breaker could never trip")
	case s.MinRequests < 0:
		return fmt.Errorf("MinRequests %d is negative", s.MinRequests)
	case s.Window < minWindow:
		return fmt.Errorf("window %v is under %v", s.Window, minWindow)
	case s.ConsecutiveFailures > maxCount:
		return fmt.Errorf("ConsecutiveFailures %d is over %d", s.ConsecutiveFailures, maxCount)
	case s.OpenDelay < 0:
		return fmt.Errorf("OpenDelay %v is negative", s.OpenDelay)
	case s.HalfOpenRequests < 0 || s.HalfOpenRequests > maxCount:
		return fmt.Errorf("HalfOpenRequests %d is not between 0 and %d",
			s.HalfOpenRequests, maxCount)
	}
	return nil
}

// settingsFor returns the resolved settings of key's breaker.
func (b *Breakers) settingsFor(key string) Settings {
	if b.forKey == nil {
		return b.base
	}
	s, ok := b.forKey(key)
	if !ok {
		return b.base
	}
	s = s.resolve(b.base)
	if err := s.validate(); err != nil {
		if b.logger != nil {
			b.logger.Warn("breaker: invalid settings for a deployment; using the defaults",
				"key", key, "error", err)
		}
		return b.base
	}
	return s
}

// DefaultIsFailure is the failure rule used when Config.IsFailure is nil:
// any error from the transport (refused connections, resets, timeouts,
// invalid responses) and the statuses 502, 503 and 504 count as failures.
// Every other status counts as a success, 500 included: a deployment that
// answers 500 to some requests is up, and may be failing only for them.
func DefaultIsFailure(resp *http.Response, err error) bool {
	if err != nil || resp == nil {
		return true
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
