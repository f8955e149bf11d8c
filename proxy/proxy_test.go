package proxy

import (
	"bufio"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcphub/apigateway/internal/problem"
	"github.com/mcphub/apigateway/internal/requestid"
	"github.com/mcphub/apigateway/internal/respwriter"
)

// Fixtures shared by the tests, after the field cases.
const (
	publicHost    = "platform.example.test"
	gatewayPrefix = "/api/gateway/user-1/"
	sessionCookie = "gw_session"
)

// echoed is what the echo upstream reports about the request it received.
type echoed struct {
	URI     string      `json:"uri"`
	Host    string      `json:"host"`
	Header  http.Header `json:"header"`
	BodyLen int64       `json:"body_len"`
}

// echoHandler answers with the request it received, as JSON.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(echoed{URI: r.RequestURI, Host: r.Host, Header: r.Header, BodyLen: n})
}

// newUpstream starts an httptest server for h, closed with the test.
func newUpstream(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// testGateway stands in for the gateway package: it routes
// /api/gateway/user-1/{deployment}/{path...} to the deployment's upstream
// with a Target, behind the request id and security header middleware. The
// path below the deployment is taken from the escaped path as it came.
type testGateway struct {
	*httptest.Server
	proxy     *Proxy
	upstreams map[string]*url.URL
	statuses  chan int // final status of each request, as middleware saw it
	errorLog  *lockedBuffer
}

type gatewayOptions struct {
	// upstreams maps deployment ids to upstream URLs.
	upstreams map[string]string
	// platform answers every path outside /api/gateway/. Nil means 404.
	platform http.HandlerFunc
}

func newGateway(t *testing.T, cfg Config, opts gatewayOptions) *testGateway {
	t.Helper()
	if cfg.SessionCookie == "" {
		cfg.SessionCookie = sessionCookie
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	g := &testGateway{
		proxy:     p,
		upstreams: make(map[string]*url.URL),
		statuses:  make(chan int, 100),
		errorLog:  new(lockedBuffer),
	}
	for dep, raw := range opts.upstreams {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		g.upstreams[dep] = u
	}

	route := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.EscapedPath(), gatewayPrefix)
		if !ok {
			if opts.platform != nil {
				opts.platform(w, r)
				return
			}
			problem.Write(w, r, problem.NotFound)
			return
		}
		dep, path, _ := strings.Cut(rest, "/")
		u, ok := g.upstreams[dep]
		if !ok {
			problem.Write(w, r, problem.NotFound)
			return
		}
		target := &Target{
			Upstream:     u,
			Prefix:       gatewayPrefix + dep,
			Path:         "/" + path,
			UserID:       "user-1",
			DeploymentID: dep,
			// The stand-in authenticates bearer T1; any other
			// Authorization belongs to the application.
			StripAuthorization: r.Header.Get("Authorization") == "Bearer T1",
		}
		p.ServeHTTP(w, r.WithContext(NewContext(r.Context(), target)))
	})
	record := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := respwriter.Wrap(w, nil)
			// Deferred: ReverseProxy aborts a broken stream by panicking
			// with http.ErrAbortHandler.
			defer func() {
				select {
				case g.statuses <- rw.Status():
				default:
				}
			}()
			next.ServeHTTP(rw, r)
		})
	}
	h := record(requestid.Middleware(nil)(DefaultSecurityHeaders().Handler(route)))

	g.Server = httptest.NewUnstartedServer(h)
	g.Config.ErrorLog = log.New(g.errorLog, "", 0)
	g.Start()
	t.Cleanup(g.Close)
	return g
}

// url returns the gateway URL of path below deployment dep.
func (g *testGateway) url(dep, path string) string {
	return g.URL + gatewayPrefix + dep + path
}

// lockedBuffer collects a server's error log.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rawRequest sends raw bytes to srv, so paths and header lines arrive
// exactly as written, and returns the response with its body read.
func rawRequest(t *testing.T, srv *httptest.Server, raw string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return res, body
}

// decodeEcho decodes the echo upstream's report.
func decodeEcho(t *testing.T, body []byte) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decoding echo %q: %v", body, err)
	}
	return e
}

// do sends req through the default client and returns the response with
// its body read.
func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func newRequest(t *testing.T, method, target string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestNewRejectsInvalidSessionCookieName(t *testing.T) {
	for _, name := range []string{"gw session", "gw;session", "gw=1", "gw\x7f"} {
		if _, err := New(Config{SessionCookie: name}); err == nil {
			t.Errorf("New(SessionCookie: %q) succeeded, want an error", name)
		}
	}
	if _, err := New(Config{}); err != nil {
		t.Errorf("New(Config{}) = %v, want the zero value to work", err)
	}
}

func TestRequestWithoutTargetIsInternalError(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()

	p.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))

	if got, want := rec.Code, http.StatusInternalServerError; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	if got, want := rec.Header().Get("Content-Type"), problem.ContentType; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
}
