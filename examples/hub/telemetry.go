package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/telemetry"
	"github.com/mcphub/apigateway/telemetry/usage"
)

// observability is the hub's telemetry: metrics for Prometheus at /metrics,
// OTLP export of metrics and traces when OTEL_EXPORTER_OTLP_ENDPOINT is
// set, and the usage store behind /api/usage.
type observability struct {
	registry *prometheus.Registry
	meters   *sdkmetric.MeterProvider
	tracers  *sdktrace.TracerProvider // nil without OTLP
	usage    *usage.Store
}

func newObservability(ctx context.Context) (*observability, error) {
	o := &observability{registry: prometheus.NewRegistry()}
	// The process's own health (goroutines, memory, open files) next to
	// the gateway's metrics, so a leak shows on the same page.
	o.registry.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(o.registry))
	if err != nil {
		return nil, err
	}
	readers := []sdkmetric.Option{sdkmetric.WithReader(exporter)}
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" {
		// The exporters read the standard OTEL_EXPORTER_OTLP_* variables.
		metrics, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return nil, err
		}
		readers = append(readers, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics)))
		spans, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, err
		}
		o.tracers = sdktrace.NewTracerProvider(sdktrace.WithBatcher(spans))
	}
	o.meters = sdkmetric.NewMeterProvider(readers...)
	if o.usage, err = usage.New(usage.Config{}); err != nil {
		return nil, err
	}
	return o, nil
}

// config returns the gateway's telemetry configuration: the providers
// above, the JSON access log, the GeoIP database at geoDB (if any), and
// every finished request fed to the usage store.
func (o *observability) config(logger *slog.Logger, geoDB string) telemetry.Config {
	cfg := telemetry.Config{
		MeterProvider: o.meters,
		Propagator:    propagation.TraceContext{},
		AccessLog:     logger,
		GeoIP:         geoDB,
		OnRequest:     o.record,
	}
	if o.tracers != nil {
		cfg.TracerProvider = o.tracers
	}
	return cfg
}

func (o *observability) record(_ context.Context, rec *telemetry.Record) {
	e := usage.Event{
		Time:         rec.Start.Add(rec.Duration),
		UserID:       rec.UserID,
		DeploymentID: rec.DeploymentID,
		Route:        rec.Route,
		Status:       rec.Status,
		BytesIn:      rec.BytesIn,
		BytesOut:     rec.BytesOut,
		Duration:     rec.Duration,
	}
	if rec.Country != "unknown" {
		e.Country = rec.Country
	}
	if rec.ClientIP.IsValid() {
		e.ClientIP = rec.ClientIP.String()
	}
	o.usage.Record(e)
}

// metrics serves the Prometheus exposition.
func (o *observability) metrics() http.Handler {
	return promhttp.HandlerFor(o.registry, promhttp.HandlerOpts{})
}

// Close flushes and stops the exporters.
func (o *observability) Close(ctx context.Context) error {
	err := o.meters.Shutdown(ctx)
	if o.tracers != nil {
		err = errors.Join(err, o.tracers.Shutdown(ctx))
	}
	return err
}

// usageHandler serves /api/usage: the signed-in user's recent usage, in
// total and for each of their own deployments, never anyone else's.
type usageHandler struct {
	verifier auth.SessionVerifier
	store    *memoryStore
	usage    *usage.Store
}

type usageReport struct {
	User        usage.Summary   `json:"user"`
	Deployments []usage.Summary `json:"deployments"`
}

func (h *usageHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := h.verifier.Verify(r)
	if err != nil {
		// The gateway's own answer: a problem body, 401 or (when the
		// verifier could not decide) 503.
		if errors.Is(err, auth.ErrUnauthenticated) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hub"`)
		}
		auth.WriteError(w, r, err)
		return
	}
	report := usageReport{Deployments: []usage.Summary{}}
	report.User, _ = h.usage.User(id.UserID)
	// Ownership comes from the platform's records, not from the traffic.
	for _, l := range h.store.Owned(id.UserID) {
		s, _ := h.usage.Deployment(l.ID)
		report.Deployments = append(report.Deployments, s)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(report)
}
