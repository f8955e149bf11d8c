package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mcphub/apigateway/telemetry"
)

func TestBreakerStateChanges(t *testing.T) {
	h := newHarness(t, telemetry.Config{})

	h.tel.BreakerStateChanged("d1", "closed", "open")
	h.tel.BreakerStateChanged("d1", "open", "half-open")
	h.tel.BreakerStateChanged("d1", "half-open", "open")
	h.tel.BreakerStateChanged("d2", "closed", "bogus")

	rm := h.collect(t)
	transition := func(dep, from, to string) string {
		return attrs(telemetry.DeploymentIDKey.String(dep),
			telemetry.BreakerFromKey.String(from), telemetry.BreakerToKey.String(to))
	}
	wantTransitions := map[string]int64{
		transition("d1", "closed", "open"):    1,
		transition("d1", "open", "half-open"): 1,
		transition("d1", "half-open", "open"): 1,
		transition("d2", "closed", "unknown"): 1,
	}
	gotTransitions := values(t, metric(t, rm, "gateway.breaker.transitions"))
	if diff := cmp.Diff(wantTransitions, gotTransitions); diff != "" {
		t.Errorf("gateway.breaker.transitions (-want +got):\n%s", diff)
	}
	state := func(dep, s string) string {
		return attrs(telemetry.DeploymentIDKey.String(dep), telemetry.BreakerStateKey.String(s))
	}
	wantStates := map[string]int64{
		state("d1", "closed"):    0,
		state("d1", "half-open"): 0,
		state("d1", "open"):      1,
		state("d2", "closed"):    0,
		state("d2", "unknown"):   1,
	}
	if diff := cmp.Diff(wantStates, values(t, metric(t, rm, "gateway.breaker.state"))); diff != "" {
		t.Errorf("gateway.breaker.state (-want +got):\n%s", diff)
	}
}

func TestLimitDecisionKeepsTheMostSevereOutcome(t *testing.T) {
	tests := []struct {
		name      string
		decisions [][2]string // scope, outcome
		outcome   string
		scope     string
	}{
		{"none", nil, "", ""},
		{"all allowed", [][2]string{{"ip", "allowed"}, {"user", "allowed"}}, "allowed", "ip"},
		{"limited after allowed", [][2]string{{"user", "allowed"}, {"deployment", "limited"}},
			"limited", "deployment"},
		{"error, then limited", [][2]string{{"user", "error"}, {"deployment", "limited"}},
			"limited", "deployment"},
		{"allowed after error", [][2]string{{"user", "error"}, {"deployment", "allowed"}},
			"error", "user"},
		{"unknown outcome", [][2]string{{"user", "maybe"}}, "error", "user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, telemetry.Config{})
			handler := h.tel.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for _, d := range tt.decisions {
					h.tel.LimitDecision(r.Context(), d[0], d[1])
				}
			}))

			handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))

			rec := h.record(t)
			if rec.LimitOutcome != tt.outcome || rec.LimitScope != tt.scope {
				t.Errorf("got %q, %q; want %q, %q",
					rec.LimitOutcome, rec.LimitScope, tt.outcome, tt.scope)
			}
		})
	}

	// Outside a request, the decision is only counted.
	h := newHarness(t, telemetry.Config{})
	h.tel.LimitDecision(context.Background(), "ip", "limited")
	got := values(t, metric(t, h.collect(t), "gateway.limit.decisions"))
	want := attrs(telemetry.LimitScopeKey.String("ip"), telemetry.LimitOutcomeKey.String("limited"))
	if got[want] != 1 {
		t.Errorf("got %v", got)
	}
}
