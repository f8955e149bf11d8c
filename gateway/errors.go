package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/breaker"
	"github.com/mcphub/apigateway/internal/problem"
	"github.com/mcphub/apigateway/limit"
	"github.com/mcphub/apigateway/proxy"
)

// Errors the gateway passes to Config.ErrorHandler, besides those of the
// auth and proxy packages.
var (
	// ErrMethodNotAllowed refuses TRACE and CONNECT. Answered 405.
	ErrMethodNotAllowed = errors.New("gateway: method not allowed")

	// ErrNotRunning is wrapped by a [*NotRunningError].
	ErrNotRunning = errors.New("gateway: deployment not running")

	// ErrStoreUnavailable wraps every error of a [DeploymentStore] other
	// than [ErrDeploymentNotFound].
	ErrStoreUnavailable = errors.New("gateway: deployment store unavailable")

	// ErrBadUpstream means a deployment's UpstreamURL is not an absolute
	// http or https URL.
	ErrBadUpstream = errors.New("gateway: deployment has an unusable upstream URL")
)

// A NotRunningError reports a deployment that exists and belongs to the
// caller but is not running.
type NotRunningError struct {
	DeploymentID string
	Status       Status
	// RetryAfter is the delay suggested to the client.
	RetryAfter time.Duration
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("gateway: deployment %s is %s", e.DeploymentID, e.Status)
}

// Is makes errors.Is(err, ErrNotRunning) true.
func (e *NotRunningError) Is(target error) bool { return target == ErrNotRunning }

// WriteError is the default Config.ErrorHandler. It answers every error the
// gateway produces with an RFC 9457 problem response whose type is stable:
//
//   - a path that names no deployment, a missing deployment and another
//     user's deployment alike: 404;
//   - TRACE or CONNECT: 405;
//   - missing or invalid credentials: 401 (WWW-Authenticate is set by then);
//   - a cookie-authenticated WebSocket handshake or state-changing request
//     from an origin that is not allowed: 403;
//   - a deployment that is not running: 503 with Retry-After;
//   - a rate limit used up: 429 with Retry-After; the limit store failing
//     (when limits fail closed): 503;
//   - the deployment store or the credential check failing: 503;
//   - an unreachable deployment or an unusable upstream URL: 502;
//   - a deployment whose circuit breaker is open: 503 with Retry-After;
//   - a deployment that does not answer in time: 504;
//   - a request body that cannot be read: 400, or 413 over a limit;
//   - a request with more than one Origin header, or asking to upgrade to
//     a protocol whose name is not printable: 400;
//   - a client that went away: 499;
//   - anything else: 500.
//
// Details never include internal addresses or store errors.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var notRunning *NotRunningError
	switch {
	case errors.Is(err, ErrDeploymentNotFound):
		problem.Write(w, r, problem.NotFound.With("No deployment of yours is served at this path."))
	case errors.As(err, &notRunning):
		p := problem.NotRunning.With("The deployment is not running.")
		if s := notRunning.Status; s == StatusStopped || s == StatusStarting {
			p.Detail = fmt.Sprintf("The deployment is %s.", s)
		}
		p.RetryAfter = notRunning.RetryAfter
		problem.Write(w, r, p)
	case errors.Is(err, ErrStoreUnavailable):
		p := problem.StoreUnavailable.With("Deployments cannot be looked up right now; try again shortly.")
		p.RetryAfter = 5 * time.Second
		problem.Write(w, r, p)
	case errors.Is(err, ErrBadUpstream):
		problem.Write(w, r, problem.BadGateway.With("The deployment's address is not usable."))
	case errors.Is(err, auth.ErrUnauthenticated), errors.Is(err, auth.ErrUnavailable):
		auth.WriteError(w, r, err)
	case errors.Is(err, proxy.ErrClientGone), errors.Is(err, proxy.ErrClientBody),
		errors.Is(err, proxy.ErrBadUpgrade):
		proxy.WriteError(w, r, err)
	case errors.Is(err, breaker.ErrOpen):
		breaker.WriteError(w, r, err)
	case errors.Is(err, proxy.ErrUpstreamUnreachable), errors.Is(err, proxy.ErrUpstreamTimeout):
		proxy.WriteError(w, r, err)
	case errors.Is(err, ErrMethodNotAllowed):
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		problem.Write(w, r, problem.MethodNotAllowed.With("The gateway does not forward TRACE or CONNECT."))
	case errors.Is(err, ErrRepeatedOrigin):
		problem.Write(w, r, problem.BadRequest.With("The request has more than one Origin header."))
	case errors.Is(err, ErrCrossOrigin):
		problem.Write(w, r, problem.Forbidden.With(
			"This request carries the session cookie but comes from an origin the deployment does not allow."))
	case errors.Is(err, limit.ErrLimited), errors.Is(err, limit.ErrStoreUnavailable):
		limit.WriteError(w, r, err)
	default:
		problem.Write(w, r, problem.Internal.With("The gateway failed; the request id identifies the failure in its logs."))
	}
}
