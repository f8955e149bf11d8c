package telemetry

import "go.opentelemetry.io/otel/attribute"

// The attribute keys the package adds to the OpenTelemetry semantic
// conventions, for views and queries.
const (
	// UserIDKey is the authenticated user's id (metrics, spans).
	UserIDKey = attribute.Key("gateway.user.id")
	// DeploymentIDKey is the deployment's id (metrics, spans).
	DeploymentIDKey = attribute.Key("gateway.deployment.id")
	// RequestIDKey is the gateway's request id (spans).
	RequestIDKey = attribute.Key("gateway.request.id")
	// LimitScopeKey is the scope of a rate-limit check (metrics, spans).
	LimitScopeKey = attribute.Key("gateway.limit.scope")
	// LimitOutcomeKey is a rate-limit decision (metrics, spans).
	LimitOutcomeKey = attribute.Key("gateway.limit.outcome")
	// BreakerStateKey is a circuit breaker state (metrics, spans).
	BreakerStateKey = attribute.Key("gateway.breaker.state")
	// BreakerFromKey is the state a circuit breaker left (metrics).
	BreakerFromKey = attribute.Key("gateway.breaker.from")
	// BreakerToKey is the state a circuit breaker entered (metrics).
	BreakerToKey = attribute.Key("gateway.breaker.to")
)

// The attribute keys of MCP requests, from the OpenTelemetry semantic
// conventions for MCP and generative AI. The semconv packages of
// OpenTelemetry-Go had them until v1.41.0 and left them out afterwards, so
// the package names them itself.
const (
	// MCPMethodNameKey is an MCP request's JSON-RPC method, such as
	// "tools/call" (metrics, spans).
	MCPMethodNameKey = attribute.Key("mcp.method.name")
	// GenAIToolNameKey is the tool a tools/call request calls (metrics,
	// spans).
	GenAIToolNameKey = attribute.Key("gen_ai.tool.name")
)
