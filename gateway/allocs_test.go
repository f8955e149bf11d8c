package gateway_test

import (
	"testing"

	"github.com/mcphub/apigateway/telemetry"
)

// maxChainAllocs bounds the allocations the gateway adds to a proxied
// request: BenchmarkGatewayChainNoNetwork's allocs/op minus
// BenchmarkProxyBareNoNetwork's. It was 70 before the hot path was
// trimmed and is 13 now (see docs/performance.md); the headroom lets a
// small addition pass, and the ceiling is the budget of 15, so a
// regression past it fails.
const maxChainAllocs = 15

// TestChainAllocs guards the gateway's allocations per request. Unlike
// timings, allocation counts do not depend on the machine, so CI can
// afford to fail on them.
func TestChainAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	bare := bareProxy(memUpstream, memTransport{})
	gw := newBenchGateway(t, memUpstream, memTransport{}, telemetry.Config{})
	const path = "/api/gateway/u/d/small"

	// Warm the caches, breaker and pools first: steady state is what counts.
	serveOne(t, gw, path, benchAuth)
	bareAllocs := testing.AllocsPerRun(200, func() { serveOne(t, bare, path, benchAuth) })
	chainAllocs := testing.AllocsPerRun(200, func() { serveOne(t, gw, path, benchAuth) })

	added := chainAllocs - bareAllocs
	t.Logf("allocations per request: bare %.0f, gateway %.0f, added %.0f (ceiling %d)",
		bareAllocs, chainAllocs, added, maxChainAllocs)
	if added > maxChainAllocs {
		t.Errorf("the gateway adds %.0f allocations per request, over the ceiling of %d",
			added, maxChainAllocs)
	}
}
