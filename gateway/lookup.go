package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/maypok86/otter/v2"
)

// notFoundTTL is how long a missing deployment is remembered: long enough
// to absorb a burst of probes, short enough that a deployment that was just
// created is reachable at once.
const notFoundTTL = time.Second

// staleRetry is how long a deployment served from the last verified
// answer, while the store fails, is cached before the store is asked again.
const staleRetry = time.Second

// A resolved deployment is a store answer made ready for the request path:
// the upstream URL parsed once, not per request.
type resolved struct {
	Deployment
	upstream *url.URL
	origins  originSet
	found    bool
	// stale marks the last verified answer, served because the store
	// failed.
	stale bool
}

// lookup is the bounded, expiring cache in front of a DeploymentStore.
// Concurrent misses for one id share a single store call.
type lookup struct {
	store   DeploymentStore
	timeout time.Duration
	cache   *otter.Cache[string, resolved] // nil when caching is off
	load    otter.LoaderFunc[string, resolved]
	// verified keeps each deployment's last answer from the store for
	// the stale-if-error window; nil when the host allows no stale
	// answers.
	verified *otter.Cache[string, resolved]
	// onStale is told when a stale answer is served instead of the
	// store's error.
	onStale func(ctx context.Context, id string, err error)
}

// lookupConfig holds what newLookup takes from the gateway's Config.
type lookupConfig struct {
	size         int
	ttl          time.Duration // negative: no caching
	timeout      time.Duration
	staleIfError time.Duration // zero: no stale answers
	onStale      func(ctx context.Context, id string, err error)
}

func newLookup(store DeploymentStore, cfg lookupConfig) (*lookup, error) {
	l := &lookup{store: store, timeout: cfg.timeout, onStale: cfg.onStale}
	l.load = l.fetch
	if cfg.staleIfError > 0 {
		verified, err := otter.New(&otter.Options[string, resolved]{
			MaximumSize:      cfg.size,
			ExpiryCalculator: otter.ExpiryWriting[string, resolved](cfg.staleIfError),
		})
		if err != nil {
			return nil, fmt.Errorf("gateway: building the stale-if-error cache: %w", err)
		}
		l.verified = verified
	}
	if cfg.ttl < 0 {
		return l, nil
	}
	ttl := cfg.ttl
	cache, err := otter.New(&otter.Options[string, resolved]{
		MaximumSize: cfg.size,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, resolved]) time.Duration {
			switch {
			case !e.Value.found:
				return min(ttl, notFoundTTL)
			case e.Value.stale:
				return min(ttl, staleRetry)
			}
			return ttl
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: building deployment cache: %w", err)
	}
	l.cache = cache
	return l, nil
}

// deployment returns the deployment with id; found is false when the store
// does not know it.
func (l *lookup) deployment(ctx context.Context, id string) (resolved, error) {
	if l.cache == nil {
		return l.fetch(ctx, id)
	}
	return l.cache.Get(ctx, id, l.load)
}

// fetch asks the store. The call is detached from the caller's
// cancellation, because other requests may be waiting on the same load,
// and bounded by the lookup timeout instead.
func (l *lookup) fetch(ctx context.Context, id string) (resolved, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()

	d, err := l.ask(ctx, id)
	if errors.Is(err, ErrDeploymentNotFound) {
		if l.verified != nil {
			l.verified.Invalidate(id)
		}
		return resolved{}, nil
	}
	if err == nil && d.ID != id {
		err = fmt.Errorf("store answered deployment %q for %q", d.ID, id)
	}
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
		if last, ok := l.lastVerified(id); ok {
			if l.onStale != nil {
				l.onStale(ctx, id, err)
			}
			return last, nil
		}
		return resolved{}, err
	}
	u, err := url.Parse(d.UpstreamURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return resolved{}, fmt.Errorf("%w: deployment %s has upstream URL %q",
			ErrBadUpstream, id, d.UpstreamURL)
	}
	res := resolved{Deployment: d, upstream: u, found: true}
	for _, o := range d.CORSOrigins {
		res.origins.add(o) // a bad entry is skipped, as documented
	}
	if l.verified != nil {
		l.verified.Set(id, res)
	}
	return res, nil
}

// ask calls the store and waits for its answer until ctx is done, so that
// a store that ignores its context cannot hold requests past the lookup
// timeout; such a call goes on in the background until it returns. A
// panic in the store is raised again in the caller, which the gateway
// answers like any other panic.
func (l *lookup) ask(ctx context.Context, id string) (Deployment, error) {
	type answer struct {
		d        Deployment
		err      error
		panicked any
	}
	done := make(chan answer, 1)
	go func() {
		var a answer
		defer func() {
			if v := recover(); v != nil {
				a.panicked = v
			}
			done <- a
		}()
		a.d, a.err = l.store.Deployment(ctx, id)
	}()
	select {
	case a := <-done:
		if a.panicked != nil {
			panic(a.panicked)
		}
		return a.d, a.err
	case <-ctx.Done():
		return Deployment{}, ctx.Err()
	}
}

// lastVerified returns the store's last answer for id, marked stale, if it
// came within the stale-if-error window.
func (l *lookup) lastVerified(id string) (resolved, bool) {
	if l.verified == nil {
		return resolved{}, false
	}
	last, ok := l.verified.GetIfPresent(id)
	last.stale = true
	return last, ok
}

// cached returns the deployment with id if the cache holds it.
func (l *lookup) cached(id string) (resolved, bool) {
	if l.cache == nil {
		return resolved{}, false
	}
	d, ok := l.cache.GetIfPresent(id)
	return d, ok && d.found
}

func (l *lookup) forget(id string) {
	if l.cache != nil {
		l.cache.Invalidate(id)
	}
	if l.verified != nil {
		l.verified.Invalidate(id)
	}
}
