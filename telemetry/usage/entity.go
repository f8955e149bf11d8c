package usage

import (
	"strings"
	"sync"
	"time"
)

// entity holds the recent usage of one user or one deployment. Totals are
// kept per bucket, in points; the details (latency, clients, routes,
// countries) per span of settings.spanLength buckets, which keeps their
// memory to a few spans per window whatever the number of buckets.
type entity struct {
	mu     sync.Mutex
	owner  string // of a deployment: the user of its latest event
	newest int64  // the latest bucket counted
	points []point
	spans  []*span // a ring indexed by span number
	routes keySet
	places keySet // countries
}

// point holds the totals of one bucket.
type point struct {
	bucket            int64 // buckets since the Unix epoch
	requests          uint32
	errors4xx         uint32
	errors5xx         uint32
	bytesIn, bytesOut uint64
}

// span holds the details of settings.spanLength buckets.
type span struct {
	num               int64 // spans since the Unix epoch
	latency           histogram
	shortest, longest time.Duration // 0 while latency is empty
	clients           sketch
	routes            []uint32 // by slot of entity.routes
	places            []uint32 // by slot of entity.places
	otherRoutes       uint32
	otherPlaces       uint32
}

// observation is what one [Event] adds to an entity, worked out once for
// both the user and the deployment.
type observation struct {
	bucket            int64
	status            int
	bytesIn, bytesOut uint64
	latency           time.Duration // 0 when not measured
	client            uint64        // the client's hash
	hasClient         bool
	route, country    string
	routeSum          uint32 // keySum(route)
	countrySum        uint32
}

// newEntity returns an empty entity.
func newEntity(st *settings) *entity {
	return &entity{spans: make([]*span, st.spans)}
}

// record adds o to e; owner is the user of a deployment's event, or "".
func (e *entity) record(o *observation, owner string, st *settings) {
	e.mu.Lock()
	defer e.mu.Unlock()

	if owner != "" && owner != e.owner {
		e.owner = strings.Clone(owner)
	}
	p := e.point(o.bucket, st)
	if p == nil {
		return // older than the entity's window
	}
	p.add(o)
	if sp := e.span(floorDiv(o.bucket, st.spanLength)); sp != nil {
		sp.add(o)
		e.countKeys(sp, o, st)
	}
}

// add counts o in the totals of p.
func (p *point) add(o *observation) {
	p.requests = addSaturating(p.requests, 1)
	switch {
	case o.status >= 400 && o.status <= 499:
		p.errors4xx = addSaturating(p.errors4xx, 1)
	case o.status >= 500 && o.status <= 599:
		p.errors5xx = addSaturating(p.errors5xx, 1)
	}
	p.bytesIn += o.bytesIn
	p.bytesOut += o.bytesOut
}

// add counts the latency and the client of o in sp.
func (sp *span) add(o *observation) {
	if o.latency > 0 {
		bin := latencyBin(o.latency)
		sp.latency[bin] = addSaturating(sp.latency[bin], 1)
		if sp.longest == 0 || o.latency < sp.shortest {
			sp.shortest = o.latency
		}
		sp.longest = max(sp.longest, o.latency)
	}
	if o.hasClient {
		sp.clients.add(o.client)
	}
}

// countKeys counts the route and the country of o in sp, which is one of
// e's.
func (e *entity) countKeys(sp *span, o *observation, st *settings) {
	oldest := e.oldestSpan(st)
	if o.route != "" {
		slot := e.routes.slot(o.route, o.routeSum, sp.num, oldest, st.maxKeys)
		sp.routes, sp.otherRoutes = count(sp.routes, sp.otherRoutes, slot)
	}
	if o.country != "" {
		slot := e.places.slot(o.country, o.countrySum, sp.num, oldest, st.maxKeys)
		sp.places, sp.otherPlaces = count(sp.places, sp.otherPlaces, slot)
	}
}

// point returns the point of bucket b, making room for it, or nil when b
// is older than the window that ends with e's newest bucket.
func (e *entity) point(b int64, st *settings) *point {
	n := len(e.points)
	if n == 0 || b > e.newest {
		e.newest = b
		drop := 0
		for drop < n && e.points[drop].bucket <= b-st.buckets {
			drop++
		}
		e.points = append(e.points[:0], e.points[drop:]...)
		e.grow(int(st.buckets))
		e.points = append(e.points, point{bucket: b})
		return &e.points[len(e.points)-1]
	}
	if b <= e.newest-st.buckets {
		return nil
	}

	// A late event: its bucket is near the end, if it is there at all.
	i := n - 1
	for i >= 0 && e.points[i].bucket > b {
		i--
	}
	if i >= 0 && e.points[i].bucket == b {
		return &e.points[i]
	}
	e.grow(int(st.buckets))
	e.points = e.points[:n+1]
	copy(e.points[i+2:], e.points[i+1:n])
	e.points[i+1] = point{bucket: b}
	return &e.points[i+1]
}

// grow makes room for one more point, doubling the capacity up to limit,
// which the number of points never exceeds.
func (e *entity) grow(limit int) {
	if len(e.points) < cap(e.points) {
		return
	}
	points := make([]point, len(e.points), min(max(2*cap(e.points), 4), limit))
	copy(points, e.points)
	e.points = points
}

// span returns the span numbered num, reusing the one it replaces in the
// ring, or nil when the ring holds a later span in its place. The caller
// has counted num's bucket as a point, so num is within the spans the
// entity keeps.
func (e *entity) span(num int64) *span {
	i := floorMod(num, int64(len(e.spans)))
	sp := e.spans[i]
	switch {
	case sp == nil:
		sp = &span{num: num}
		e.spans[i] = sp
	case sp.num < num:
		*sp = span{num: num, routes: sp.routes[:0], places: sp.places[:0]}
	case sp.num > num:
		return nil
	}
	return sp
}

// oldestSpan returns the number of the oldest span that overlaps the
// window ending with e's newest bucket: the spans e keeps.
func (e *entity) oldestSpan(st *settings) int64 {
	return floorDiv(e.newest-st.buckets+1, st.spanLength)
}

// ownedBy reports whether e is a deployment of user.
func (e *entity) ownedBy(user string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.owner == user
}

// summary returns the usage of e in the window that ends with bucket cur.
func (e *entity) summary(id string, cur int64, st *settings) Summary {
	e.mu.Lock()
	defer e.mu.Unlock()

	first := cur - st.buckets + 1
	s := Summary{
		ID:     id,
		UserID: e.owner,
		Start:  bucketTime(first, st),
		End:    bucketTime(cur+1, st),
	}
	e.totals(&s, first, cur, st)
	// The spans that overlap the window and that e still keeps.
	lo := max(floorDiv(first, st.spanLength), e.oldestSpan(st))
	hi := floorDiv(cur, st.spanLength)
	s.DetailsStart = bucketTime(lo*st.spanLength, st)
	e.details(&s, lo, hi)
	return s
}

// totals fills the totals and the series of s from buckets first to last.
func (e *entity) totals(s *Summary, first, last int64, st *settings) {
	s.Series = make([]Point, last-first+1)
	for i := range s.Series {
		s.Series[i].Start = bucketTime(first+int64(i), st)
	}
	for _, p := range e.points {
		if p.bucket < first || p.bucket > last {
			continue
		}
		pt := &s.Series[p.bucket-first]
		pt.Requests = int64(p.requests)
		pt.Errors4xx = int64(p.errors4xx)
		pt.Errors5xx = int64(p.errors5xx)
		pt.BytesIn = int64(p.bytesIn)
		pt.BytesOut = int64(p.bytesOut)
		s.Requests += pt.Requests
		s.Errors4xx += pt.Errors4xx
		s.Errors5xx += pt.Errors5xx
		s.BytesIn += pt.BytesIn
		s.BytesOut += pt.BytesOut
	}
}

// details fills the details of s from spans lo to hi.
func (e *entity) details(s *Summary, lo, hi int64) {
	var (
		latency        latencyStats
		clients        clientUnion
		routes         = make([]int64, len(e.routes))
		places         = make([]int64, len(e.places))
		otherR, otherP int64
	)
	for _, sp := range e.spans {
		if sp == nil || sp.num < lo || sp.num > hi {
			continue
		}
		latency.add(&sp.latency, sp.shortest, sp.longest)
		clients.add(&sp.clients)
		for slot, n := range sp.routes {
			routes[slot] += int64(n)
		}
		for slot, n := range sp.places {
			places[slot] += int64(n)
		}
		otherR += int64(sp.otherRoutes)
		otherP += int64(sp.otherPlaces)
	}

	s.Latency = Latency{
		P50: latency.percentile(0.50),
		P90: latency.percentile(0.90),
		P99: latency.percentile(0.99),
		Max: latency.max,
	}
	s.Clients = clients.count()
	s.Routes = e.routes.top(routes, otherR)
	s.Countries = e.places.top(places, otherP)
}

// bucketTime returns the start of bucket b.
func bucketTime(b int64, st *settings) time.Time {
	return time.Unix(0, b*st.bucket).UTC()
}

// floorDiv returns a/b rounded down; b is positive.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// floorMod returns a modulo b in [0, b); b is positive.
func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
