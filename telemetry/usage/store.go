package usage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"
)

// Event is one finished request, as the gateway's telemetry saw it.
type Event struct {
	// Time is when the request finished. Zero, or a time after now, means
	// now.
	Time time.Time

	// UserID and DeploymentID name the signed-in user and the deployment
	// the request was for. An event without either is ignored, so that
	// only authenticated and authorized requests are counted, as is one
	// with an id over 128 bytes.
	UserID       string
	DeploymentID string

	// Route is the route template the request matched, and Country the
	// country of its client. Empty means unknown: the request is not
	// counted in [Summary].Routes or Countries. Routes are cut to 64 bytes,
	// countries to 16.
	Route   string
	Country string

	// ClientIP is the client's address. The store keeps only a keyed hash
	// of it in a distinct-count sketch, and never returns it. Empty means
	// unknown.
	ClientIP string

	// Status is the response's status code.
	Status int

	// BytesIn and BytesOut are the sizes of the request and response
	// bodies.
	BytesIn, BytesOut int64

	// Duration is how long the request took. Zero means not measured: the
	// request is not counted in [Summary].Latency.
	Duration time.Duration
}

// Store is an in-process, bounded store of the recent usage of each user
// and each deployment. Build it with [New]; it is safe for concurrent use.
//
// It tracks at most Config.MaxUsers users and Config.MaxDeployments
// deployments; beyond them, it drops those unlikely to be used again,
// least often and least recently active first, and their history with
// them. Each replica of a gateway has its own store, which counts the
// requests that replica served.
type Store struct {
	st          settings
	key         hashKey
	users       *otter.Cache[string, *entity]
	deployments *otter.Cache[string, *entity]
}

// New returns an empty Store configured by cfg. It fails when cfg holds a
// negative number, a Bucket under one second, or Buckets or MaxKeys over
// their bounds.
func New(cfg Config) (*Store, error) {
	st, err := cfg.resolve()
	if err != nil {
		return nil, err
	}

	s := &Store{st: st, key: newHashKey()}
	if s.users, err = newCache(st.maxUsers); err != nil {
		return nil, err
	}
	if s.deployments, err = newCache(st.maxDeployments); err != nil {
		return nil, err
	}
	return s, nil
}

// newCache returns a cache of at most size entities.
func newCache(size int) (*otter.Cache[string, *entity], error) {
	c, err := otter.New(&otter.Options[string, *entity]{
		MaximumSize: size,
		Logger:      quiet{},
	})
	if err != nil {
		return nil, fmt.Errorf("usage: building the cache: %w", err)
	}
	return c, nil
}

// Record counts e for its user and its deployment. It is meant to be
// called once per finished request: it takes two short locks, of the user
// and of the deployment, and does not allocate unless a user, deployment,
// bucket, span or key is new.
func (s *Store) Record(e Event) {
	if !validID(e.UserID) || !validID(e.DeploymentID) {
		return
	}
	now := s.st.now()
	t := e.Time
	if t.IsZero() || t.After(now) {
		t = now
	}
	b := floorDiv(t.UnixNano(), s.st.bucket)
	if b <= floorDiv(now.UnixNano(), s.st.bucket)-s.st.buckets {
		return // before the window
	}

	o := observation{
		bucket:   b,
		status:   e.Status,
		bytesIn:  uint64(max(e.BytesIn, 0)),
		bytesOut: uint64(max(e.BytesOut, 0)),
		latency:  max(e.Duration, 0),
		route:    truncate(e.Route, maxRouteLength),
		country:  truncate(e.Country, maxCountryLength),
	}
	if o.route != "" {
		o.routeSum = keySum(o.route)
	}
	if o.country != "" {
		o.countrySum = keySum(o.country)
	}
	if e.ClientIP != "" {
		o.client, o.hasClient = s.key.hash(e.ClientIP), true
	}
	s.entity(s.users, e.UserID).record(&o, "", &s.st)
	s.entity(s.deployments, e.DeploymentID).record(&o, e.UserID, &s.st)
}

// entity returns id's entity in c, creating it on first use.
func (s *Store) entity(c *otter.Cache[string, *entity], id string) *entity {
	if e, ok := c.GetIfPresent(id); ok {
		return e
	}
	// When two requests race, one entity wins before either counted.
	e, _ := c.SetIfAbsent(strings.Clone(id), newEntity(&s.st))
	return e
}

// User returns the recent usage of user id, all deployments together,
// and whether any request of id finished in the window. Without any, the
// Summary holds the window and a series of zeros.
func (s *Store) User(id string) (Summary, bool) {
	return s.summary(s.users, id)
}

// Deployment returns the recent usage of deployment id, and whether any
// request for id finished in the window. Without any, the Summary holds
// the window and a series of zeros. It does not check who owns id: the
// caller shows a user only the summaries of their own deployments.
func (s *Store) Deployment(id string) (Summary, bool) {
	return s.summary(s.deployments, id)
}

// summary returns the summary of id in c.
func (s *Store) summary(c *otter.Cache[string, *entity], id string) (Summary, bool) {
	cur := s.currentBucket()
	e, ok := c.GetEntryQuietly(id)
	if !ok {
		var none entity
		return none.summary(id, cur, &s.st), false
	}
	sum := e.Value.summary(id, cur, &s.st)
	return sum, sum.Requests > 0
}

// UserDeployments returns the recent usage of each deployment of user
// userID with requests in the window, ordered by id; none is an empty
// slice. A deployment is
// userID's when its latest request recorded was by userID. It looks at
// every deployment the store tracks, so it takes time in proportion to
// them: about a millisecond for 10,000.
func (s *Store) UserDeployments(userID string) []Summary {
	cur := s.currentBucket()
	out := []Summary{} // encodes as [], not null
	for id, e := range s.deployments.All() {
		if !e.ownedBy(userID) {
			continue
		}
		if sum := e.summary(id, cur, &s.st); sum.Requests > 0 {
			out = append(out, sum)
		}
	}
	slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Len returns the number of users and deployments the store tracks.
func (s *Store) Len() (users, deployments int) {
	s.users.CleanUp()
	s.deployments.CleanUp()
	return s.users.EstimatedSize(), s.deployments.EstimatedSize()
}

// currentBucket returns the number of the bucket now falls in.
func (s *Store) currentBucket() int64 {
	return floorDiv(s.st.now().UnixNano(), s.st.bucket)
}

// validID reports whether id may name a user or a deployment.
func validID(id string) bool {
	return id != "" && len(id) <= maxIDLength
}

// quiet drops the rare complaints of the cache: it runs none of the
// package's code in its maintenance that could panic.
type quiet struct{}

func (quiet) Warn(context.Context, string, error)  {}
func (quiet) Error(context.Context, string, error) {}
