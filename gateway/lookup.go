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

// A resolved deployment is a store answer made ready for the request path:
// the upstream URL parsed once, not per request.
type resolved struct {
	Deployment
	upstream *url.URL
	origins  originSet
	found    bool
}

// lookup is the bounded, expiring cache in front of a DeploymentStore.
// Concurrent misses for one id share a single store call.
type lookup struct {
	store   DeploymentStore
	timeout time.Duration
	cache   *otter.Cache[string, resolved] // nil when caching is off
	load    otter.LoaderFunc[string, resolved]
}

func newLookup(store DeploymentStore, size int, ttl, timeout time.Duration) (*lookup, error) {
	l := &lookup{store: store, timeout: timeout}
	l.load = l.fetch
	if ttl < 0 {
		return l, nil
	}
	cache, err := otter.New(&otter.Options[string, resolved]{
		MaximumSize: size,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, resolved]) time.Duration {
			if !e.Value.found {
				return min(ttl, notFoundTTL)
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

	d, err := l.store.Deployment(ctx, id)
	if errors.Is(err, ErrDeploymentNotFound) {
		return resolved{}, nil
	}
	if err != nil {
		return resolved{}, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	if d.ID != id {
		return resolved{}, fmt.Errorf("%w: store answered deployment %q for %q",
			ErrStoreUnavailable, d.ID, id)
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
	return res, nil
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
}
