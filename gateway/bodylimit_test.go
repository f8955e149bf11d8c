package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mcphub/apigateway/gateway"
)

// countingUpstream reads every request body to the end and answers with
// the number of bytes it read; received adds them up.
func countingUpstream(t *testing.T) (url string, received *atomic.Int64) {
	t.Helper()
	received = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		received.Add(n)
		w.Write([]byte(strconv.FormatInt(n, 10)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, received
}

// bodyOnly hides a reader's type, so that net/http cannot learn its length
// and sends it chunked.
type bodyOnly struct{ io.Reader }

// Bodies over the limit, declared or streamed, are answered 413 and never
// reach the deployment whole; a deployment's own limit replaces the
// gateway's, and a negative one lifts it.
func TestRequestBodyLimits(t *testing.T) {
	f := newFixture(t, gateway.Config{MaxRequestBodyBytes: 1 << 10})
	url, received := countingUpstream(t)
	for _, d := range []gateway.Deployment{
		{ID: "dep-1", MaxRequestBodyBytes: 0},
		{ID: "dep-big", MaxRequestBodyBytes: 64 << 10},
		{ID: "dep-free", MaxRequestBodyBytes: -1},
	} {
		d.OwnerID, d.Status, d.UpstreamURL = "user-1", gateway.StatusRunning, url
		f.store.set(d)
	}
	post := func(dep string, size int, chunked bool) (int, string) {
		t.Helper()
		var body io.Reader = bytes.NewReader(bytes.Repeat([]byte("b"), size))
		if chunked {
			body = bodyOnly{body}
		}
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/gateway/user-1/"+dep+"/upload", body)
		req.Header.Set("Authorization", "Bearer "+tokenUser1)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %d bytes to %s: %v", size, dep, err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(got)
	}

	tests := []struct {
		dep     string
		size    int
		chunked bool
		want    int
	}{
		{"dep-1", 1 << 10, false, 200},
		{"dep-1", 1 << 10, true, 200},
		{"dep-1", 1<<10 + 1, false, 413},
		{"dep-1", 256 << 10, true, 413},
		{"dep-big", 64 << 10, false, 200},
		{"dep-big", 64<<10 + 1, false, 413},
		{"dep-big", 1 << 20, true, 413},
		{"dep-free", 1 << 20, false, 200},
		{"dep-free", 1 << 20, true, 200},
	}
	for _, tt := range tests {
		before := received.Load()
		code, body := post(tt.dep, tt.size, tt.chunked)
		got := received.Load() - before
		if code != tt.want {
			t.Errorf("%s, %d bytes (chunked %v): status %d, want %d; body %s",
				tt.dep, tt.size, tt.chunked, code, tt.want, body)
			continue
		}
		switch {
		case tt.want == 200 && body != strconv.Itoa(tt.size):
			t.Errorf("%s, %d bytes: the deployment read %s bytes, want all", tt.dep, tt.size, body)
		case tt.want == 413 && got >= int64(tt.size):
			t.Errorf("%s, %d bytes: the deployment read %d bytes of a refused body", tt.dep, tt.size, got)
		case tt.want == 413 && !strings.Contains(body, "request-too-large"):
			t.Errorf("%s, %d bytes: 413 body %s, want the request-too-large problem", tt.dep, tt.size, body)
		}
	}
	if resp, _ := f.get(t, "/api/gateway/user-1/dep-1/", tokenUser1); resp.StatusCode != 200 {
		t.Errorf("GET without a body: %d, want 200", resp.StatusCode)
	}
	if got := f.gw.BreakerState("dep-1"); got.String() != "closed" {
		t.Errorf("breaker of dep-1 = %v after refused uploads, want closed", got)
	}
}
