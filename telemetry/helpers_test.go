package telemetry_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mcphub/apigateway/telemetry"
)

// harness is a Telemetry whose every output is captured: metrics in a
// manual reader, spans in a recorder, the access log in a buffer, and
// finished records in a channel.
type harness struct {
	tel     *telemetry.Telemetry
	reader  *sdkmetric.ManualReader
	spans   *tracetest.SpanRecorder
	log     *lockedBuffer
	records chan *telemetry.Record
}

// newHarness returns a harness for cfg, whose providers, propagator,
// access log and OnRequest it replaces.
func newHarness(t *testing.T, cfg telemetry.Config) *harness {
	t.Helper()
	h := &harness{
		reader:  sdkmetric.NewManualReader(),
		spans:   tracetest.NewSpanRecorder(),
		log:     &lockedBuffer{},
		records: make(chan *telemetry.Record, 64),
	}
	cfg.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	cfg.TracerProvider = sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(h.spans))
	cfg.Propagator = propagation.TraceContext{}
	cfg.AccessLog = slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.OnRequest = func(_ context.Context, rec *telemetry.Record) { h.records <- rec }

	tel, err := telemetry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Close() })
	h.tel = tel
	return h
}

// record waits for the next finished request.
func (h *harness) record(t *testing.T) *telemetry.Record {
	t.Helper()
	select {
	case rec := <-h.records:
		return rec
	case <-time.After(5 * time.Second):
		t.Fatal("no request was recorded within 5s")
		return nil
	}
}

// collect reads the metrics recorded so far.
func (h *harness) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// logLines returns the access log's lines, decoded.
func (h *harness) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(h.log.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("access log line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// metric returns the metric named name, failing the test if there is none.
func metric(t *testing.T, rm metricdata.ResourceMetrics, name string) metricdata.Metrics {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return metricdata.Metrics{}
}

// hasMetric reports whether a metric named name was recorded.
func hasMetric(rm metricdata.ResourceMetrics, name string) bool {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return true
			}
		}
	}
	return false
}

// histogramCounts returns the number of measurements of a histogram per
// attribute set, the sets written as sorted "key=value" lists.
func histogramCounts(t *testing.T, m metricdata.Metrics) map[string]uint64 {
	t.Helper()
	counts := make(map[string]uint64)
	switch data := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, dp := range data.DataPoints {
			counts[attrString(dp.Attributes)] += dp.Count
		}
	case metricdata.Histogram[int64]:
		for _, dp := range data.DataPoints {
			counts[attrString(dp.Attributes)] += dp.Count
		}
	default:
		t.Fatalf("%s is a %T, not a histogram", m.Name, m.Data)
	}
	return counts
}

// histogramSums returns the sum of an int64 histogram per attribute set.
func histogramSums(t *testing.T, m metricdata.Metrics) map[string]int64 {
	t.Helper()
	data, ok := m.Data.(metricdata.Histogram[int64])
	if !ok {
		t.Fatalf("%s is a %T, not an int64 histogram", m.Name, m.Data)
	}
	sums := make(map[string]int64)
	for _, dp := range data.DataPoints {
		sums[attrString(dp.Attributes)] += dp.Sum
	}
	return sums
}

// values returns the values of an int64 sum or gauge per attribute set.
func values(t *testing.T, m metricdata.Metrics) map[string]int64 {
	t.Helper()
	v := make(map[string]int64)
	switch data := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range data.DataPoints {
			v[attrString(dp.Attributes)] = dp.Value
		}
	case metricdata.Gauge[int64]:
		for _, dp := range data.DataPoints {
			v[attrString(dp.Attributes)] = dp.Value
		}
	default:
		t.Fatalf("%s is a %T, not an int64 sum or gauge", m.Name, m.Data)
	}
	return v
}

// attrString writes an attribute set as a sorted "key=value" list.
func attrString(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// attrs is attrString for a list of attributes.
func attrs(kvs ...attribute.KeyValue) string {
	return attrString(attribute.NewSet(kvs...))
}

// dumpMetrics writes every metric's name, description and every attribute
// of every data point and exemplar, for grepping.
func dumpMetrics(rm metricdata.ResourceMetrics) string {
	var b strings.Builder
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			fmt.Fprintf(&b, "%s %s %s\n", m.Name, m.Description, m.Unit)
			switch data := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, dp := range data.DataPoints {
					fmt.Fprintln(&b, attrString(dp.Attributes))
					for _, ex := range dp.Exemplars {
						fmt.Fprintln(&b, ex.FilteredAttributes)
					}
				}
			case metricdata.Histogram[int64]:
				for _, dp := range data.DataPoints {
					fmt.Fprintln(&b, attrString(dp.Attributes))
					for _, ex := range dp.Exemplars {
						fmt.Fprintln(&b, ex.FilteredAttributes)
					}
				}
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					fmt.Fprintln(&b, attrString(dp.Attributes))
					for _, ex := range dp.Exemplars {
						fmt.Fprintln(&b, ex.FilteredAttributes)
					}
				}
			case metricdata.Gauge[int64]:
				for _, dp := range data.DataPoints {
					fmt.Fprintln(&b, attrString(dp.Attributes))
				}
			default:
				fmt.Fprintf(&b, "unexpected data %T: %+v\n", data, data)
			}
		}
	}
	return b.String()
}

// dumpSpans writes every ended span's name, attributes, events, links and
// status, for grepping.
func dumpSpans(spans []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "%s %v %s %s\n",
			s.Name(), s.SpanKind(), s.Status().Code, s.Status().Description)
		for _, kv := range s.Attributes() {
			fmt.Fprintf(&b, "  %s=%s\n", kv.Key, kv.Value.String())
		}
		for _, e := range s.Events() {
			fmt.Fprintf(&b, "  event %s %v\n", e.Name, e.Attributes)
		}
		for _, l := range s.Links() {
			fmt.Fprintf(&b, "  link %v %v\n", l.SpanContext.TraceID(), l.Attributes)
		}
	}
	return b.String()
}

// The route template the fake gateway reports.
const route = "/api/gateway/{user_id}/{deployment_id}/*"

// fakeGateway is a small stand-in for package gateway: it parses
// /api/gateway/{user}/{deployment}/{rest}, authenticates bearer tokens,
// checks that the deployment exists and belongs to the user, applies a
// rate limit and proxies with httputil.ReverseProxy through the
// Telemetry's Transport, filling the Record the way the gateway does.
type fakeGateway struct {
	tel         *telemetry.Telemetry
	tokens      map[string]string // bearer token prefix: user
	deployments map[string]fakeDeployment
}

type fakeDeployment struct {
	owner     string
	upstream  string            // URL
	transport http.RoundTripper // nil: http.DefaultTransport
	limited   bool              // every request is over the limit
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec, _ := telemetry.FromContext(r.Context())

	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/api/gateway/"), "/", 3)
	if !strings.HasPrefix(r.URL.Path, "/api/gateway/") || len(parts) < 3 ||
		parts[0] == "" || parts[1] == "" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	rec.Route = route
	userID, deploymentID := parts[0], parts[1]

	user := ""
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		for prefix, u := range g.tokens {
			if strings.HasPrefix(token, prefix) {
				user = u
			}
		}
	}
	if user == "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "unauthenticated", http.StatusUnauthorized)
		return
	}
	d, ok := g.deployments[deploymentID]
	if user != userID || !ok || d.owner != user {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	rec.UserID, rec.DeploymentID = userID, deploymentID
	r = g.tel.LabelMCP(r)

	ctx := r.Context()
	g.tel.LimitDecision(ctx, "user", "allowed")
	if d.limited {
		g.tel.LimitDecision(ctx, "deployment", "limited")
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	}
	g.tel.LimitDecision(ctx, "deployment", "allowed")
	rec.BreakerState = "closed"

	target, _ := url.Parse(d.upstream)
	rest := "/" + parts[2]
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = rest
			pr.Out.URL.RawPath = ""
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
			pr.Out.Header.Del("Proxy-Authorization")
		},
		Transport: g.tel.Transport(d.transport),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(r.Context().Err(), context.Canceled) {
				w.WriteHeader(499)
				return
			}
			http.Error(w, "bad gateway", http.StatusBadGateway)
		},
	}
	rp.ServeHTTP(w, r)
}

// refusingTransport fails every request as an unreachable upstream would.
type refusingTransport struct{}

func (refusingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return nil, errors.New("dial tcp: connection refused")
}

// do sends req with client and returns the response's status and body.
func do(t *testing.T, client *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// dialRaw connects to addr on loopback, sends send in one write and reads
// until the server closes the connection.
func dialRaw(t *testing.T, addr, send string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, send); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	return c
}
