package telemetry_test

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/mcphub/apigateway/internal/requestid"
	"github.com/mcphub/apigateway/telemetry"
)

// scenario is one request through the fake gateway and what must be
// recorded for it.
type scenario struct {
	name   string
	method string
	path   string
	token  string
	body   string

	status       int
	user, dep    string
	route        string
	limit, scope string
	breaker      string
}

var scenarios = []scenario{
	{name: "ok", method: "POST", path: "/api/gateway/u1/d1/echo?page=2", token: "good", body: "ping",
		status: 200, user: "u1", dep: "d1", route: route,
		limit: "allowed", scope: "user", breaker: "closed"},
	{name: "unauthenticated", method: "GET", path: "/api/gateway/u1/d1/echo",
		status: 401, route: route},
	{name: "someone else's deployment", method: "GET", path: "/api/gateway/u2/d2/echo", token: "good",
		status: 404, route: route},
	{name: "junk path", method: "GET", path: "/api/gateway/no-such-thing", token: "good", status: 404},
	{name: "limited", method: "GET", path: "/api/gateway/u1/d-limited/x", token: "good",
		status: 429, user: "u1", dep: "d-limited", route: route, limit: "limited", scope: "deployment"},
	{name: "upstream down", method: "GET", path: "/api/gateway/u1/d-down/x", token: "good",
		status: 502, user: "u1", dep: "d-down", route: route,
		limit: "allowed", scope: "user", breaker: "closed"},
}

// startGateway serves the fake gateway behind requestid and the Handler
// of h, with an upstream for d1 and d2 that answers "echo:" and the body
// it read.
func startGateway(t *testing.T, h *harness) *httptest.Server {
	t.Helper()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "echo:"+string(b))
	}))
	t.Cleanup(upstream.Close)
	g := &fakeGateway{
		tel:    h.tel,
		tokens: map[string]string{"good": "u1", "SECRET-A": "u1"},
		deployments: map[string]fakeDeployment{
			"d1":        {owner: "u1", upstream: upstream.URL},
			"d2":        {owner: "u2", upstream: upstream.URL},
			"d-limited": {owner: "u1", upstream: upstream.URL, limited: true},
			"d-down":    {owner: "u1", upstream: "http://127.0.0.1:1", transport: refusingTransport{}},
		},
	}
	front := httptest.NewServer(requestid.Middleware(nil)(h.tel.Handler(g)))
	t.Cleanup(front.Close)
	return front
}

// runScenarios sends every scenario's request and returns, per scenario,
// the body the client received, the request id and the Record.
func runScenarios(t *testing.T, h *harness, front *httptest.Server) (
	bodies, ids []string, recs []*telemetry.Record) {
	t.Helper()
	for _, sc := range scenarios {
		req, _ := http.NewRequest(sc.method, front.URL+sc.path, strings.NewReader(sc.body))
		if sc.body == "" {
			req.Body = http.NoBody
		}
		req.Header.Set("User-Agent", "telemetry-test/1")
		if sc.token != "" {
			req.Header.Set("Authorization", "Bearer "+sc.token)
		}
		resp, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != sc.status {
			t.Fatalf("%s: got status %d, want %d", sc.name, resp.StatusCode, sc.status)
		}
		bodies = append(bodies, string(b))
		ids = append(ids, resp.Header.Get(requestid.Header))
		recs = append(recs, h.record(t))
	}
	return bodies, ids, recs
}

func TestHandlerRecordsMetricsPerOutcome(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	front := startGateway(t, h)

	bodies, _, recs := runScenarios(t, h, front)

	for i, sc := range scenarios {
		rec := recs[i]
		if rec.Status != sc.status || rec.BytesOut != int64(len(bodies[i])) ||
			rec.BytesIn != int64(len(sc.body)) {
			t.Errorf("%s: got status %d, bytes in %d, out %d; want %d, %d, %d", sc.name,
				rec.Status, rec.BytesIn, rec.BytesOut, sc.status, len(sc.body), len(bodies[i]))
		}
	}
	rm := h.collect(t)

	// One series per outcome; ids only where authorization passed, and
	// no trace of the junk path.
	series := func(method string, status int, user, dep, rt string,
		extra ...attribute.KeyValue) string {
		kvs := []attribute.KeyValue{
			semconv.HTTPRequestMethodKey.String(method), semconv.URLScheme("http"),
			semconv.HTTPResponseStatusCode(status),
			telemetry.UserIDKey.String(user), telemetry.DeploymentIDKey.String(dep),
		}
		if rt != "" {
			kvs = append(kvs, semconv.HTTPRoute(rt))
		}
		return attrs(append(kvs, extra...)...)
	}
	wantRequests := map[string]uint64{
		series("POST", 200, "u1", "d1", route):                1,
		series("GET", 401, "", "", route):                     1,
		series("GET", 404, "", "", route):                     1,
		series("GET", 404, "", "", ""):                        1,
		series("GET", 429, "u1", "d-limited", route):          1,
		series("GET", 502, "u1", "d-down", route, errType502): 1,
	}
	for _, name := range []string{"http.server.request.duration", "http.server.request.body.size",
		"http.server.response.body.size"} {
		if diff := cmp.Diff(wantRequests, histogramCounts(t, metric(t, rm, name))); diff != "" {
			t.Errorf("%s series (-want +got):\n%s", name, diff)
		}
	}
	sizes := histogramSums(t, metric(t, rm, "http.server.response.body.size"))
	if got, want := sizes[series("POST", 200, "u1", "d1", route)], int64(len(bodies[0])); got != want {
		t.Errorf("response body size of the 200: got %d, want %d", got, want)
	}

	wantUpstream := map[string]uint64{
		attrs(semconv.HTTPRequestMethodKey.String("POST"), semconv.HTTPResponseStatusCode(200),
			telemetry.DeploymentIDKey.String("d1")): 1,
		attrs(semconv.HTTPRequestMethodKey.String("GET"), semconv.ErrorTypeKey.String("_OTHER"),
			telemetry.DeploymentIDKey.String("d-down")): 1,
	}
	gotUpstream := histogramCounts(t, metric(t, rm, "gateway.upstream.duration"))
	if diff := cmp.Diff(wantUpstream, gotUpstream); diff != "" {
		t.Errorf("gateway.upstream.duration series (-want +got):\n%s", diff)
	}

	decision := func(scope, outcome string) string {
		return attrs(telemetry.LimitScopeKey.String(scope), telemetry.LimitOutcomeKey.String(outcome))
	}
	wantDecisions := map[string]int64{
		decision("user", "allowed"):       3,
		decision("deployment", "allowed"): 2,
		decision("deployment", "limited"): 1,
	}
	gotDecisions := values(t, metric(t, rm, "gateway.limit.decisions"))
	if diff := cmp.Diff(wantDecisions, gotDecisions); diff != "" {
		t.Errorf("gateway.limit.decisions (-want +got):\n%s", diff)
	}

	var unauthenticatedOut int64
	for i, sc := range scenarios {
		if sc.dep == "" {
			unauthenticatedOut += int64(len(bodies[i]))
		}
	}
	flow := func(dep, user string, dir attribute.KeyValue) string {
		return attrs(telemetry.DeploymentIDKey.String(dep), telemetry.UserIDKey.String(user), dir)
	}
	wantIO := map[string]int64{
		flow("d1", "u1", semconv.NetworkIODirectionReceive):         4,
		flow("d1", "u1", semconv.NetworkIODirectionTransmit):        int64(len(bodies[0])),
		flow("d-limited", "u1", semconv.NetworkIODirectionTransmit): int64(len(bodies[4])),
		flow("d-down", "u1", semconv.NetworkIODirectionTransmit):    int64(len(bodies[5])),
		flow("", "", semconv.NetworkIODirectionTransmit):            unauthenticatedOut,
	}
	if diff := cmp.Diff(wantIO, values(t, metric(t, rm, "gateway.io"))); diff != "" {
		t.Errorf("gateway.io (-want +got):\n%s", diff)
	}
}

var errType502 = semconv.ErrorTypeKey.String("502")

func TestAccessLogLinePerRequest(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	front := startGateway(t, h)

	bodies, ids, recs := runScenarios(t, h, front)

	lines := h.logLines(t)
	if len(lines) != len(scenarios) {
		t.Fatalf("got %d access log lines, want %d:\n%s", len(lines), len(scenarios), h.log.String())
	}
	for i, sc := range scenarios {
		line := lines[i]
		for _, key := range []string{"time", "duration_ms", "upstream_ms"} {
			if _, ok := line[key]; !ok {
				t.Errorf("%s: no %s in %v", sc.name, key, line)
			}
		}
		if d := line["duration_ms"].(float64); d <= 0 || d > 5000 {
			t.Errorf("%s: duration_ms %v", sc.name, d)
		}
		upstream := line["upstream_ms"].(float64)
		if reached := sc.status == 200 || sc.status == 502; reached != (recs[i].UpstreamDuration > 0) ||
			upstream > line["duration_ms"].(float64) {
			t.Errorf("%s: upstream %v (logged %vms), duration_ms %v", sc.name,
				recs[i].UpstreamDuration, upstream, line["duration_ms"])
		}
		// The log has milliseconds to the microsecond; 1.001 ms times
		// 1000 is 1000.9999... in floating point, so round, not truncate.
		if recs[i].UpstreamDuration.Microseconds() != int64(math.Round(upstream*1000)) {
			t.Errorf("%s: Record.UpstreamDuration %v, logged %vms",
				sc.name, recs[i].UpstreamDuration, upstream)
		}
		delete(line, "time")
		delete(line, "duration_ms")
		delete(line, "upstream_ms")

		want := map[string]any{
			"level":         "INFO",
			"msg":           "request",
			"request_id":    ids[i],
			"method":        sc.method,
			"path":          strings.SplitN(sc.path, "?", 2)[0],
			"route":         sc.route,
			"status":        float64(sc.status),
			"user_id":       sc.user,
			"deployment_id": sc.dep,
			"bytes_in":      float64(len(sc.body)),
			"bytes_out":     float64(len(bodies[i])),
			"client_ip":     "127.0.0.1",
			"country":       "unknown",
			"city":          "",
			"limit":         sc.limit,
			"limit_scope":   sc.scope,
			"breaker":       sc.breaker,
			"mcp_method":    "",
			"mcp_tool":      "",
			"user_agent":    "telemetry-test/1",
		}
		if ids[i] == "" {
			t.Errorf("%s: no request id in the response", sc.name)
		}
		if diff := cmp.Diff(want, line); diff != "" {
			t.Errorf("%s: access log line (-want +got):\n%s", sc.name, diff)
		}
	}
}

func TestDisableUserAttributeKeepsUsersOutOfMetrics(t *testing.T) {
	h := newHarness(t, telemetry.Config{DisableUserAttribute: true})
	front := startGateway(t, h)

	runScenarios(t, h, front)

	rm := h.collect(t)
	if dump := dumpMetrics(rm); strings.Contains(dump, string(telemetry.UserIDKey)) {
		t.Errorf("metrics carry %s:\n%s", telemetry.UserIDKey, dump)
	}
	if line := h.logLines(t)[0]; line["user_id"] != "u1" {
		t.Errorf("access log user_id: got %v, want u1", line["user_id"])
	}
}

func TestAttributeValuesAreCapped(t *testing.T) {
	h := newHarness(t, telemetry.Config{MaxAttributeValues: 2})
	handler := h.tel.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, _ := telemetry.FromContext(r.Context())
		rec.UserID = r.Header.Get("X-User")
		rec.DeploymentID = "dep-" + rec.UserID
		rec.Route = r.URL.Path // a careless host: the cap still bounds it
		io.WriteString(w, "ok")
	}))

	for _, user := range []string{"a", "b", "c", "d", "e", "a"} {
		req := httptest.NewRequest("GET", "/"+user, nil)
		req.Header.Set("X-User", user)
		handler.ServeHTTP(httptest.NewRecorder(), req)
		h.record(t)
	}

	rm := h.collect(t)
	series := func(user, dep, rt string) string {
		return attrs(semconv.HTTPRequestMethodKey.String("GET"), semconv.URLScheme("http"),
			semconv.HTTPResponseStatusCode(200), semconv.HTTPRoute(rt),
			telemetry.UserIDKey.String(user), telemetry.DeploymentIDKey.String(dep))
	}
	want := map[string]uint64{
		series("a", "dep-a", "/a"):                                2,
		series("b", "dep-b", "/b"):                                1,
		series(telemetry.Other, telemetry.Other, telemetry.Other): 3,
	}
	got := histogramCounts(t, metric(t, rm, "http.server.request.duration"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
}

func TestPanickingHandlerIsRecordedAndPanicGoesOn(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	handler := h.tel.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		panic(http.ErrAbortHandler) // as ReverseProxy does when a stream breaks
	}))

	var got any
	func() {
		defer func() { got = recover() }()
		handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/stream", nil))
	}()

	if got != http.ErrAbortHandler {
		t.Errorf("recovered %v, want http.ErrAbortHandler", got)
	}
	rec := h.record(t)
	if rec.Status != 200 || rec.BytesOut != int64(len("partial")) {
		t.Errorf("got status %d, bytes out %d; want 200, %d", rec.Status, rec.BytesOut, len("partial"))
	}
	if n := len(h.logLines(t)); n != 1 {
		t.Errorf("got %d access log lines, want 1", n)
	}
}

func TestHandlerWithoutWritingIsRecordedAs200(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(http.ResponseWriter, *http.Request) {})

	req := httptest.NewRequest("GET", "/items/42?q=1", nil)
	h.tel.Handler(mux).ServeHTTP(httptest.NewRecorder(), req)

	rec := h.record(t)
	if rec.Status != 200 || rec.Route != "GET /items/{id}" || rec.Path != "/items/42" {
		t.Errorf("got status %d, route %q, path %q; want 200, %q, %q",
			rec.Status, rec.Route, rec.Path, "GET /items/{id}", "/items/42")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  telemetry.Config
	}{
		{"country header with a space", telemetry.Config{CountryHeader: "CF IPCountry"}},
		{"missing database", telemetry.Config{GeoIP: t.TempDir() + "/none.mmdb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := telemetry.New(tt.cfg); err == nil {
				t.Error("got no error")
			}
		})
	}
}

func TestZeroConfigWorks(t *testing.T) {
	tel, err := telemetry.New(telemetry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Close()
	w := httptest.NewRecorder()

	tel.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := telemetry.FromContext(r.Context()); !ok {
			t.Error("no Record in the context")
		}
		io.WriteString(w, "ok")
	})).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))

	if w.Code != 200 || w.Body.String() != "ok" {
		t.Errorf("got %d %q, want 200 \"ok\"", w.Code, w.Body)
	}
}
