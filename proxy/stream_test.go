package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	"github.com/mcphub/apigateway/internal/problem"
)

func TestEarlyHintsRelayedWithoutHopByHopHeaders(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Link", "</style.css>; rel=preload; as=style")
		h.Set("Connection", "X-Nom")
		h.Set("X-Nom", "v")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Set-Cookie", "early=1")
		h.Set("Strict-Transport-Security", "max-age=0")
		w.WriteHeader(http.StatusEarlyHints)
		clear(h)
		h.Set("Content-Type", "text/plain")
		w.Write([]byte("done"))
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	res, body, hints := getWithEarlyHints(t, g.url("dep-1", "/"))

	want := []http.Header{{"Link": {"<" + gatewayPrefix + "dep-1/style.css>; rel=preload; as=style"}}}
	if diff := cmp.Diff(want, hints); diff != "" {
		t.Errorf("103 headers at the client (-want +got):\n%s", diff)
	}
	if string(body) != "done" {
		t.Errorf("body = %q, want %q", body, "done")
	}
	// Headers middleware set before the 103 must survive it.
	if res.Header.Get(HeaderRequestID) == "" {
		t.Error("final response lost X-Request-Id set before the 103")
	}
	wantSecurityHeaders(t, res.Header, "SAMEORIGIN")
}

// A 103 is scoped like the final response: its Location cannot show the
// client the deployment's internal address, nor its headers speak for the
// gateway.
func TestEarlyHintsScopedToDeployment(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Location", "http://"+r.Host+"/base/next")
		h.Set("Content-Location", "/base/doc")
		h.Set("Link", "</style.css>; rel=preload; as=style")
		h.Set("X-RateLimit-Remaining", "999")
		h.Set("Access-Control-Allow-Origin", "*")
		w.WriteHeader(http.StatusEarlyHints)
		clear(h)
		w.Write([]byte("done"))
	})
	g := newGateway(t, Config{},
		gatewayOptions{upstreams: map[string]string{"dep-1": up.URL + "/base"}})
	_, _, hints := getWithEarlyHints(t, g.url("dep-1", "/"))

	const prefix = gatewayPrefix + "dep-1"
	want := []http.Header{{
		"Location":         {prefix + "/next"},
		"Content-Location": {prefix + "/doc"},
		"Link":             {"<" + prefix + "/style.css>; rel=preload; as=style"},
	}}
	if diff := cmp.Diff(want, hints); diff != "" {
		t.Errorf("103 headers at the client (-want +got):\n%s", diff)
	}
}

func TestExpectContinueWithEarlyRefusal(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="app"`)
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "no")
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	body := make([]byte, 1<<20)
	rand.Read(body)
	tests := []struct {
		name string
		wait time.Duration // the client's ExpectContinueTimeout
		// mayReset: a client that sends the body without waiting can see
		// its connection reset when the gateway closes it with the body
		// unread, before it reads the answer; that is TCP, not a hang.
		mayReset bool
	}{
		{"client waits for 100 Continue", 10 * time.Second, false},
		{"client sends the body at once", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := &http.Client{
				Transport: &http.Transport{ExpectContinueTimeout: tt.wait},
				Timeout:   5 * time.Second,
			}
			defer client.CloseIdleConnections()
			req := newRequest(t, "POST", g.url("dep-1", "/upload"), bytes.NewReader(body))
			req.Header.Set("Expect", "100-continue")
			start := time.Now()

			res, err := client.Do(req)

			switch {
			case err == nil:
				got, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusUnauthorized || string(got) != "no" {
					t.Errorf("response = %d %q, want 401 \"no\"", res.StatusCode, got)
				}
			case !tt.mayReset:
				t.Fatalf("POST: %v", err)
			}
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("answer took %v, want it prompt", elapsed)
			}
			select {
			case got := <-g.statuses:
				if got != http.StatusUnauthorized {
					t.Errorf("gateway answered %d, want 401", got)
				}
			case <-time.After(2 * time.Second):
				t.Error("gateway handler still running 2s later")
			}
		})
	}
}

func TestServerSentEventsFlushedAsWritten(t *testing.T) {
	const firstDelay = 300 * time.Millisecond
	tests := []struct {
		name, contentType, event string
	}{
		{"event stream", "text/event-stream", "data: %d\n\n"},
		{"ndjson of unknown length", "application/x-ndjson", "{\"n\":%d}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(http.StatusOK)
				http.NewResponseController(w).Flush()
				time.Sleep(firstDelay)
				for i := range 5 {
					io.WriteString(w, strings.Replace(tt.event, "%d", string(rune('0'+i)), 1))
					http.NewResponseController(w).Flush()
					time.Sleep(50 * time.Millisecond)
				}
			})
			g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
			req := newRequest(t, "GET", g.url("dep-1", "/events"), nil)
			req.Header.Set("Accept", tt.contentType)
			req.Header.Set("Accept-Encoding", "gzip, br")
			start := time.Now()

			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			headersAt := time.Since(start)
			line, err := bufio.NewReader(res.Body).ReadString('\n')
			firstAt := time.Since(start)
			if err != nil {
				t.Fatalf("reading first event: %v", err)
			}
			io.Copy(io.Discard, res.Body)
			endAt := time.Since(start)

			if headersAt >= firstDelay/2 {
				t.Errorf("headers after %v, want them well before the first event at %v",
					headersAt, firstDelay)
			}
			if !strings.Contains(line, "0") {
				t.Errorf("first line = %q, want the first event", line)
			}
			if endAt-firstAt < 150*time.Millisecond {
				t.Errorf("first event at %v, stream end at %v: want the event long before the end",
					firstAt, endAt)
			}
			if ce := res.Header.Get("Content-Encoding"); ce != "" {
				t.Errorf("Content-Encoding = %q, want the stream uncompressed", ce)
			}
		})
	}
}

func TestWebSocketThroughMiddleware(t *testing.T) {
	handshake := make(chan http.Header, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		handshake <- r.Header.Clone()
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Set-Cookie", "ws=1; Path=/")
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:       []string{"v2"},
			InsecureSkipVerify: true,
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(2 << 20)
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	spoofed := http.Header{
		"Origin":            {"https://" + publicHost},
		"Cookie":            {"gw_session=S1; app_pref=dark; csrftoken=xyz"},
		"Authorization":     {"Bearer T1"},
		"X-Forwarded-For":   {"203.0.113.9"},
		"X-Gateway-User-Id": {"user-2"},
	}

	c, res, err := websocket.Dial(ctx, wsURL(g.url("dep-1", "/ws")), &websocket.DialOptions{
		HTTPHeader:   spoofed,
		Subprotocols: []string{"chat", "v2"},
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.CloseNow()
	c.SetReadLimit(2 << 20)

	t.Run("handshake request cleaned like any other", func(t *testing.T) {
		h := <-handshake
		if got, want := h.Get("Cookie"), "app_pref=dark; csrftoken=xyz"; got != want {
			t.Errorf("upstream Cookie = %q, want %q", got, want)
		}
		if v := h.Get("Authorization"); v != "" {
			t.Errorf("upstream Authorization = %q, want the gateway's token removed", v)
		}
		want := map[string][]string{"X-Forwarded-For": {"127.0.0.1"}, HeaderUserID: {"user-1"}}
		for k, v := range want {
			if diff := cmp.Diff(v, h[k]); diff != "" {
				t.Errorf("upstream %s (-want +got):\n%s", k, diff)
			}
		}
	})
	t.Run("101 carries subprotocol, scoped cookie and security headers once", func(t *testing.T) {
		if got := c.Subprotocol(); got != "v2" {
			t.Errorf("subprotocol = %q, want %q", got, "v2")
		}
		wantSecurityHeaders(t, res.Header, "SAMEORIGIN")
		if got, want := res.Header.Get("Set-Cookie"), "ws=1; Path="+gatewayPrefix+"dep-1"; got != want {
			t.Errorf("Set-Cookie = %q, want %q", got, want)
		}
		if got := res.Header[HeaderRequestID]; len(got) != 1 {
			t.Errorf("X-Request-Id = %q, want one", got)
		}
	})
	t.Run("frames echoed byte for byte", func(t *testing.T) {
		big := make([]byte, 1<<20)
		rand.Read(big)
		for _, m := range []struct {
			typ websocket.MessageType
			msg []byte
		}{{websocket.MessageText, []byte("hello")}, {websocket.MessageBinary, big}} {
			if err := c.Write(ctx, m.typ, m.msg); err != nil {
				t.Fatalf("Write: %v", err)
			}
			typ, got, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if typ != m.typ || !bytes.Equal(got, m.msg) {
				t.Errorf("echo of %d bytes differs (type %v, %d bytes)", len(m.msg), typ, len(got))
			}
		}
	})
	t.Run("pings answered and normal close", func(t *testing.T) {
		// Pongs and the close frame are read by a concurrent Read.
		readErr := make(chan error, 1)
		go func() {
			_, _, err := c.Read(ctx)
			readErr <- err
		}()
		for range 3 {
			if err := c.Ping(ctx); err != nil {
				t.Errorf("Ping: %v", err)
			}
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-readErr; websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Errorf("Read after close = %v, want a normal closure", err)
		}
	})

	if got := <-g.statuses; got != http.StatusSwitchingProtocols {
		t.Errorf("middleware recorded status %d, want 101", got)
	}
}

func TestWebSocketUpstreamDiesMidSession(t *testing.T) {
	kill := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		<-kill
		c.CloseNow() // the TCP connection drops without a close frame
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL(g.url("dep-1", "/ws")), nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.CloseNow()

	close(kill)
	_, _, err = c.Read(ctx)
	c.CloseNow()

	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Read after the upstream died = %v, want the connection closed", err)
	}
	if got := <-g.statuses; got != http.StatusSwitchingProtocols {
		t.Errorf("middleware recorded status %d, want 101", got)
	}
	if log := g.errorLog.String(); strings.Contains(log, "WriteHeader") {
		t.Errorf("server log %q, want no late WriteHeader", log)
	}
}

func TestWebSocketRefusalRelayed(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no websocket for you", http.StatusBadRequest)
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_, res, err := websocket.Dial(ctx, wsURL(g.url("dep-1", "/ws")), nil)

	if err == nil {
		t.Fatal("Dial succeeded, want the refusal")
	}
	if res == nil {
		t.Fatalf("Dial: %v, want a response", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "no websocket") {
		t.Errorf("response = %d %q, want the upstream's 400 and body", res.StatusCode, body)
	}
}

func TestClientAbortCancelsUpstream(t *testing.T) {
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
	}{
		{"slow response", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}},
		{"event stream", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-r.Context().Done():
					return
				case <-tick.C:
					io.WriteString(w, "data: tick\n\n")
					http.NewResponseController(w).Flush()
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan time.Time, 1)
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				tt.handler(w, r)
				done <- time.Now()
			})
			g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
			ctx, cancel := context.WithCancel(context.Background())
			req := newRequest(t, "GET", g.url("dep-1", "/"), nil).WithContext(ctx)
			go func() {
				if res, err := http.DefaultClient.Do(req); err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			}()

			time.Sleep(200 * time.Millisecond)
			cancel()
			abortedAt := time.Now()

			select {
			case ended := <-done:
				if d := ended.Sub(abortedAt); d > time.Second {
					t.Errorf("upstream ended %v after the abort, want within 1s", d)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("upstream still running 2s after the client went away")
			}
			if got := <-g.statuses; got != problem.StatusClientClosedRequest && got != http.StatusOK {
				t.Errorf("recorded status %d, want 499 (or 200 for a stream already under way)", got)
			}
		})
	}
}

func TestSilentUpstreamTimesOut(t *testing.T) {
	const timeout = 200 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	g := newGateway(t, Config{Transport: NewTransport(TransportConfig{ResponseHeaderTimeout: timeout})},
		gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	start := time.Now()

	res, body := do(t, newRequest(t, "GET", g.url("dep-1", "/hang"), nil))

	elapsed := time.Since(start)
	if res.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("status = %d, want 504; body %s", res.StatusCode, body)
	}
	if elapsed < timeout || elapsed > timeout+time.Second {
		t.Errorf("answered after %v, want about %v", elapsed, timeout)
	}
}

func TestExpectContinueRelayedWhenUpstreamReads(t *testing.T) {
	up := newUpstream(t, echoHandler)
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	client := &http.Client{
		Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second},
		Timeout:   5 * time.Second,
	}
	defer client.CloseIdleConnections()
	var continues atomic.Int32
	trace := &httptrace.ClientTrace{Got100Continue: func() { continues.Add(1) }}
	req := newRequest(t, "POST", g.url("dep-1", "/upload"), bytes.NewReader(make([]byte, 1<<20)))
	req.Header.Set("Expect", "100-continue")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	start := time.Now()

	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()

	if e := decodeEcho(t, body); e.BodyLen != 1<<20 {
		t.Errorf("upstream read %d bytes, want %d", e.BodyLen, 1<<20)
	}
	if got := continues.Load(); got != 1 {
		t.Errorf("client got %d 100 Continue, want 1", got)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %v, want the 100 relayed at once", elapsed)
	}
}

func TestWebSocketWithoutMiddleware(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err == nil {
			c.Write(r.Context(), typ, msg)
		}
	})
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(up.URL)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := &Target{Upstream: u, Path: r.URL.EscapedPath()}
		p.ServeHTTP(w, r.WithContext(NewContext(r.Context(), target)))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	c, _, err := websocket.Dial(ctx, wsURL(srv.URL+"/ws"), nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_, got, err := c.Read(ctx)

	if err != nil || string(got) != "hi" {
		t.Errorf("echo = %q, %v; want \"hi\"", got, err)
	}
}

func TestCredentialsStrippedOnEventStream(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: "+r.Header.Get("Cookie")+"|"+r.Header.Get("Authorization")+"\n\n")
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})
	req := newRequest(t, "GET", g.url("dep-1", "/events"), nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cookie", "gw_session=S1; app_pref=dark; csrftoken=xyz")
	req.Header.Set("Authorization", "Bearer T1")

	_, body := do(t, req)

	if got, want := string(body), "data: app_pref=dark; csrftoken=xyz|\n\n"; got != want {
		t.Errorf("event = %q, want %q", got, want)
	}
}

func TestTrailersRelayed(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Grpc-Status")
		io.WriteString(w, "body")
		w.Header().Set("Grpc-Status", "0")
	})
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})

	res, body := do(t, newRequest(t, "GET", g.url("dep-1", "/"), nil))

	if string(body) != "body" || res.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("body %q, trailer %v; want \"body\" and Grpc-Status: 0", body, res.Trailer)
	}
}

// wsURL turns an http:// URL into a ws:// one.
func wsURL(httpURL string) string {
	return "ws" + strings.TrimPrefix(httpURL, "http")
}

// getWithEarlyHints GETs url and returns the final response with its body,
// and the header sections of the 103 responses that came before it.
func getWithEarlyHints(t *testing.T, url string) (*http.Response, []byte, []http.Header) {
	t.Helper()
	var hints []http.Header
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		if code == http.StatusEarlyHints {
			hints = append(hints, http.Header(h).Clone())
		}
		return nil
	}}
	req := newRequest(t, "GET", url, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	res, body := do(t, req)
	return res, body, hints
}
