package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine they started is still
// running after the last one ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// otter runs a maintenance goroutine for each cache with expiry,
		// and a ticker for each coarse clock, that stop only once the cache
		// is garbage collected; it offers no Close to stop them sooner.
		goleak.IgnoreTopFunction("github.com/maypok86/otter/v2.periodicCleanUp[...]"),
		goleak.IgnoreTopFunction("github.com/maypok86/otter/v2.updateCoarseClock"),
	)
}
