package limit

import "context"

// A Subject is whom a request is counted against: its authenticated user
// and the deployment it is for. It is known only once authentication and
// the ownership check have passed, so that a caller who fails either is
// never counted against the user or the deployment named in the path. The
// gateway hands it to [Limiter.Check] directly and does not store it in
// the request context: [FromContext] finds none in the requests its hooks
// and handlers see.
type Subject struct {
	// UserID is the authenticated user. Empty means no per-user counter.
	UserID string

	// DeploymentID is the deployment the request is for. Empty means no
	// per-deployment counter.
	DeploymentID string

	// Tool is the MCP tool a tools/call request calls, as the gateway's
	// telemetry labelled it. It is counted only when Config.ToolRate gives
	// it a rate, and only with a DeploymentID. Empty means no tool.
	Tool string
}

type subjectKey struct{}

// NewContext returns a copy of ctx carrying s, for [Limiter.Handler].
func NewContext(ctx context.Context, s Subject) context.Context {
	return context.WithValue(ctx, subjectKey{}, s)
}

// FromContext returns the Subject stored in ctx by [NewContext], if any.
func FromContext(ctx context.Context) (Subject, bool) {
	s, ok := ctx.Value(subjectKey{}).(Subject)
	return s, ok
}
