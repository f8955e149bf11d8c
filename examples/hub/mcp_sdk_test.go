package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// progressLog records when a client received each progress notification.
type progressLog struct {
	mu sync.Mutex
	at []time.Time
	of []float64
}

func (l *progressLog) handle(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at = append(l.at, time.Now())
	l.of = append(l.of, req.Params.Progress)
}

func (l *progressLog) snapshot() ([]time.Time, []float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.at), slices.Clone(l.of)
}

// settle returns the log once it holds n notifications, or after a second.
// The server sends the last notification just before the result, but the
// SDK client hands notifications to their handler concurrently with the
// result, so the handler may run a moment after CallTool has returned.
func (l *progressLog) settle(n int) ([]time.Time, []float64) {
	deadline := time.Now().Add(time.Second)
	for {
		at, of := l.snapshot()
		if len(of) >= n || time.Now().After(deadline) {
			return at, of
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newTestClient returns an SDK client that records progress in log.
func newTestClient(log *progressLog) *mcp.Client {
	return mcp.NewClient(&mcp.Implementation{Name: "hub-test", Version: "v0.0.1"},
		&mcp.ClientOptions{ProgressNotificationHandler: log.handle})
}

// exerciseTools lists the tools of session, calls add, and calls slow for
// seconds seconds with a progress token, checking that each progress
// notification arrived before the result, a second apart rather than all
// at the end.
func exerciseTools(t *testing.T, session *mcp.ClientSession, log *progressLog, seconds int) {
	t.Helper()
	ctx := t.Context()
	listAndAdd(t, session, "add", "echo", "slow")

	params := &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"seconds": seconds}}
	params.SetProgressToken("slow-1")
	res, err := session.CallTool(ctx, params)
	resultAt := time.Now()
	if err != nil {
		t.Fatalf("CallTool(slow): %v", err)
	}
	if res.IsError {
		t.Fatalf("CallTool(slow) = %+v, want success", res)
	}
	if _, early := log.snapshot(); len(early) < seconds-1 {
		t.Errorf("%d progress notifications before the result, want at least %d",
			len(early), seconds-1)
	}
	at, progress := log.settle(seconds)
	want := make([]float64, seconds)
	for i := range want {
		want[i] = float64(i + 1)
	}
	if !slices.Equal(progress, want) {
		t.Fatalf("progress = %v, want %v", progress, want)
	}
	if gap := resultAt.Sub(at[0]); gap < slowInterval/2 {
		t.Errorf("first progress %v before the result, want about %v: the stream was held back",
			gap, time.Duration(seconds-1)*slowInterval)
	}
}

func TestMCPLegacySSEThroughGateway(t *testing.T) {
	th := startHub(t)
	transport := &mcp.SSEClientTransport{
		Endpoint:   th.url + "/api/gateway/user-123/mcp-legacy-43/sse",
		HTTPClient: &http.Client{Transport: bearer{th.token("user-123"), th.client.Transport}},
	}
	log := new(progressLog)

	session, err := newTestClient(log).Connect(t.Context(), transport,
		&mcp.ClientSessionOptions{ProtocolVersion: "2024-11-05"})
	if err != nil {
		t.Fatalf("Connect (initialize): %v", err)
	}
	defer session.Close()

	if got := session.InitializeResult().ProtocolVersion; got != "2024-11-05" {
		t.Errorf("protocol version = %q, want 2024-11-05", got)
	}
	exerciseTools(t, session, log, 2)
	th.checkToolCallsCounted(t, "mcp-legacy-43", "add")
}

func TestLegacyMCPListedOnHomePage(t *testing.T) {
	th := startHub(t)

	_, body := th.getAs(t, "user-123", "/")

	if want := `href="/api/gateway/user-123/mcp-legacy-43/sse"`; !strings.Contains(string(body), want) {
		t.Errorf("home page of user-123 lacks %s", want)
	}
}

func TestMCPStreamableEachProtocolVersion(t *testing.T) {
	tests := []struct {
		ask, want string
	}{
		{"2026-07-28", "2026-07-28"},
		{"2025-11-25", "2025-11-25"},
		{"2025-06-18", "2025-06-18"},
		{"2025-03-26", "2025-03-26"},
		{"2024-11-05", "2024-11-05"},
	}
	for _, tt := range tests {
		t.Run(tt.ask, func(t *testing.T) {
			t.Parallel()
			th := startHub(t)
			transport := &mcp.StreamableClientTransport{
				Endpoint:   th.url + "/api/gateway/user-123/mcp-tools-42/mcp",
				HTTPClient: &http.Client{Transport: bearer{th.token("user-123"), th.client.Transport}},
				// The server keeps events, so a stream it ends early is
				// resumed rather than failed.
				MaxRetries: 2,
			}
			log := new(progressLog)

			session, err := newTestClient(log).Connect(t.Context(), transport,
				&mcp.ClientSessionOptions{ProtocolVersion: tt.ask})
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			defer session.Close()

			if got := session.InitializeResult().ProtocolVersion; got != tt.want {
				t.Errorf("negotiated %q, want %q", got, tt.want)
			}
			stateless := tt.want >= "2026-07-28"
			if id := session.ID(); stateless && id != "" {
				t.Errorf("stateless session has id %q, want none", id)
			} else if !stateless && id == "" {
				t.Error("no Mcp-Session-Id came back through the gateway")
			}
			exerciseTools(t, session, log, 2)
			th.checkToolCallsCounted(t, "mcp-tools-42", "add")
		})
	}
}

// streamBreaker breaks the first POST response stream that carries a
// progress notification right after that notification, as a dropped
// connection would, and records the Last-Event-ID of later requests.
type streamBreaker struct {
	next    http.RoundTripper
	broken  atomic.Bool
	mu      sync.Mutex
	resumed []string
}

func (b *streamBreaker) RoundTrip(r *http.Request) (*http.Response, error) {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		b.mu.Lock()
		b.resumed = append(b.resumed, id)
		b.mu.Unlock()
	}
	resp, err := b.next.RoundTrip(r)
	if err != nil || r.Method != http.MethodPost ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, err
	}
	resp.Body = &breakingBody{ReadCloser: resp.Body, b: b}
	return resp, nil
}

func (b *streamBreaker) lastEventIDs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.resumed)
}

type breakingBody struct {
	io.ReadCloser
	b    *streamBreaker
	seen bool
}

func (bb *breakingBody) Read(p []byte) (int, error) {
	if bb.seen && bb.b.broken.CompareAndSwap(false, true) {
		bb.ReadCloser.Close()
		return 0, io.ErrUnexpectedEOF
	}
	n, err := bb.ReadCloser.Read(p)
	if bytes.Contains(p[:n], []byte("notifications/progress")) {
		bb.seen = true
	}
	return n, err
}

func TestMCPStreamResumedWithLastEventID(t *testing.T) {
	th := startHub(t)
	breaker := &streamBreaker{next: bearer{th.token("user-123"), th.client.Transport}}
	transport := &mcp.StreamableClientTransport{
		Endpoint:             th.url + "/api/gateway/user-123/mcp-tools-42/mcp",
		HTTPClient:           &http.Client{Transport: breaker},
		MaxRetries:           3,
		DisableStandaloneSSE: true,
	}
	log := new(progressLog)
	session, err := newTestClient(log).Connect(t.Context(), transport,
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer session.Close()
	params := &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"seconds": 3}}
	params.SetProgressToken("slow-1")

	res, err := session.CallTool(t.Context(), params)

	if err != nil || res.IsError {
		t.Fatalf("CallTool(slow) = %+v, %v; want the result after the stream resumed", res, err)
	}
	if !breaker.broken.Load() {
		t.Fatal("the stream was never broken")
	}
	if ids := breaker.lastEventIDs(); len(ids) == 0 {
		t.Error("no request carried Last-Event-ID: the stream was not resumed")
	}
	if _, progress := log.settle(3); !slices.Equal(progress, []float64{1, 2, 3}) {
		t.Errorf("progress = %v, want [1 2 3], each once, across the break", progress)
	}
}
