package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// metricValue sums the samples of a Prometheus metric whose labels contain
// every one of labels.
func metricValue(t *testing.T, exposition, name string, labels ...string) float64 {
	t.Helper()
	sample := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `(\{.*\})? (\S+)$`)
	var sum float64
	for line := range strings.SplitSeq(exposition, "\n") {
		m := sample.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		matches := true
		for _, l := range labels {
			matches = matches && strings.Contains(m[1], l)
		}
		if matches {
			v, _ := strconv.ParseFloat(m[2], 64)
			sum += v
		}
	}
	return sum
}

func TestMetricsShowTrafficPerDeployment(t *testing.T) {
	th := startHub(t)
	scrape := func() string {
		_, body := th.get(t, "/metrics", nil)
		return string(body)
	}
	dep := `gateway_deployment_id="my-api-def456"`
	ok := `http_response_status_code="200"`

	for range 3 {
		th.getAs(t, "user-123", "/api/gateway/user-123/my-api-def456/api/v1/users")
	}
	th.getAs(t, "user-456", "/api/gateway/user-123/my-api-def456/api/v1/users") // 404
	first := scrape()
	if got := metricValue(t, first, "http_server_request_duration_seconds_count", dep, ok); got != 3 {
		t.Errorf("200s for my-api-def456 = %v, want 3\n%s", got, first)
	}
	got404 := metricValue(t, first, "http_server_request_duration_seconds_count", `http_response_status_code="404"`)
	if got404 < 1 {
		t.Errorf("404s = %v, want the refused request counted", got404)
	}
	if got := metricValue(t, first, "http_server_request_duration_seconds_count", dep,
		`http_response_status_code="404"`); got != 0 {
		t.Error("the refused request was attributed to the deployment")
	}
	if got := metricValue(t, first, "http_server_request_duration_seconds_bucket", dep); got == 0 {
		t.Error("no duration histogram buckets for the deployment")
	}
	bytesBefore := metricValue(t, first, "gateway_io_bytes_total", dep)
	if bytesBefore == 0 {
		t.Errorf("no bytes counted for the deployment\n%s", first)
	}

	th.getAs(t, "user-123", "/api/gateway/user-123/my-api-def456/api/v1/users")
	if after := metricValue(t, scrape(), "gateway_io_bytes_total", dep); after <= bytesBefore {
		t.Errorf("bytes did not grow with traffic: %v then %v", bytesBefore, after)
	}
}

func TestUsageShowsOnlyTheCallersDeployments(t *testing.T) {
	th := startHub(t)
	th.getAs(t, "user-123", "/api/gateway/user-123/webapp-789/")
	th.getAs(t, "user-123", "/api/gateway/user-123/webapp-789/static/css/main.css")
	th.getAs(t, "user-456", "/api/gateway/user-456/private-app-777/")

	var report struct {
		User struct {
			Requests int `json:"requests"`
		} `json:"user"`
		Deployments []struct {
			ID       string `json:"id"`
			Requests int    `json:"requests"`
		} `json:"deployments"`
	}
	resp, body := th.getAs(t, "user-123", "/api/usage")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/usage: %d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &report); err != nil {
		t.Fatal(err)
	}
	if report.User.Requests != 2 {
		t.Errorf("user-123's requests = %d, want 2", report.User.Requests)
	}
	for _, d := range report.Deployments {
		if d.ID == "private-app-777" {
			t.Error("user-123's usage lists user-456's deployment")
		}
		if d.ID == "webapp-789" && d.Requests != 2 {
			t.Errorf("webapp-789 requests = %d, want 2", d.Requests)
		}
	}
	if strings.Contains(string(body), "private-app-777") {
		t.Error("user-123's usage mentions user-456's deployment")
	}

	if resp, body := th.get(t, "/api/usage", nil); resp.StatusCode != 401 {
		t.Errorf("GET /api/usage without credentials: %d, want 401", resp.StatusCode)
	} else {
		checkProblem(t, resp, body, 401)
	}
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, metrics and traces reach an OTLP
// receiver (a stand-in that records what is posted to it).
func TestOTLPExportWhenTheEndpointIsSet(t *testing.T) {
	var mu sync.Mutex
	posted := map[string]int{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		posted[r.URL.Path]++
		mu.Unlock()
	}))
	defer receiver.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.URL)

	h, err := newHub(t.Context(), options{Seed: testSeed})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	req, _ := http.NewRequest("GET", srv.URL+"/api/gateway/user-123/webapp-789/", nil)
	req.Header.Set("Authorization", "Bearer "+h.secrets.tokens["user-123"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.Close()
	h.Close() // flushes the exporters

	mu.Lock()
	defer mu.Unlock()
	if posted["/v1/traces"] == 0 || posted["/v1/metrics"] == 0 {
		t.Errorf("OTLP posts = %v, want traces and metrics", posted)
	}
}

// checkToolCallsCounted checks that the hub's metrics count tools/call
// requests to deployment labelled with tool, as an operator would look
// for them. A request is counted once the gateway has finished with it,
// which may be a moment after the client has read the answer, so the
// check waits up to a second.
func (th *testHub) checkToolCallsCounted(t *testing.T, deployment, tool string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		_, body := th.get(t, "/metrics", nil)
		got := metricValue(t, string(body), "http_server_request_duration_seconds_count",
			`gateway_deployment_id="`+deployment+`"`,
			`mcp_method_name="tools/call"`,
			`gen_ai_tool_name="`+tool+`"`)
		if got >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("no tools/call of tool %q to %s counted in /metrics", tool, deployment)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
