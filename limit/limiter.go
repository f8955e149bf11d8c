package limit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Config configures a [Limiter]. The zero value works: in-memory counters,
// the default rates below, fail-closed, both header sets.
type Config struct {
	// Store keeps the counters. Nil means counters in this process: two
	// [MemoryStore]s with their defaults, one for client addresses and one
	// for users and deployments, so that a flood of addresses cannot crowd
	// out users. Use [NewRedisStore] to share counters between replicas.
	Store LimitStore

	// PerUser is the rate of each user's counter, which counts the user's
	// requests to all their deployments. Zero means 1200 per minute.
	PerUser Rate

	// PerDeployment is the rate of each deployment's counter, which counts
	// the requests of all callers to it. Zero means 600 per minute.
	PerDeployment Rate

	// PerClientIP is the rate of each client address's counter, used by
	// [Limiter.ClientIPHandler] only. Zero means 1200 per minute.
	PerClientIP Rate

	// UserRate, when set, is asked for each request's user and may return
	// a rate that replaces PerUser for that user, [Unlimited] included. It
	// is called on every request, so it should answer from memory. A rate
	// with a Limit of zero or more and no Period is ignored. Nil means
	// PerUser for everyone.
	UserRate func(ctx context.Context, userID string) (Rate, bool)

	// DeploymentRate is UserRate's counterpart for deployments. Nil means
	// PerDeployment for every deployment.
	DeploymentRate func(ctx context.Context, deploymentID string) (Rate, bool)

	// ToolRate, when set, is asked for each MCP tools/call request (one
	// whose Subject names a Tool) and may return a rate for a third
	// counter, one per deployment and tool, shared by all callers of that
	// tool on that deployment and taken after the other two. Tool names
	// come from clients, so return false for tools the deployment does not
	// limit: only tools given a rate get a counter. It is called on every
	// such request, so it should answer from memory. A request whose
	// Subject names no Tool is not counted here: behind the gateway, that
	// includes a tools/call without an Mcp-Name header whose JSON body does
	// not end within its first 16 KiB (large arguments, or padding), since
	// no more of the body is read for it (see gateway.Config.Limits). Nil
	// means no tool counters.
	ToolRate func(ctx context.Context, deploymentID, tool string) (Rate, bool)

	// TrustedProxies lists the networks of the proxies in front of the
	// gateway. [Limiter.ClientIPHandler] believes X-Forwarded-For only on a
	// connection from one of them. Empty means X-Forwarded-For is never
	// read and the client is whoever connected.
	TrustedProxies []netip.Prefix

	// FailOpen selects what happens when the store cannot count a request
	// (an error, or no answer within StoreTimeout). False, the default,
	// fails closed: the request is answered 503 with Retry-After, so a
	// store outage never silently lifts the limits. True passes the request
	// on, with no rate-limit headers from the handler that could not count
	// it. Either way OnDecision is told.
	FailOpen bool

	// StoreTimeout bounds the store calls each handler makes for one
	// request, together: a slow or hung store adds at most this much
	// latency to a request per handler it passes. Zero means 100ms.
	StoreTimeout time.Duration

	// Headers selects the rate-limit headers sent. Zero means [HeadersAll].
	Headers HeaderSet

	// OnDecision, when set, is called for every counter a request is
	// checked against, with the request's context, so that metrics and
	// logs can count them: once per counter even when a [BatchStore] takes
	// several in one call, and not for the counters after one that
	// refused; a store error is reported once, against the first counter
	// the store is not known to have taken. It runs in the request path
	// and must not block. Nil means no one is told.
	OnDecision func(ctx context.Context, d Decision)

	// ErrorHandler answers refused requests. err is an [*ExceededError]
	// (the rate-limit headers and nothing else are already set) or wraps
	// [ErrStoreUnavailable]. Nil means [WriteError].
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// Scope names the kind of a counter.
type Scope string

// The scopes of counters. They are also the policy names of the
// RateLimit-Policy and RateLimit headers.
const (
	ScopeUser       Scope = "user"
	ScopeDeployment Scope = "deployment"
	ScopeIP         Scope = "ip"
	ScopeTool       Scope = "tool"
)

func (s Scope) label() string {
	switch s {
	case ScopeUser:
		return "per-user"
	case ScopeDeployment:
		return "per-deployment"
	case ScopeIP:
		return "per-client-address"
	case ScopeTool:
		return "per-tool"
	}
	return string(s)
}

// Outcome is what the check of a counter decided.
type Outcome string

// The outcomes of a check.
const (
	OutcomeAllowed Outcome = "allowed"
	OutcomeLimited Outcome = "limited"
	OutcomeError   Outcome = "error"
)

// A Decision describes the check of one counter, for Config.OnDecision.
type Decision struct {
	Scope Scope

	// Key is the counter's key: "u:" and the user id, "d:" and the
	// deployment id, "t:" and the deployment id, a colon and the tool, or
	// "ip:" and the client's address (IPv4) or /64 (IPv6).
	Key string

	// Rate is the rate the counter was checked against.
	Rate Rate

	Outcome Outcome

	// Result is the counter's state; zero when Outcome is OutcomeError.
	Result Result

	// Err is the store's error when Outcome is OutcomeError. Whether the
	// request then passed depends on Config.FailOpen.
	Err error
}

// A Limiter enforces per-user, per-deployment and per-client-address rate
// limits. It is safe for concurrent use.
type Limiter struct {
	store          LimitStore
	ipStore        LimitStore
	user           Rate
	deployment     Rate
	ip             Rate
	userRate       func(ctx context.Context, userID string) (Rate, bool)
	deploymentRate func(ctx context.Context, deploymentID string) (Rate, bool)
	toolRate       func(ctx context.Context, deploymentID, tool string) (Rate, bool)
	trusted        []netip.Prefix
	failOpen       bool
	timeout        time.Duration
	headers        HeaderSet
	onDecision     func(ctx context.Context, d Decision)
	errorHandler   func(w http.ResponseWriter, r *http.Request, err error)
}

// New returns a Limiter for cfg, or an error if a field is invalid.
func New(cfg Config) (*Limiter, error) {
	l := &Limiter{
		store:          cfg.Store,
		userRate:       cfg.UserRate,
		deploymentRate: cfg.DeploymentRate,
		toolRate:       cfg.ToolRate,
		failOpen:       cfg.FailOpen,
		timeout:        cfg.StoreTimeout,
		headers:        cfg.Headers,
		onDecision:     cfg.OnDecision,
		errorHandler:   cfg.ErrorHandler,
	}
	var errs [3]error
	l.user, errs[0] = rateOrDefault("PerUser", cfg.PerUser, defaultUserRate)
	l.deployment, errs[1] = rateOrDefault("PerDeployment", cfg.PerDeployment, defaultDeploymentRate)
	l.ip, errs[2] = rateOrDefault("PerClientIP", cfg.PerClientIP, defaultClientIPRate)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	for _, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			return nil, errors.New("limit: Config.TrustedProxies holds an invalid prefix")
		}
		l.trusted = append(l.trusted, p.Masked())
	}
	if l.timeout < 0 {
		return nil, errors.New("limit: Config.StoreTimeout is negative")
	}
	if l.timeout == 0 {
		l.timeout = 100 * time.Millisecond
	}
	if l.headers < HeadersAll || l.headers > HeadersNone {
		return nil, fmt.Errorf("limit: Config.Headers has unknown value %d", l.headers)
	}
	l.ipStore = l.store
	if l.store == nil {
		l.store = NewMemoryStore(MemoryConfig{})
		l.ipStore = NewMemoryStore(MemoryConfig{})
	}
	if l.errorHandler == nil {
		l.errorHandler = WriteError
	}
	return l, nil
}

// The rates of a zero Config.
var (
	defaultUserRate       = Rate{Limit: 1200, Period: time.Minute}
	defaultDeploymentRate = Rate{Limit: 600, Period: time.Minute}
	defaultClientIPRate   = Rate{Limit: 1200, Period: time.Minute}
)

func rateOrDefault(field string, r, def Rate) (Rate, error) {
	if r == (Rate{}) {
		return def, nil
	}
	if !r.valid() {
		return Rate{}, fmt.Errorf("limit: Config.%s has no positive period", field)
	}
	return r, nil
}

// Handler returns a handler that counts each request against its user's
// and its deployment's counters, taken from the [Subject] in the request
// context, before passing it to next. It belongs after authentication and
// the ownership check, which set the Subject (see [NewContext]); a request
// without one, or with empty ids, is not counted.
//
// The user's counter is taken first, and a request it refuses is not
// counted against the deployment, so a caller over their own limit cannot
// use up a deployment's budget. A request the deployment's counter refuses
// has been counted against the user. An MCP tools/call request whose tool
// Config.ToolRate limits is then counted against that tool's counter.
//
// A refused request gets a 429 and never reaches next. A request that
// passes carries the rate-limit headers of the counter closest to refusing,
// this handler's or [Limiter.ClientIPHandler]'s.
func (l *Limiter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		subject, _ := FromContext(r.Context())
		if l.Check(w, r, subject) {
			next.ServeHTTP(w, r)
		}
	})
}

// Check counts r against the counters of s, as [Limiter.Handler] does with
// the Subject in r's context, for a handler that limits as one of its own
// steps. It reports whether r may go on, with the rate-limit headers set;
// when it may not, Check has answered r.
func (l *Limiter) Check(w http.ResponseWriter, r *http.Request, s Subject) bool {
	ctx := r.Context()
	var checks [3]check
	n := 0
	if s.UserID != "" {
		rate := rateFor(ctx, l.userRate, s.UserID, l.user)
		if !rate.IsUnlimited() {
			checks[n] = check{scope: ScopeUser, rate: rate}
			n++
		}
	}
	if s.DeploymentID != "" {
		rate := rateFor(ctx, l.deploymentRate, s.DeploymentID, l.deployment)
		if !rate.IsUnlimited() {
			checks[n] = check{scope: ScopeDeployment, rate: rate}
			n++
		}
		if s.Tool != "" && l.toolRate != nil {
			if rate, ok := l.toolRate(ctx, s.DeploymentID, s.Tool); ok && rate.valid() && !rate.IsUnlimited() {
				checks[n] = check{scope: ScopeTool, rate: rate}
				n++
			}
		}
	}
	setKeys(checks[:n], s)

	tightest, ok := l.take(w, r, l.store, checks[:n])
	if !ok {
		return false
	}

	if earlier, found := ctx.Value(ipCountKey{}).(count); found && tightest.looserThan(earlier) {
		tightest = earlier
	}
	if tightest.scope != "" {
		setHeaders(w.Header(), l.headers, tightest.scope, tightest.rate, tightest.res,
			secondsUntil(tightest.res.Reset, time.Now()))
	}
	return true
}

func rateFor(ctx context.Context, override func(context.Context, string) (Rate, bool),
	id string, def Rate) Rate {
	if override != nil {
		if r, ok := override(ctx, id); ok && r.valid() {
			return r
		}
	}
	return def
}

// setKeys names the counter of each check: "u:" and the user's id, "d:"
// and the deployment's, "t:", the deployment's, ":" and the tool's; for a
// deployment id that holds a colon, "t", its length, ":", the id, ":" and
// the tool's, so that a tool key is never ambiguous. The keys are
// cut from one string, one allocation per request rather than one per
// counter; stores that keep a key copy it (see [MemoryStore.Take]).
func setKeys(checks []check, s Subject) {
	if len(checks) == 0 {
		return
	}
	var b strings.Builder
	b.Grow(len(checks)*2 + len(s.UserID) + 2*len(s.DeploymentID) + 1 + len(s.Tool))
	var ends [3]int // Check makes at most one check per scope
	for i, c := range checks {
		switch c.scope {
		case ScopeUser:
			b.WriteString("u:")
			b.WriteString(s.UserID)
		case ScopeDeployment:
			b.WriteString("d:")
			b.WriteString(s.DeploymentID)
		case ScopeTool:
			if strings.IndexByte(s.DeploymentID, ':') >= 0 {
				// Only callers of the public API can get here (the gateway's
				// ids hold no colon): the deployment id's length tells where
				// it ends, so "a:b" and tool "c" is not "a" and tool "b:c".
				// A digit after "t" cannot start any other key.
				b.WriteByte('t')
				b.WriteString(strconv.Itoa(len(s.DeploymentID)))
				b.WriteByte(':')
			} else {
				b.WriteString("t:")
			}
			b.WriteString(s.DeploymentID)
			b.WriteByte(':')
			b.WriteString(s.Tool)
		}
		ends[i] = b.Len()
	}
	all, start := b.String(), 0
	for i := range checks {
		checks[i].key = all[start:ends[i]]
		start = ends[i]
	}
}

// A check is one counter a request must pass.
type check struct {
	scope Scope
	key   string
	rate  Rate
}

// A count is the state of a counter a request passed.
type count struct {
	scope Scope
	rate  Rate
	res   Result
}

// looserThan reports whether other is closer to refusing than c: fewer
// requests remain, or as many for longer. The zero count is the loosest.
func (c count) looserThan(other count) bool {
	if c.scope == "" {
		return true
	}
	if other.res.Remaining != c.res.Remaining {
		return other.res.Remaining < c.res.Remaining
	}
	return other.res.Reset.After(c.res.Reset)
}

// take runs checks in order under one deadline and reports whether the
// request may go on, and the state of the tightest counter it passed; the
// zero count when there is none to report. When the request may not go on,
// take has answered it. A [BatchStore] takes all the checks in one call.
func (l *Limiter) take(w http.ResponseWriter, r *http.Request, store LimitStore,
	checks []check) (count, bool) {
	if len(checks) == 0 {
		return count{}, true
	}
	ctx := r.Context()
	if _, inMemory := store.(*MemoryStore); !inMemory {
		// A MemoryStore never blocks, and ignores ctx; a deadline would
		// only cost its timer.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.timeout)
		defer cancel()
	}
	if batch, ok := store.(BatchStore); ok && len(checks) > 1 {
		return l.takeAll(ctx, w, r, batch, checks)
	}

	var tightest count
	for _, c := range checks {
		res, err := store.Take(ctx, c.key, c.rate)
		if err != nil {
			return l.failed(w, r, c, err)
		}
		if !l.passed(w, r, c, res, &tightest) {
			return count{}, false
		}
	}
	return tightest, true
}

// errBatchContract is the error a Limiter reports for a [BatchStore] whose
// results break the interface's contract.
var errBatchContract = errors.New("limit: store's TakeAll broke the BatchStore contract")

// takeAll is take with one call of store, which OnDecision hears of as
// one decision per counter the store took.
func (l *Limiter) takeAll(ctx context.Context, w http.ResponseWriter, r *http.Request,
	store BatchStore, checks []check) (count, bool) {
	var buf [3]Counter // Check makes at most one check per scope
	counters := buf[:0]
	for _, c := range checks {
		counters = append(counters, Counter{Key: c.key, Rate: c.rate})
	}
	results, err := store.TakeAll(ctx, counters)
	if !batchKept(results, err, len(checks)) {
		results, err = nil, errBatchContract
	}

	var tightest count
	for i, res := range results {
		if !l.passed(w, r, checks[i], res, &tightest) {
			return count{}, false
		}
	}
	if err != nil {
		return l.failed(w, r, checks[len(results)], err)
	}
	return tightest, true
}

// batchKept reports whether the answer of [BatchStore.TakeAll] for n
// counters keeps the interface's contract: one result per counter, or
// fewer ending with a refusal; fewer than n and all allowed on an error.
func batchKept(results []Result, err error, n int) bool {
	if len(results) > n {
		return false
	}
	if err != nil {
		for _, res := range results {
			if !res.Allowed {
				return false
			}
		}
		return len(results) < n
	}
	return len(results) == n || len(results) > 0 && !results[len(results)-1].Allowed
}

// failed applies the store-failure policy to a request whose check c
// the store could not count.
func (l *Limiter) failed(w http.ResponseWriter, r *http.Request, c check, err error) (count, bool) {
	l.decide(r, c, OutcomeError, Result{}, err)
	if l.failOpen {
		// Without every count, headers would mislead.
		return count{}, true
	}
	l.errorHandler(w, r, fmt.Errorf("%w: %w", ErrStoreUnavailable, err))
	return count{}, false
}

// passed records the result of check c and reports whether the request
// passed it, keeping in tightest the counter closest to refusing. When it
// did not, passed has answered the request with a 429.
func (l *Limiter) passed(w http.ResponseWriter, r *http.Request, c check, res Result,
	tightest *count) bool {
	if !res.Allowed {
		l.decide(r, c, OutcomeLimited, res, nil)
		wait := max(secondsUntil(res.Reset, time.Now()), 1)
		setHeaders(w.Header(), l.headers, c.scope, c.rate, res, wait)
		l.errorHandler(w, r, &ExceededError{Scope: c.scope, Rate: c.rate, Result: res,
			RetryAfter: time.Duration(wait) * time.Second})
		return false
	}
	l.decide(r, c, OutcomeAllowed, res, nil)
	if cur := (count{c.scope, c.rate, res}); tightest.looserThan(cur) {
		*tightest = cur
	}
	return true
}

func (l *Limiter) decide(r *http.Request, c check, o Outcome, res Result, err error) {
	if l.onDecision != nil {
		l.onDecision(r.Context(), Decision{Scope: c.scope, Key: c.key, Rate: c.rate, Outcome: o,
			Result: res, Err: err})
	}
}
