package breaker

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mcphub/apigateway/internal/problem"
)

// ErrOpen is wrapped by every [*OpenError]: a request refused because its
// deployment's breaker is open.
var ErrOpen = errors.New("breaker: circuit open")

// An OpenError reports a request refused, without contacting the upstream,
// because the breaker for Key is open, or half-open with all its trial
// requests under way.
type OpenError struct {
	// Key is the breaker's key, normally the deployment's id.
	Key string
	// RetryAfter is how long the breaker stays open: zero when it is
	// half-open, or its delay is just over.
	RetryAfter time.Duration
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("breaker: circuit open for %q, retry after %v",
		e.Key, e.RetryAfter.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrOpen) true.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// problemOpen is the answer to a request refused by an open breaker.
var problemOpen = problem.Problem{Type: problem.TypeBase + "circuit-open",
	Title: "Deployment paused after failures", Status: http.StatusServiceUnavailable}

// WriteError answers an error that wraps [ErrOpen] with a 503 RFC 9457
// problem response whose Retry-After is the error's RetryAfter in seconds,
// rounded up and at least 1. Any other error gets a 502 problem, as an
// upstream that could not be reached. The body never names the key or an
// upstream address.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, ErrOpen) {
		problem.Write(w, r, problem.BadGateway.With(
			"The deployment could not be reached or sent an invalid response."))
		return
	}
	p := problemOpen.With("The deployment has been failing, so requests to it are paused; " +
		"retry after the delay in Retry-After.")
	p.RetryAfter = time.Second
	var open *OpenError
	if errors.As(err, &open) {
		p.RetryAfter = max(open.RetryAfter, time.Second)
	}
	problem.Write(w, r, p)
}
