package telemetry

import (
	"reflect"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// quietProvider remembers a tracer provider seen to record nothing: one
// whose tracer gave a root span no span context, as the global provider
// does until the host installs an SDK, and as noop.TracerProvider always
// does. While the provider in use is still that one, the Handler starts
// no server span: the span would cost allocations on every request and
// carry nothing, since the context it returns holds no more than the one
// it was given.
//
// The global provider is looked up on each request, so a host that
// installs an SDK after [New] gets spans from then on.
type quietProvider struct {
	v atomic.Value // of providerRef
}

type providerRef struct{ tp trace.TracerProvider }

// is reports whether tp is the provider seen to record nothing.
func (q *quietProvider) is(tp trace.TracerProvider) bool {
	ref, ok := q.v.Load().(providerRef)
	return ok && ref.tp == tp
}

// set remembers tp. A provider that cannot be compared is not remembered,
// and keeps getting spans started. The value is checked, not only its
// type: a struct whose interface field holds a slice has a comparable type,
// yet comparing it panics.
func (q *quietProvider) set(tp trace.TracerProvider) {
	if tp != nil && reflect.ValueOf(tp).Comparable() {
		q.v.Store(providerRef{tp})
	}
}

// provider returns the tracer provider whose tracer the Telemetry uses:
// Config.TracerProvider, or the global provider of the moment.
func (t *Telemetry) provider() trace.TracerProvider {
	if t.tracerProvider != nil {
		return t.tracerProvider
	}
	return otel.GetTracerProvider()
}
