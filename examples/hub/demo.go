package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/mcphub/apigateway/gateway"
)

// The demo event stream: sseEvents events, sseInterval apart.
const (
	sseEvents   = 20
	sseInterval = 100 * time.Millisecond
)

// maxEchoBody bounds the body /echo counts, so a client cannot keep a demo
// server busy forever.
const maxEchoBody = 256 << 20

// demoApps are the hub's demo deployments and the servers behind them.
type demoApps struct {
	listings []listing
	servers  []*http.Server
	// closers release what the demo handlers hold beyond their requests,
	// once the servers are shut down.
	closers []io.Closer
	// stop cancels the context of every request to the demo servers, so
	// streams end at once when the hub closes.
	stop context.CancelFunc
}

// startDemoApps starts a server on its own loopback port for each demo
// deployment that has one, and returns their listings.
func startDemoApps(ctx context.Context, logger *slog.Logger) (*demoApps, error) {
	base, stop := context.WithCancel(context.WithoutCancel(ctx))
	d := &demoApps{stop: stop}
	apps := []struct {
		owner, id, title, entry string
		status                  gateway.Status
		handler                 http.Handler
	}{
		{"user-123", "openwebui-abc123", "Web app: links, redirect, cookie, SSE, WebSocket", "/",
			gateway.StatusRunning, newWebApp()},
		{"user-123", "my-api-def456", "JSON API", "/api/v1/users",
			gateway.StatusRunning, newAPIApp()},
		{"user-123", "webapp-789", "Static site", "/",
			gateway.StatusRunning, newStaticSite()},
		{"user-123", "mcp-tools-42", "MCP server (Streamable HTTP, every generation), tools add, echo and slow", "/mcp",
			gateway.StatusRunning, newMCPApp(logger)},
		{"user-123", "mcp-legacy-43", "MCP server (legacy HTTP+SSE), tools add, echo and slow", "/sse",
			gateway.StatusRunning, newLegacyMCPApp()},
		{"user-123", "stopped-app-000", "Stopped app (503)", "/",
			gateway.StatusStopped, newStoppedApp()},
		{"user-123", "broken-app-500", "Broken app: its upstream refuses connections (502)", "/",
			gateway.StatusRunning, nil},
		{"user-456", "private-app-777", "Private app of user-456", "/",
			gateway.StatusRunning, newPrivateApp()},
	}
	for _, app := range apps {
		var upstream string
		var err error
		if app.handler != nil {
			upstream, err = d.serve(ctx, base, app.handler, logger)
			if c, ok := app.handler.(io.Closer); ok {
				d.closers = append(d.closers, c)
			}
		} else {
			upstream, err = refusingURL(ctx)
		}
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("starting demo %s: %w", app.id, err)
		}
		d.listings = append(d.listings, listing{
			Deployment: gateway.Deployment{ID: app.id, OwnerID: app.owner,
				Status: app.status, UpstreamURL: upstream},
			Title: app.title,
			Entry: app.entry,
		})
	}
	return d, nil
}

// serve serves h on a new loopback port and returns its base URL.
func (d *demoApps) serve(ctx, base context.Context, h http.Handler, logger *slog.Logger) (
	string, error,
) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go srv.Serve(ln)
	d.servers = append(d.servers, srv)
	return "http://" + ln.Addr().String(), nil
}

// Close ends every stream to the demo servers and closes them.
func (d *demoApps) Close() error {
	d.stop()
	errs := make([]error, len(d.servers))
	var wg sync.WaitGroup
	for i, srv := range d.servers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				errs[i] = srv.Close()
			}
		})
	}
	wg.Wait()
	for _, c := range d.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// refusingURL returns the URL of a loopback port that nothing listens on:
// it listens on a free port and closes it again. Another process could
// take the port later; the demo accepts that small chance.
func refusingURL(ctx context.Context) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	url := "http://" + ln.Addr().String()
	return url, ln.Close()
}

// newWebApp returns the openwebui-abc123 demo: a page whose links are all
// relative, so they stay under the gateway prefix, and the things a web app
// behind a gateway needs: a redirect to its own root, a cookie for its own
// root, server-sent events and a WebSocket.
func newWebApp() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		webAppPage.Execute(w, r.Header.Get("X-Gateway-User-Id"))
	})
	mux.HandleFunc("GET /static/app.js", serveText("text/javascript; charset=utf-8", webAppJS))
	mux.HandleFunc("GET /static/css/main.css", serveText("text/css; charset=utf-8", mainCSS))
	mux.HandleFunc("GET /go-home", func(w http.ResponseWriter, r *http.Request) {
		// Absolute on purpose: the gateway must put it back under the prefix.
		w.Header().Set("Location", "/")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("GET /set-cookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "demo_theme", Value: "dark", Path: "/",
			HttpOnly: true, SameSite: http.SameSiteLaxMode})
		serveText("text/plain; charset=utf-8", "cookie demo_theme set for path /\n")(w, r)
	})
	mux.HandleFunc("GET /events", serveEvents)
	mux.HandleFunc("GET /ws", serveEcho)
	return mux
}

var webAppPage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Open WebUI (demo)</title>
<link rel="stylesheet" href="static/css/main.css">
<script src="static/app.js" defer></script>
</head>
<body>
<h1>Open WebUI (demo)</h1>
<p>{{if .}}The gateway says you are {{.}}.{{else}}No gateway identity header.{{end}}</p>
<ul>
<li><a href="go-home">go-home</a>: redirects to this app's root</li>
<li><a href="set-cookie">set-cookie</a>: sets a cookie for this app's root</li>
<li><a href="events">events</a>: server-sent events</li>
</ul>
<pre id="log"></pre>
</body>
</html>
`))

const webAppJS = `// Shows the event stream and a WebSocket echo, both by relative URLs.
const log = (line) => { document.getElementById("log").textContent += line + "\n"; };

const events = new EventSource("events");
let received = 0;
events.onmessage = (e) => {
  received++;
  log("event " + received + ": sent at " + e.data + " ns");
  if (received === 20) events.close();
};

const wsURL = new URL("ws", document.baseURI);
wsURL.protocol = wsURL.protocol === "https:" ? "wss:" : "ws:";
const ws = new WebSocket(wsURL);
ws.onopen = () => ws.send("hello through the gateway");
ws.onmessage = (e) => { log("websocket echo: " + e.data); ws.close(); };
`

const mainCSS = `body { font-family: system-ui, sans-serif; margin: 2rem; }
pre { background: #f4f4f4; padding: 1rem; }
`

// serveEvents streams sseEvents server-sent events, sseInterval apart,
// each carrying the Unix time in nanoseconds at which it was sent.
func serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)

	tick := time.NewTicker(sseInterval)
	defer tick.Stop()
	for i := 1; ; i++ {
		fmt.Fprintf(w, "id: %d\ndata: %d\n\n", i, time.Now().UnixNano())
		if err := rc.Flush(); err != nil || i == sseEvents {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// serveEcho is a WebSocket echo. It leaves origin checks to the gateway,
// which refuses cookie-authenticated handshakes from origins it does not
// allow and lets bearer-token clients connect from anywhere: the library's
// own check would compare Origin with the Host the gateway sends, the
// deployment's internal address, and refuse every browser.
func serveEcho(w http.ResponseWriter, r *http.Request) {
	opts := &websocket.AcceptOptions{InsecureSkipVerify: true}
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return // Accept has answered the request
	}
	defer c.CloseNow()

	ctx := r.Context()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// newAPIApp returns the my-api-def456 demo: a JSON API, and /echo, which
// describes the request it received, to show what the gateway forwards.
func newAPIApp() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []map[string]any{
			{"id": 1, "name": "Ada Lovelace"},
			{"id": 2, "name": "Grace Hopper"},
		})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Before the mux, which would redirect a path it cleans: /echo
		// reports paths exactly as they arrive.
		if p := rawPath(r); p == "/echo" || strings.HasPrefix(p, "/echo/") {
			serveRequestEcho(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// echoed is what /echo answers.
type echoed struct {
	Method    string         `json:"method"`
	Path      string         `json:"path"`
	RawQuery  string         `json:"rawQuery"`
	Headers   http.Header    `json:"headers"`
	Cookies   []echoedCookie `json:"cookies"`
	BodyBytes int64          `json:"bodyBytes"`
}

type echoedCookie struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func serveRequestEcho(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxEchoBody))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}

	e := echoed{
		Method:    r.Method,
		Path:      rawPath(r),
		RawQuery:  r.URL.RawQuery,
		Headers:   r.Header,
		Cookies:   []echoedCookie{},
		BodyBytes: n,
	}
	for _, c := range r.Cookies() {
		e.Cookies = append(e.Cookies, echoedCookie{c.Name, c.Value})
	}
	writeJSON(w, e)
}

// rawPath returns the path of r as it was on the request line, before any
// unescaping or cleaning.
func rawPath(r *http.Request) string {
	if !strings.HasPrefix(r.RequestURI, "/") {
		return r.URL.EscapedPath()
	}
	p, _, _ := strings.Cut(r.RequestURI, "?")
	return p
}

// newStaticSite returns the webapp-789 demo.
func newStaticSite() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveText("text/html; charset=utf-8", `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Static site (demo)</title>
<link rel="stylesheet" href="static/css/main.css"></head>
<body><h1>Static site (demo)</h1><p>Nothing here but HTML and CSS.</p></body>
</html>
`))
	mux.HandleFunc("GET /static/css/main.css", serveText("text/css; charset=utf-8", mainCSS))
	return mux
}

// newStoppedApp returns the server behind stopped-app-000. The gateway
// answers for a stopped deployment itself; this server only shows that it
// is not the reason for the 503.
func newStoppedApp() http.Handler {
	return serveText("text/plain; charset=utf-8", "stopped-app-000 should not be reachable\n")
}

// newPrivateApp returns the private-app-777 demo of user-456.
func newPrivateApp() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveText("text/html; charset=utf-8", `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Private app (demo)</title></head>
<body><h1>user-456's private app</h1></body>
</html>
`))
	return mux
}

// serveText returns a handler that answers with body.
func serveText(contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		io.WriteString(w, body)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
