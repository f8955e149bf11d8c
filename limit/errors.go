package limit

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mcphub/apigateway/internal/problem"
)

// The errors a [Limiter] passes to Config.ErrorHandler.
var (
	// ErrLimited is wrapped by every [*ExceededError].
	ErrLimited = errors.New("limit: rate limit exceeded")

	// ErrStoreUnavailable wraps the error of a [LimitStore] that could not
	// count a request, when the Limiter fails closed.
	ErrStoreUnavailable = errors.New("limit: limit store unavailable")
)

// An ExceededError reports a request refused because a counter is used up.
type ExceededError struct {
	// Scope is the counter that refused the request.
	Scope Scope
	// Rate is the rate the counter was checked against.
	Rate Rate
	// Result is the counter's state.
	Result Result
	// RetryAfter is how long until the counter starts again, in whole
	// seconds and at least one.
	RetryAfter time.Duration
}

func (e *ExceededError) Error() string {
	return fmt.Sprintf("limit: %s rate limit exceeded, retry after %v", e.Scope, e.RetryAfter)
}

// Is makes errors.Is(err, ErrLimited) true.
func (e *ExceededError) Is(target error) bool { return target == ErrLimited }

// The problem types of the package's answers.
var (
	problemLimited = problem.Problem{Type: problem.TypeBase + "rate-limited",
		Title: "Too many requests", Status: http.StatusTooManyRequests}
	problemStoreUnavailable = problem.Problem{Type: problem.TypeBase + "limit-store-unavailable",
		Title: "Rate limiting unavailable", Status: http.StatusServiceUnavailable}
)

// storeRetryAfter is the Retry-After of a 503 for a failed store.
const storeRetryAfter = 5 * time.Second

// WriteError is the default Config.ErrorHandler. It answers an
// [*ExceededError] with a 429 problem response whose detail names the limit
// that was exceeded, and a store failure with a 503; both carry
// Retry-After. The store's error text is never sent.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var exceeded *ExceededError
	if errors.As(err, &exceeded) {
		p := problemLimited.With(fmt.Sprintf("The %s rate limit of %d requests per %s is used up; "+
			"retry after %d seconds.", exceeded.Scope.label(), exceeded.Rate.Limit,
			periodText(exceeded.Rate.Period), int64(exceeded.RetryAfter/time.Second)))
		p.RetryAfter = exceeded.RetryAfter
		problem.Write(w, r, p)
		return
	}
	p := problemStoreUnavailable.With("Rate limits cannot be checked right now; try again shortly.")
	p.RetryAfter = storeRetryAfter
	problem.Write(w, r, p)
}

// periodText names d for a person: "minute", or "1m30s".
func periodText(d time.Duration) string {
	switch d {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	case 24 * time.Hour:
		return "day"
	}
	return d.String()
}
