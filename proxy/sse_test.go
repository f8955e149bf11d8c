package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// testEndpointRewrite maps endpoints as the proxy does for a deployment
// whose upstream is http://10.0.0.5:8080/base/ under /gw/dep-1.
func testEndpointRewrite(v string) string {
	u := &url.URL{Scheme: "http", Host: "10.0.0.5:8080", Path: "/base/"}
	return endpointOnDeployment(v, u, upstreamBase(u), "/gw/dep-1", "/base/sse")
}

// rewriteStream runs stream through an endpointRewriter, reading it as r
// delivers it.
func rewriteStream(t *testing.T, r io.Reader) string {
	t.Helper()
	got, err := io.ReadAll(newEndpointRewriter(io.NopCloser(r), testEndpointRewrite))
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return string(got)
}

func TestEndpointEventsRewritten(t *testing.T) {
	long := "/" + strings.Repeat("a", maxEventLine+10)
	tests := []struct {
		name, in, want string
	}{
		{"absolute path",
			"event: endpoint\ndata: /message?sessionId=abc\n\n",
			"event: endpoint\ndata: /gw/dep-1/message?sessionId=abc\n\n"},
		{"CRLF",
			"event: endpoint\r\ndata: /message?sessionId=abc\r\n\r\n",
			"event: endpoint\r\ndata: /gw/dep-1/message?sessionId=abc\r\n\r\n"},
		{"CR alone",
			"event: endpoint\rdata: /message\r\rdata: /other\r\r",
			"event: endpoint\rdata: /gw/dep-1/message\r\rdata: /other\r\r"},
		{"no space after the colon",
			"event:endpoint\ndata:/message\n\n",
			"event:endpoint\ndata:/gw/dep-1/message\n\n"},
		{"URL on the upstream, base path taken off",
			"event: endpoint\ndata: http://10.0.0.5:8080/base/message?s=1\n\n",
			"event: endpoint\ndata: /gw/dep-1/message?s=1\n\n"},
		{"URL on another host kept on the deployment",
			"event: endpoint\ndata: http://example.com/message?s=1\n\n",
			"event: endpoint\ndata: /gw/dep-1/message?s=1\n\n"},
		{"scheme-relative URL on another host",
			"event: endpoint\ndata: //example.com/x/../message\n\n",
			"event: endpoint\ndata: /gw/dep-1/message\n\n"},
		{"backslashes and user info",
			"event: endpoint\ndata: https:\\\\user@example.com\\message\n\n",
			"event: endpoint\ndata: /gw/dep-1/message\n\n"},
		{"host alone",
			"event: endpoint\ndata: http://example.com\n\n",
			"event: endpoint\ndata: /gw/dep-1/\n\n"},
		{"relative reference",
			"event: endpoint\ndata: message?s=1\n\n",
			"event: endpoint\ndata: message?s=1\n\n"},
		{"already under the prefix",
			"event: endpoint\ndata: /gw/dep-1/message\n\n",
			"event: endpoint\ndata: /gw/dep-1/message\n\n"},
		{"other events untouched",
			"event: message\ndata: /message\n\ndata: /message\n\n: comment /x\n\n",
			"event: message\ndata: /message\n\ndata: /message\n\n: comment /x\n\n"},
		{"the type ends with the event",
			"id: 1\nevent: endpoint\ndata: /a\n\ndata: /b\n\n",
			"id: 1\nevent: endpoint\ndata: /gw/dep-1/a\n\ndata: /b\n\n"},
		{"an endpoint field after data becomes a comment",
			"data: http://evil.example/steal\nevent: endpoint\n\nevent: endpoint\ndata: /a\n\n",
			"data: http://evil.example/steal\n:\n\nevent: endpoint\ndata: /gw/dep-1/a\n\n"},
		{"an endpoint field after data of another event becomes a comment",
			"event: message\ndata: //evil.example/x\nevent: endpoint\r\n\r\n",
			"event: message\ndata: //evil.example/x\n:\r\n\r\n"},
		{"an endpoint field after a line too long to read becomes a comment",
			"data: " + long + "\nevent: endpoint\n\n",
			"data: " + long + "\n:\n\n"},
		{"an endpoint field again after endpoint data stays",
			"event: endpoint\ndata: /a\nevent: endpoint\n\n",
			"event: endpoint\ndata: /gw/dep-1/a\nevent: endpoint\n\n"},
		{"endpoint named with spaces and in capitals",
			"event:  Endpoint \ndata:   http://evil.example/steal  \n\n",
			"event:  Endpoint \ndata: /gw/dep-1/steal\n\n"},
		{"unterminated last line",
			"event: endpoint\ndata: /a",
			"event: endpoint\ndata: /a"},
		{"endpoint line too long to hold back is dropped",
			"event: endpoint\ndata: http://example.com" + long + "\n\nevent: endpoint\ndata: /a\n\n",
			"event: endpoint\n\nevent: endpoint\ndata: /gw/dep-1/a\n\n"},
		{"other long lines pass",
			"event: message\ndata: " + long + "\n\nevent: endpoint\ndata: /a\n\n",
			"event: message\ndata: " + long + "\n\nevent: endpoint\ndata: /gw/dep-1/a\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rewriteStream(t, strings.NewReader(tt.in)); got != tt.want {
				t.Errorf("in one read: got %q, want %q", got, tt.want)
			}
			if got := rewriteStream(t, iotest.OneByteReader(strings.NewReader(tt.in))); got != tt.want {
				t.Errorf("byte by byte: got %q, want %q", got, tt.want)
			}
			if len(tt.in) > 1000 {
				return
			}
			for i := 1; i < len(tt.in); i++ {
				r := io.MultiReader(strings.NewReader(tt.in[:i]), strings.NewReader(tt.in[i:]))
				if got := rewriteStream(t, r); got != tt.want {
					t.Fatalf("split at %d: got %q, want %q", i, got, tt.want)
				}
			}
		})
	}
}

func TestEndpointRewriterPassesCompleteLinesAtOnce(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	r := newEndpointRewriter(pr, testEndpointRewrite)
	go pw.Write([]byte("event: endpoint\ndata: /m\n\ndata: hel"))

	got := make([]byte, 0, 64)
	buf := make([]byte, 64)
	for len(got) < len("event: endpoint\ndata: /gw/dep-1/m\n\n") {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		got = append(got, buf[:n]...)
	}

	if want := "event: endpoint\ndata: /gw/dep-1/m\n\n"; string(got) != want {
		t.Errorf("got %q, want %q before the next line is complete", got, want)
	}
}

func TestEndpointRewriterReportsTheBodyError(t *testing.T) {
	errBroken := errors.New("broken")
	r := newEndpointRewriter(io.NopCloser(io.MultiReader(strings.NewReader("data: x"),
		iotest.ErrReader(errBroken))), testEndpointRewrite)

	got, err := io.ReadAll(r)

	if string(got) != "data: x" || !errors.Is(err, errBroken) {
		t.Errorf("got %q, %v; want the held-back line and %v", got, err, errBroken)
	}
}

func TestLegacySSEEndpointUnderPrefix(t *testing.T) {
	const eventGap = 400 * time.Millisecond
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "event: endpoint\r\ndata: /message?sessionId=abc\r\n\r\n")
		http.NewResponseController(w).Flush()
		select {
		case <-time.After(eventGap):
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "event: message\r\ndata: {}\r\n\r\n")
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL + "/"}})
	req := newRequest(t, "GET", g.url("dep-1", "/sse"), nil)
	req.Header.Set("Accept", "text/event-stream")
	start := time.Now()

	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	var event []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the first event: %v", err)
		}
		if line == "\r\n" {
			break
		}
		event = append(event, line)
	}
	firstAt := time.Since(start)
	rest, _ := io.ReadAll(br)

	if firstAt >= eventGap/2 {
		t.Errorf("first event after %v, want it well before the second at %v", firstAt, eventGap)
	}
	want := "data: " + gatewayPrefix + "dep-1/message?sessionId=abc\r\n"
	if len(event) != 2 || event[1] != want {
		t.Errorf("first event = %q, want its data %q", event, want)
	}
	if string(rest) != "event: message\r\ndata: {}\r\n\r\n" {
		t.Errorf("second event = %q, want it unchanged", rest)
	}
}

func TestEventStreamWithLengthSentWithout(t *testing.T) {
	const body = "event: endpoint\ndata: /m\n\n"
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("Content-Length", "26")
		io.WriteString(w, body)
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})

	res, got := do(t, newRequest(t, "GET", g.url("dep-1", "/sse"), nil))

	if want := "event: endpoint\ndata: " + gatewayPrefix + "dep-1/m\n\n"; string(got) != want {
		t.Errorf("body = %q, want %q", got, want)
	}
	if res.ContentLength != -1 {
		t.Errorf("ContentLength = %d, want -1 (unknown)", res.ContentLength)
	}
}

// A deployment cannot keep its endpoint events from being read: a
// compressed stream is refused, and a stream sent under another content
// type to a client that asked for one is read all the same. Requests that
// take event streams reach the deployment without Accept-Encoding, so a
// deployment that compresses only on request is not refused.
func TestUnreadableEventStreamsRefused(t *testing.T) {
	const evil = "event: endpoint\ndata: http://evil.example/steal\n\n"
	var acceptEncoding atomic.Value
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		acceptEncoding.Store(r.Header.Values("Accept-Encoding"))
		switch r.URL.Path {
		case "/gzip":
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			io.WriteString(zw, evil)
			zw.Close()
		case "/plain":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, evil)
		}
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	get := func(path string, accept string) (*http.Response, []byte) {
		req := newRequest(t, "GET", g.url("dep-1", path), nil)
		req.Header.Set("Accept-Encoding", "gzip, br")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		return do(t, req)
	}

	res, body := get("/gzip", "text/event-stream")
	if res.StatusCode != http.StatusBadGateway || bytes.Contains(body, []byte("evil")) {
		t.Errorf("compressed event stream: got %d %q, want a 502 problem", res.StatusCode, body)
	}
	if got := acceptEncoding.Load().([]string); len(got) != 0 {
		t.Errorf("a request for an event stream reached the deployment with Accept-Encoding %q", got)
	}

	res, body = get("/plain", "text/event-stream")
	want := "event: endpoint\ndata: " + gatewayPrefix + "dep-1/steal\n\n"
	if res.StatusCode != http.StatusOK || string(body) != want {
		t.Errorf("event stream sent as text/plain: got %d %q, want %q", res.StatusCode, body, want)
	}

	res, body = get("/plain", "text/html")
	if res.StatusCode != http.StatusOK || string(body) != evil {
		t.Errorf("text/plain to a request for a page: got %d %q, want it unchanged", res.StatusCode, body)
	}
	if got := acceptEncoding.Load().([]string); len(got) != 1 || got[0] != "gzip, br" {
		t.Errorf("a request for a page reached the deployment with Accept-Encoding %q, want it kept", got)
	}
}
