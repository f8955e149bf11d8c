package gateway

import (
	"context"
	"errors"

	"github.com/mcphub/apigateway/breaker"
	"github.com/mcphub/apigateway/limit"
)

// Status is a deployment's lifecycle state as the host reports it.
type Status string

// The statuses the gateway distinguishes. Any status other than
// StatusRunning is answered 503 with Retry-After.
const (
	StatusRunning  Status = "running"
	StatusStopped  Status = "stopped"
	StatusStarting Status = "starting"
)

// A Deployment is what the gateway needs to know about one deployed app or
// MCP server.
type Deployment struct {
	// ID is the deployment's id, as it appears in gateway paths.
	ID string
	// OwnerID is the id of the user who owns it.
	OwnerID string
	// Status is its lifecycle state.
	Status Status
	// UpstreamURL is its internal base URL, such as "http://10.0.0.11:8080"
	// or "http://10.0.0.11:8080/base/". Only http and https are accepted.
	UpstreamURL string

	// Rate, when set, replaces the gateway's per-deployment rate limit for
	// this deployment; limit.Unlimited lifts it. The zero value means the
	// gateway's default.
	Rate limit.Rate

	// CORSOrigins are origins, besides Config.CORS.AllowedOrigins, that
	// browsers may call this deployment from with credentials, in the same
	// form. Entries that form would refuse are ignored.
	//
	// Preflights carry no credentials, so for a request from an origin
	// that is not allowed globally the gateway looks the deployment up
	// (through its cache) before authentication. Two consequences: anyone
	// can cause such lookups (bounded by the cache and, when configured,
	// the per-client-address rate limit), and someone who knows a
	// deployment's own origin can tell from the CORS answer that the
	// deployment exists under that user.
	CORSOrigins []string

	// MaxRequestBodyBytes, when not zero, replaces the gateway's
	// Config.MaxRequestBodyBytes for this deployment: a positive value is
	// its limit, a negative one lifts the gateway's.
	MaxRequestBodyBytes int64

	// Breaker, when any field is set, replaces the gateway's circuit
	// breaker settings for this deployment; zero fields keep the gateway's.
	// It is read when the deployment's breaker is created: after a change,
	// call [Gateway.Forget].
	Breaker breaker.Settings
}

// ErrDeploymentNotFound is returned by a [DeploymentStore] for an id it
// does not know.
var ErrDeploymentNotFound = errors.New("gateway: deployment not found")

// A DeploymentStore looks deployments up by id. Deployment returns an error
// wrapping [ErrDeploymentNotFound] for an unknown id; any other error is
// treated as the store being unavailable (503). The gateway caches results
// (see Config.CacheTTL), so a store may be a database query.
type DeploymentStore interface {
	Deployment(ctx context.Context, id string) (Deployment, error)
}

// The DeploymentStoreFunc type adapts an ordinary function to a
// [DeploymentStore].
type DeploymentStoreFunc func(ctx context.Context, id string) (Deployment, error)

// Deployment calls f(ctx, id).
func (f DeploymentStoreFunc) Deployment(ctx context.Context, id string) (Deployment, error) {
	return f(ctx, id)
}
