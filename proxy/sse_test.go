package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
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
		{"CR alone, sent as CRLF",
			"event: endpoint\rdata: /message\r\rdata: /other\r\r",
			"event: endpoint\r\ndata: /gw/dep-1/message\r\n\r\ndata: /other\r\n\r\n"},
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
		{"unterminated last line, read as clients read it",
			"event: endpoint\ndata: http://evil.example/steal",
			"event: endpoint\ndata: /gw/dep-1/steal"},
		{"event field too long to read is dropped",
			"event: endpoint" + strings.Repeat(" ", maxEventLine) + "\ndata: http://evil.example/steal\n\n",
			"data: http://evil.example/steal\n\n"},
		{"event field padded before its name is dropped",
			"event:" + strings.Repeat(" ", maxEventLine) + "endpoint\r\ndata: /a\r\n\r\n",
			"data: /a\r\n\r\n"},
		{"long event field inside an endpoint event is dropped",
			"event: endpoint\nevent: " + long + "\ndata: /a\n\n",
			"event: endpoint\ndata: /gw/dep-1/a\n\n"},
		{"byte order mark opening the stream",
			"\uFEFFevent: endpoint\ndata: /api/gateway/user-1/other/mcp\n\n",
			"event: endpoint\ndata: /gw/dep-1/api/gateway/user-1/other/mcp\n\n"},
		{"byte order mark later is data",
			"data: x\n\n\uFEFFevent: endpoint\ndata: /a\n\n",
			"data: x\n\n\uFEFFevent: endpoint\ndata: /a\n\n"},
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

// sdkEvents reads an event stream as the official Go MCP SDK does: lines
// end at LF (a CR before it is trimmed), a line without a colon ends the
// stream, names are exact, values and data lines are trimmed of space,
// and an event left open at the end is dispatched.
func sdkEvents(stream string) (names, data []string) {
	var name string
	var lines []string
	open := false
	dispatch := func() {
		if open {
			names, data = append(names, name), append(data, strings.Join(lines, "\n"))
		}
		name, lines, open = "", nil, false
	}
	for line := range strings.SplitSeq(stream, "\n") {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			dispatch()
			continue
		}
		before, after, ok := strings.Cut(line, ":")
		if !ok {
			return names, data
		}
		open = true
		switch before {
		case "event":
			name = strings.TrimSpace(after)
		case "data":
			lines = append(lines, strings.TrimSpace(after))
		}
	}
	dispatch()
	return names, data
}

// specEvents reads an event stream as the HTML standard (and so the
// TypeScript SDK's parser) does: one byte order mark ignored, lines ending
// at CR, LF or CRLF, one space after the colon dropped, events dispatched
// only at a blank line.
func specEvents(stream string) (names, data []string) {
	stream = strings.TrimPrefix(stream, "\uFEFF")
	stream = strings.ReplaceAll(stream, "\r\n", "\n")
	stream = strings.ReplaceAll(stream, "\r", "\n")
	var name, buf string
	for line := range strings.SplitSeq(stream, "\n") {
		if line == "" {
			if buf != "" {
				names, data = append(names, name), append(data, strings.TrimSuffix(buf, "\n"))
			}
			name, buf = "", ""
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "data":
			buf += value + "\n"
		}
	}
	return names, data
}

// FuzzEndpointEventsStayOnDeployment: whatever stream a deployment sends,
// read through the rewriter by either kind of client, every event a
// client could take for an endpoint event names a URL that, resolved
// against the stream's own URL as a browser would, stays on the gateway
// under the deployment's prefix.
func FuzzEndpointEventsStayOnDeployment(f *testing.F) {
	for _, seed := range []string{
		"event: endpoint\ndata: /message?sessionId=abc\n\n",
		"data: http://evil.example/steal\nevent: endpoint\n\n",
		"event:  Endpoint \r\ndata: //evil.example/x\r\n\r\n",
		"\uFEFFevent: endpoint\ndata: /x\n\n",
		"event: endpoint\ndata: http://evil.example/steal",
		"event: endpoint\rdata: /../../other\r\r",
		"event: message\ndata: {}\nevent: endpoint\n\n",
		": comment\nid: 1\nretry: 10\nevent: endpoint\ndata: \\\\evil.example\\x\n\n",
	} {
		f.Add(seed, 0)
	}
	f.Fuzz(func(t *testing.T, stream string, pad int) {
		if pad%2 != 0 {
			// A line about as long as the rewriter holds back, on either
			// side of the limit.
			n := maxEventLine - 8 + (pad/2%16+16)%16
			stream = strings.Replace(stream, " ", " "+strings.Repeat(" ", n), 1)
		}
		out := rewriteStream(t, iotest.HalfReader(strings.NewReader(stream)))
		if leaks := endpointLeaks(out); len(leaks) > 0 {
			t.Fatalf("%s, from rewritten stream %q", leaks[0], out)
		}
	})
}

// endpointLeaks reads a rewritten stream as the Go SDK and as the HTML
// standard do, and describes every event either could take for an
// endpoint event whose URL, resolved against the stream's own URL as a
// browser would, leaves the gateway or the deployment's prefix.
func endpointLeaks(out string) []string {
	base, _ := url.Parse("http://gw.example/gw/dep-1/sse")
	var leaks []string
	for reader, read := range map[string]func(string) ([]string, []string){
		"Go SDK": sdkEvents, "standard": specEvents,
	} {
		names, data := read(out)
		for i, name := range names {
			if !strings.EqualFold(strings.TrimSpace(name), "endpoint") || data[i] == "" {
				continue
			}
			d := strings.NewReplacer("\\", "/", "\t", "", "\n", "", "\r", "").Replace(data[i])
			u, err := url.Parse(d)
			if err != nil {
				continue // no client can use it
			}
			r := base.ResolveReference(u)
			if p := path.Clean(r.Path); r.Scheme != "http" || r.Host != "gw.example" ||
				!strings.HasPrefix(p+"/", "/gw/dep-1/") {
				leaks = append(leaks, fmt.Sprintf("%s client reads endpoint %q, which leads to %s", reader, data[i], r))
			}
		}
	}
	return leaks
}

// Streams a deployment could send to get an endpoint past the rewriter:
// lone CRs, which end a line for the standard's readers but not for the
// Go SDK's; a URL after a second scheme; data lines that a browser would
// join into another URL.
func TestEndpointTricksStayOnDeployment(t *testing.T) {
	for _, stream := range []string{
		"event: endpoint\r\r\ndata: http://evil.example/steal\n\n",
		"event:\rendpoint\ndata: http://evil.example/steal\n\n",
		"event: endpoint\ndata:\rhttp://evil.example/steal\n\n",
		"event: endpoint\ndata: \r http://evil.example/steal\n\n",
		"event: message\ndata: http://evil.example/steal\r\r\nevent: endpoint\n\n",
		"event: endpoint\ndata: x:http://evil.example/steal\n\n",
		"event: endpoint\ndata: http:http://evil.example/steal\n\n",
		"event: endpoint\ndata: x: http://evil.example/steal\n\n",
		"event: endpoint\ndata: https\ndata: :\ndata: //evil.example/x\n\n",
	} {
		out := rewriteStream(t, iotest.OneByteReader(strings.NewReader(stream)))
		if leaks := endpointLeaks(out); len(leaks) > 0 {
			t.Errorf("stream %q: %s", stream, strings.Join(leaks, "; "))
		}
	}
}
