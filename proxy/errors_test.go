package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mcphub/apigateway/internal/problem"
	"github.com/mcphub/apigateway/internal/requestid"
)

func TestWriteErrorMapsToProblems(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp",
		Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 11), Port: 8080}, Err: syscall.ECONNREFUSED}
	bg := context.Background()
	canceled, cancel := context.WithCancel(bg)
	cancel()
	expired, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		err      error
		want     problem.Problem
		sentinel error
	}{
		{"connection refused", bg, refused, problem.BadGateway, ErrUpstreamUnreachable},
		{"network timeout", bg, &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded},
			problem.GatewayTimeout, ErrUpstreamTimeout},
		{"deadline exceeded", bg, fmt.Errorf("round trip: %w", context.DeadlineExceeded),
			problem.GatewayTimeout, ErrUpstreamTimeout},
		{"request deadline passed", expired, context.DeadlineExceeded,
			problem.GatewayTimeout, ErrUpstreamTimeout},
		{"client went away", canceled, context.Canceled, problem.ClientClosed, ErrClientGone},
		{"no target", bg, ErrNoTarget, problem.Internal, ErrNoTarget},
		{"already classified", canceled, fmt.Errorf("%w: x", ErrUpstreamTimeout),
			problem.GatewayTimeout, ErrUpstreamTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := requestid.NewContext(tt.ctx, "req-1")
			r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
			rec := httptest.NewRecorder()

			WriteError(rec, r, tt.err)

			if rec.Code != tt.want.Status {
				t.Errorf("status = %d, want %d", rec.Code, tt.want.Status)
			}
			var got problem.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if got.Type != tt.want.Type || got.RequestID != "req-1" {
				t.Errorf("problem = %+v, want type %s and request id req-1", got, tt.want.Type)
			}
			if strings.Contains(rec.Body.String(), "10.0.0.11") {
				t.Errorf("problem body %s names the upstream address", rec.Body)
			}
			if err := classify(r, tt.err); !errors.Is(err, tt.sentinel) || !errors.Is(err, tt.err) {
				t.Errorf("classify = %v, want it to wrap both %v and %v", err, tt.sentinel, tt.err)
			}
		})
	}
}

func TestErrorHandlerReceivesWrappedTransportError(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := refused.Addr().String()
	refused.Close()
	errs := make(chan error, 1)
	handler := func(w http.ResponseWriter, r *http.Request, err error) {
		errs <- err
		w.WriteHeader(http.StatusTeapot)
	}
	g := newGateway(t, Config{ErrorHandler: handler},
		gatewayOptions{upstreams: map[string]string{"dep-1": "http://" + addr}})

	res, _ := do(t, newRequest(t, "GET", g.url("dep-1", "/"), nil))

	if res.StatusCode != http.StatusTeapot {
		t.Errorf("status = %d, want the custom handler's %d", res.StatusCode, http.StatusTeapot)
	}
	got := <-errs
	var opErr *net.OpError
	if !errors.Is(got, ErrUpstreamUnreachable) || !errors.As(got, &opErr) {
		t.Errorf("error = %v, want ErrUpstreamUnreachable wrapping the *net.OpError", got)
	}
}

// Requests that are the client's mistake are answered 400 with the problem
// that names it, never as a deployment's failure. A malformed body is found
// out while the upstream reads it; a protocol switch that cannot be printed
// is refused before the upstream hears of it.
func TestClientMistakesAre400(t *testing.T) {
	tests := []struct {
		name, request, problem string
		upstreamReached        bool
	}{
		{"malformed chunked body", "POST " + gatewayPrefix + "dep-1/echo HTTP/1.1\r\nHost: x\r\n" +
			"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\nZZZ\r\n",
			"invalid-request-body", true},
		{"unprintable Upgrade", "GET " + gatewayPrefix + "dep-1/ws HTTP/1.1\r\nHost: x\r\n" +
			"Connection: Upgrade\r\nUpgrade: web\x80socket\r\nConnection: close\r\n\r\n",
			"invalid-request\"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reached atomic.Bool
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				reached.Store(true)
				io.Copy(io.Discard, r.Body)
			})
			g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})

			resp, body := rawRequest(t, g.Server, tt.request)

			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", resp.StatusCode, body)
			}
			if !strings.Contains(string(body), tt.problem) {
				t.Errorf("body = %s, want the %s problem", body, strings.Trim(tt.problem, `"`))
			}
			if reached.Load() && !tt.upstreamReached {
				t.Error("the request reached the upstream")
			}
		})
	}
}
