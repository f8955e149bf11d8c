package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// traffic sends the soak's mix of requests to a hub and checks every
// answer.
type traffic struct {
	base     string // the hub's base URL
	tokens   map[string]string
	client   *http.Client
	tally    *tally
	upstream *upstream
	nonce    atomic.Int64
	restarts atomic.Int64
}

// gw returns the URL of path under user's deployment.
func (tr *traffic) gw(user, deployment, path string) string {
	return tr.base + "/api/gateway/" + user + "/" + deployment + path
}

// mine returns the URL of path under one of user-123's deployments.
func (tr *traffic) mine(deployment, path string) string {
	return tr.gw("user-123", deployment, path)
}

// do sends a request as user (no token when user is empty, a bad one when
// it is "bad") and returns the status and body, or an error.
func (tr *traffic) do(ctx context.Context, method, url, user string, body io.Reader) (
	int, []byte, error,
) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, err
	}
	switch user {
	case "":
	case "bad":
		req.Header.Set("Authorization", "Bearer not-a-token")
	default:
		req.Header.Set("Authorization", "Bearer "+tr.tokens[user])
	}
	resp, err := tr.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// paced runs step every interval until ctx is done, at most limit times.
func paced(ctx context.Context, interval time.Duration, limit int, step func(ctx context.Context)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for range limit {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		step(ctx)
	}
}

// maxSteps bounds every worker's loop, whatever the duration.
const maxSteps = 10_000_000

// run starts every worker and returns when ctx is done and they have all
// stopped.
func (tr *traffic) run(ctx context.Context) {
	var wg sync.WaitGroup
	worker := func(n int, interval time.Duration, step func(context.Context)) {
		for range n {
			wg.Go(func() { paced(ctx, interval, maxSteps, step) })
		}
	}
	worker(4, 40*time.Millisecond, tr.normal) // 100 a second, across six deployments
	worker(2, 50*time.Millisecond, tr.external)
	worker(3, 100*time.Millisecond, tr.events)
	worker(2, 100*time.Millisecond, tr.websocket)
	worker(1, 200*time.Millisecond, tr.mcp)
	worker(2, 50*time.Millisecond, tr.cancel)
	worker(1, 20*time.Millisecond, tr.refused)
	worker(1, 3*time.Millisecond, tr.hammer)
	wg.Go(func() { tr.restart(ctx) })
	wg.Wait()
}

// expect counts an answer of kind and reports whether it has one of the
// statuses allowed; an error is allowed only once ctx is done.
func (tr *traffic) expect(ctx context.Context, kind string, status int, err error,
	allowed ...int) bool {
	if err != nil {
		if ctx.Err() != nil {
			tr.tally.add(kind, "stopped")
			return false
		}
		tr.tally.add(kind, "error")
		tr.tally.unexpectedf("%s: %v", kind, err)
		return false
	}
	tr.tally.add(kind, status)
	for _, s := range allowed {
		if status == s {
			return true
		}
	}
	tr.tally.unexpectedf("%s: status %d, want one of %v", kind, status, allowed)
	return false
}

// succeeded counts a step of kind that returned err, and reports whether
// it succeeded; an error is allowed only once ctx is done.
func (tr *traffic) succeeded(ctx context.Context, kind string, err error) bool {
	if err != nil {
		return tr.expect(ctx, kind, 0, err)
	}
	tr.tally.add(kind, "ok")
	return true
}

// normal is one request of user-123 to one of the demo deployments, its
// answer checked for the user, the deployment and the request.
func (tr *traffic) normal(ctx context.Context) {
	nonce := strconv.FormatInt(tr.nonce.Add(1), 10)
	switch rand.IntN(6) {
	case 0, 1:
		size := rand.IntN(64 << 10)
		method, body := "GET", io.Reader(nil)
		if size%2 == 1 {
			method, body = "POST", bytes.NewReader(make([]byte, size))
		} else {
			size = 0
		}
		url := tr.mine("my-api-def456", "/echo?nonce="+nonce)
		status, b, err := tr.do(ctx, method, url, "user-123", body)
		if !tr.expect(ctx, "echo", status, err, http.StatusOK) {
			return
		}
		var e struct {
			Path      string      `json:"path"`
			RawQuery  string      `json:"rawQuery"`
			Headers   http.Header `json:"headers"`
			BodyBytes int         `json:"bodyBytes"`
		}
		if err := json.Unmarshal(b, &e); err != nil ||
			e.Path != "/echo" || e.RawQuery != "nonce="+nonce ||
			e.Headers.Get("X-Gateway-User-Id") != "user-123" ||
			e.Headers.Get("X-Gateway-Deployment-Id") != "my-api-def456" || e.BodyBytes != size {
			tr.tally.wrongf("echo nonce %s, %d bytes: got %.300s", nonce, size, b)
		}
	case 2:
		tr.page(ctx, "user-123", "webapp-789", "/", "<h1>Static site (demo)</h1>")
	case 3:
		tr.page(ctx, "user-123", "openwebui-abc123", "/", "The gateway says you are user-123.")
	case 4:
		tr.page(ctx, "user-123", "my-api-def456", "/api/v1/users", `"name":"Ada Lovelace"`)
	case 5:
		tr.page(ctx, "user-123", "webapp-789", "/static/css/main.css", "font-family: system-ui")
	}
}

// page fetches path of a deployment and checks that the body holds want.
func (tr *traffic) page(ctx context.Context, user, deployment, path, want string) {
	status, b, err := tr.do(ctx, "GET", tr.gw(user, deployment, path), user, nil)
	if tr.expect(ctx, deployment, status, err, http.StatusOK) && !bytes.Contains(b, []byte(want)) {
		tr.tally.wrongf("%s/%s%s: body %.200q lacks %q", user, deployment, path, b, want)
	}
}

// external asks the restartable deployment who is calling. While it is
// down, or its breaker is open after a restart, the gateway answers 502
// or 503.
func (tr *traffic) external(ctx context.Context) {
	nonce := strconv.FormatInt(tr.nonce.Add(1), 10)
	url := tr.mine("external-app-900", "/whoami?nonce="+nonce)
	status, b, err := tr.do(ctx, "GET", url, "user-123", nil)
	if !tr.expect(ctx, "external", status, err,
		http.StatusOK, http.StatusBadGateway, http.StatusServiceUnavailable) || status != http.StatusOK {
		return
	}
	var who whoami
	if err := json.Unmarshal(b, &who); err != nil ||
		who != (whoami{User: "user-123", Deployment: "external-app-900", Nonce: nonce}) {
		tr.tally.wrongf("external nonce %s: got %.200s", nonce, b)
	}
}

// events reads the web app's event stream: to its end (20 events), or,
// one time in three, only a few events before hanging up.
func (tr *traffic) events(ctx context.Context) {
	keep := 20
	if rand.IntN(3) == 0 {
		keep = 1 + rand.IntN(5)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", tr.mine("openwebui-abc123", "/events"), nil)
	req.Header.Set("Authorization", "Bearer "+tr.tokens["user-123"])
	resp, err := tr.client.Do(req)
	if !tr.expect(ctx, "events", statusOf(resp), err, http.StatusOK) {
		closeBody(resp)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	next := 1
	for next <= keep && sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "id: ")
		if !ok {
			continue
		}
		if id != strconv.Itoa(next) {
			tr.tally.wrongf("events: id %s, want %d", id, next)
			return
		}
		next++
	}
	switch {
	case next <= keep && ctx.Err() == nil:
		tr.tally.unexpectedf("events: stream ended after %d events (%v), want %d", next-1, sc.Err(), keep)
	case keep < 20:
		tr.tally.add("events", "hung up")
	}
}

// websocket echoes a few messages over the web app's WebSocket, and closes
// it properly or, one time in four, drops the connection.
func (tr *traffic) websocket(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(tr.mine("openwebui-abc123", "/ws"), "http")
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient: tr.client,
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tr.tokens["user-123"]}},
	})
	if !tr.expect(ctx, "websocket", statusOf(resp), err, http.StatusSwitchingProtocols) {
		return
	}
	defer c.CloseNow()
	for range 5 {
		msg := "nonce " + strconv.FormatInt(tr.nonce.Add(1), 10)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			tr.succeeded(ctx, "websocket write", err)
			return
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			tr.succeeded(ctx, "websocket read", err)
			return
		}
		if string(got) != msg {
			tr.tally.wrongf("websocket: sent %q, echoed %q", msg, got)
		}
	}
	if rand.IntN(4) == 0 {
		tr.tally.add("websocket", "dropped")
		return // CloseNow drops the connection
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil && ctx.Err() == nil {
		tr.tally.unexpectedf("websocket close: %v", err)
	}
}

// mcp opens an MCP session with the Go SDK, calls add and echo, and ends
// the session.
func (tr *traffic) mcp(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "soak", Version: "1"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: tr.mine("mcp-tools-42", "/mcp"),
		HTTPClient: &http.Client{
			Transport: bearer{token: tr.tokens["user-123"], next: tr.client.Transport},
		},
	}, nil)
	if !tr.succeeded(ctx, "mcp session", err) {
		return
	}
	defer session.Close()
	a, b := rand.IntN(1000), rand.IntN(1000)
	res, err := session.CallTool(ctx, &mcp.CallToolParams{
		Name: "add", Arguments: map[string]any{"a": a, "b": b}})
	if !tr.succeeded(ctx, "mcp add", err) {
		return
	}
	if text := toolText(res); text != strconv.Itoa(a+b) {
		tr.tally.wrongf("mcp add(%d, %d) = %q", a, b, text)
	}
	nonce := "nonce " + strconv.FormatInt(tr.nonce.Add(1), 10)
	res, err = session.CallTool(ctx, &mcp.CallToolParams{
		Name: "echo", Arguments: map[string]any{"text": nonce}})
	if !tr.succeeded(ctx, "mcp echo", err) {
		return
	}
	if text := toolText(res); text != nonce {
		tr.tally.wrongf("mcp echo(%q) = %q", nonce, text)
	}
}

func toolText(res *mcp.CallToolResult) string {
	if res == nil || res.IsError || len(res.Content) != 1 {
		return fmt.Sprintf("%+v", res)
	}
	if t, ok := res.Content[0].(*mcp.TextContent); ok {
		return t.Text
	}
	return fmt.Sprintf("%T", res.Content[0])
}

// bearer adds a token to every request, as an MCP client configured with
// one does.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// cancel starts a request and gives up on it part way: during a slow
// upload, during a download, or during an event stream.
func (tr *traffic) cancel(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var req *http.Request
	download := false
	switch rand.IntN(3) {
	case 0:
		pr, pw := io.Pipe()
		go func() {
			chunk := make([]byte, 4<<10)
			for ctx.Err() == nil {
				if _, err := pw.Write(chunk); err != nil {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			pw.CloseWithError(ctx.Err())
		}()
		req, _ = http.NewRequestWithContext(ctx, "POST", tr.mine("my-api-def456", "/echo"), pr)
	case 1:
		download = true
		req, _ = http.NewRequestWithContext(ctx, "GET",
			tr.mine("external-app-900", "/download?bytes=104857600"), nil)
	case 2:
		req, _ = http.NewRequestWithContext(ctx, "GET", tr.mine("openwebui-abc123", "/events"), nil)
	}
	req.Header.Set("Authorization", "Bearer "+tr.tokens["user-123"])
	time.AfterFunc(time.Duration(20+rand.IntN(200))*time.Millisecond, cancel)
	resp, err := tr.client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	switch {
	case err != nil && parent.Err() != nil:
		tr.tally.add("cancel", "stopped")
	case errors.Is(err, context.Canceled):
		tr.tally.add("cancel", "canceled")
	case download && errors.Is(err, io.ErrUnexpectedEOF):
		// The external deployment was stopped in the middle of it.
		tr.tally.add("cancel", "cut by a restart")
	case err != nil:
		tr.tally.unexpectedf("cancel: %v", err)
	default:
		tr.tally.add("cancel", resp.StatusCode) // finished, or refused, before the cancel
	}
}

// refused sends requests the gateway must refuse: no token or a bad one
// (401), another user's or a missing deployment (404), a stopped one
// (503), one whose upstream refuses connections (502, then 503).
func (tr *traffic) refused(ctx context.Context) {
	switch rand.IntN(6) {
	case 0:
		status, _, err := tr.do(ctx, "GET", tr.mine("my-api-def456", "/echo"), "", nil)
		tr.expect(ctx, "401 no token", status, err, http.StatusUnauthorized)
	case 1:
		status, _, err := tr.do(ctx, "GET", tr.mine("my-api-def456", "/echo"), "bad", nil)
		tr.expect(ctx, "401 bad token", status, err, http.StatusUnauthorized)
	case 2:
		status, b, err := tr.do(ctx, "GET", tr.gw("user-456", "private-app-777", "/"), "user-123", nil)
		if tr.expect(ctx, "404 other's", status, err, http.StatusNotFound) &&
			bytes.Contains(b, []byte("private app")) {
			tr.tally.wrongf("user-123 got user-456's private app: %.200s", b)
		}
	case 3:
		status, _, err := tr.do(ctx, "GET", tr.mine("no-such-app", "/"), "user-123", nil)
		tr.expect(ctx, "404 missing", status, err, http.StatusNotFound)
	case 4:
		status, _, err := tr.do(ctx, "GET", tr.mine("stopped-app-000", "/"), "user-123", nil)
		tr.expect(ctx, "503 stopped", status, err, http.StatusServiceUnavailable)
	case 5:
		status, _, err := tr.do(ctx, "GET", tr.mine("broken-app-500", "/"), "user-123", nil)
		tr.expect(ctx, "broken", status, err, http.StatusBadGateway, http.StatusServiceUnavailable)
	}
}

// hammer is user-456 calling their private app faster than the hub's
// per-deployment rate allows, so that part of it is answered 429.
func (tr *traffic) hammer(ctx context.Context) {
	status, b, err := tr.do(ctx, "GET", tr.gw("user-456", "private-app-777", "/"), "user-456", nil)
	if tr.expect(ctx, "hammer", status, err, http.StatusOK, http.StatusTooManyRequests) &&
		status == http.StatusOK && !bytes.Contains(b, []byte("user-456's private app")) {
		tr.tally.wrongf("user-456's private app: got %.200s", b)
	}
}

// restart stops the external deployment's server for a few seconds every
// restartEvery, as a redeploy would.
func (tr *traffic) restart(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(restartEvery):
		}
		tr.upstream.stop()
		select {
		case <-ctx.Done():
		case <-time.After(restartDown):
		}
		// Started again even once ctx is done, so that the run ends with
		// the deployment up.
		startCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := tr.upstream.start(startCtx)
		cancel()
		if err != nil {
			tr.tally.unexpectedf("restarting the external deployment: %v", err)
			return
		}
		tr.restarts.Add(1)
	}
}

// The external deployment is stopped for restartDown every restartEvery:
// long enough for its breaker to open, and rarely enough that it is
// closed again (30s later) for most of the run.
const (
	restartEvery = 40 * time.Second
	restartDown  = 3 * time.Second
)

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

func closeBody(resp *http.Response) {
	if resp != nil {
		resp.Body.Close()
	}
}
