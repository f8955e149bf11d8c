package usage

import (
	"fmt"
	"time"
)

// Config configures a [Store]. The zero value works: one hour of history in
// one-minute buckets, for up to 10,000 users and 10,000 deployments.
type Config struct {
	// Bucket is the length of one time bucket, the resolution of
	// [Summary].Series; at least one second. Buckets start at multiples of
	// Bucket since the Unix epoch. Zero means one minute.
	Bucket time.Duration

	// Buckets is how many buckets the window of a [Summary] spans, the
	// current one included, so the store keeps Bucket × Buckets of history;
	// at most 1,440. Zero means 60.
	Buckets int

	// MaxUsers bounds how many users the store tracks at a time. Beyond
	// it, users that are neither recently nor often active are dropped
	// first. Zero means 10,000.
	MaxUsers int

	// MaxDeployments bounds how many deployments the store tracks at a
	// time, as MaxUsers bounds users. Zero means 10,000.
	MaxDeployments int

	// MaxKeys bounds how many distinct routes, and how many distinct
	// countries, each user and each deployment tracks at a time; at most
	// 256. Requests for keys beyond it count in [Top].Other. Zero means 32.
	MaxKeys int

	// Now returns the current time. Nil means [time.Now].
	Now func() time.Time
}

// The package defaults of [Config], and the bounds New enforces.
const (
	defaultBucket         = time.Minute
	defaultBuckets        = 60
	defaultMaxUsers       = 10_000
	defaultMaxDeployments = 10_000
	defaultMaxKeys        = 32

	minBucket  = time.Second
	maxBuckets = 1440
	maxKeys    = 256

	// maxIDLength bounds user and deployment ids, as the gateway does.
	maxIDLength = 128
	// maxRouteLength and maxCountryLength bound the keys kept; longer
	// ones are cut. Countries are ISO 3166 codes, or a word for unknown.
	maxRouteLength   = 64
	maxCountryLength = 16
	// spansPerWindow is how many spans the window is cut into for the
	// details (latency, clients, routes, countries) at most.
	spansPerWindow = 6
)

// settings is a validated Config with its defaults applied.
type settings struct {
	bucket         int64 // nanoseconds
	buckets        int64
	spanLength     int64 // buckets per span
	spans          int   // spans that can overlap one window
	maxKeys        int
	maxUsers       int
	maxDeployments int
	now            func() time.Time
}

// resolve validates cfg and applies its defaults.
func (cfg Config) resolve() (settings, error) {
	if err := cfg.validate(); err != nil {
		return settings{}, err
	}

	s := settings{
		bucket:         int64(orDefault(cfg.Bucket, defaultBucket)),
		buckets:        int64(orDefault(cfg.Buckets, defaultBuckets)),
		maxKeys:        orDefault(cfg.MaxKeys, defaultMaxKeys),
		maxUsers:       orDefault(cfg.MaxUsers, defaultMaxUsers),
		maxDeployments: orDefault(cfg.MaxDeployments, defaultMaxDeployments),
		now:            cfg.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.spanLength = (s.buckets + spansPerWindow - 1) / spansPerWindow
	// A window that starts inside a span overlaps one span more than one
	// that starts at a span's first bucket.
	s.spans = int((s.buckets-1+s.spanLength-1)/s.spanLength) + 1
	return s, nil
}

// validate reports the first field of cfg out of its bounds.
func (cfg Config) validate() error {
	switch {
	case cfg.Bucket < 0 || cfg.Bucket > 0 && cfg.Bucket < minBucket:
		return fmt.Errorf("usage: Config.Bucket %v is under %v", cfg.Bucket, minBucket)
	case cfg.Buckets < 0 || cfg.Buckets > maxBuckets:
		return fmt.Errorf("usage: Config.Buckets %d is not within 0 to %d", cfg.Buckets, maxBuckets)
	case cfg.MaxUsers < 0:
		return fmt.Errorf("usage: Config.MaxUsers %d is negative", cfg.MaxUsers)
	case cfg.MaxDeployments < 0:
		return fmt.Errorf("usage: Config.MaxDeployments %d is negative", cfg.MaxDeployments)
	case cfg.MaxKeys < 0 || cfg.MaxKeys > maxKeys:
		return fmt.Errorf("usage: Config.MaxKeys %d is not within 0 to %d", cfg.MaxKeys, maxKeys)
	}
	return nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}
