package telemetry_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/mcphub/apigateway/telemetry"
)

// taggedProvider records nothing, and its type cannot be compared: it
// holds a slice.
type taggedProvider struct {
	tracenoop.TracerProvider
	tags []string
}

// wrappedProvider is a struct type that can be compared, as far as its
// type says, but a value holding a taggedProvider cannot: comparing two
// panics.
type wrappedProvider struct{ trace.TracerProvider }

// A tracer provider whose type looks comparable while its value is not
// must not make the Handler panic once it has been seen to record nothing.
func TestQuietProviderThatCannotBeComparedDoesNotPanic(t *testing.T) {
	tp := wrappedProvider{taggedProvider{tags: []string{"a"}}}
	tel, err := telemetry.New(telemetry.Config{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	h := tel.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))

	for i := range 3 {
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("request %d: panic: %v", i+1, v)
				}
			}()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
		}()
	}
}
