package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// LimitDecision records one rate-limit check of the request whose context
// is ctx: scope names the counter ("user", "deployment", "ip"), outcome is
// "allowed", "limited" or "error". It counts the check in
// gateway.limit.decisions and, when ctx carries a [Record], sets its
// LimitOutcome and LimitScope unless an earlier check of the request was
// more severe (limited, then error, then allowed). Adapt a limiter's
// decision hook to it:
//
//	OnDecision: func(ctx context.Context, d limit.Decision) {
//		tel.LimitDecision(ctx, string(d.Scope), string(d.Outcome))
//	}
//
// An outcome other than the three is recorded as "error".
func (t *Telemetry) LimitDecision(ctx context.Context, scope, outcome string) {
	severity := limitSeverity(outcome)
	if severity == severityError {
		outcome = "error"
	}
	if t.decisions.Enabled(ctx) {
		t.decisions.Add(ctx, 1, t.decisionAttrs(t.scopes.value(scope), outcome)...)
	}

	if rec, ok := FromContext(ctx); ok && severity > rec.limitSeverity {
		rec.limitSeverity = severity
		rec.LimitOutcome = outcome
		rec.LimitScope = scope
	}
}

// decisionAttrs returns the attribute option of a decision's data point,
// built once per scope and outcome: the hook runs on every request, and
// the pairs are few (scopes are capped, outcomes are three).
func (t *Telemetry) decisionAttrs(scope, outcome string) []metric.AddOption {
	key := [2]string{scope, outcome}
	t.decisionMu.RLock()
	opts, ok := t.decisionOpts[key]
	t.decisionMu.RUnlock()
	if ok {
		return opts
	}
	set := attribute.NewSet(LimitScopeKey.String(scope), LimitOutcomeKey.String(outcome))
	opts = []metric.AddOption{metric.WithAttributeSet(set)}
	t.decisionMu.Lock()
	t.decisionOpts[key] = opts
	t.decisionMu.Unlock()
	return opts
}

const (
	severityAllowed = 1 + iota
	severityError
	severityLimited
)

func limitSeverity(outcome string) int {
	switch outcome {
	case "allowed":
		return severityAllowed
	case "limited":
		return severityLimited
	}
	return severityError
}

// BreakerStateChanged records that the circuit breaker of deploymentID went
// from one state to another ("closed", "open", "half-open"): it counts the
// change in gateway.breaker.transitions and sets gateway.breaker.state to 1
// for the new state and 0 for the old one. Adapt a breaker's state hook to
// it:
//
//	OnStateChange: func(key string, from, to breaker.State) {
//		tel.BreakerStateChanged(key, from.String(), to.String())
//	}
//
// States other than the three are recorded as "unknown". A deployment
// whose breaker never changed state has no gateway.breaker.state series.
func (t *Telemetry) BreakerStateChanged(deploymentID, from, to string) {
	ctx := context.Background()
	id := DeploymentIDKey.String(t.deployments.value(deploymentID))
	from, to = breakerState(from), breakerState(to)

	t.transitions.Add(ctx, 1,
		metric.WithAttributes(id, BreakerFromKey.String(from), BreakerToKey.String(to)))
	t.breakerState.Record(ctx, 0, metric.WithAttributes(id, BreakerStateKey.String(from)))
	t.breakerState.Record(ctx, 1, metric.WithAttributes(id, BreakerStateKey.String(to)))
}

func breakerState(s string) string {
	switch s {
	case "closed", "open", "half-open":
		return s
	}
	return "unknown"
}
