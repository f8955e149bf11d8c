package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// Headers the proxy sets on every upstream request. Inbound headers with
// these names, or starting with "X-Gateway-", are dropped first.
const (
	HeaderUserID       = "X-Gateway-User-Id"
	HeaderDeploymentID = "X-Gateway-Deployment-Id"
	HeaderRequestID    = "X-Request-Id"
)

// Errors passed to Config.ErrorHandler. Each of the first three wraps the
// error that caused it (from the transport, or the reason an upstream
// response was refused), so callers can test for both with [errors.Is].
var (
	// ErrUpstreamUnreachable means the upstream could not be reached, or sent a
	// response the proxy refuses (such as an unrequested 101). Answered 502.
	ErrUpstreamUnreachable = errors.New("proxy: upstream unreachable")
	// ErrUpstreamTimeout means the upstream did not send response headers in
	// time, or a deadline on the request passed. Answered 504.
	ErrUpstreamTimeout = errors.New("proxy: upstream timed out")
	// ErrClientGone means the client canceled the request before the upstream
	// answered. Answered 499.
	ErrClientGone = errors.New("proxy: client went away")
	// ErrClientBody means reading the client's request body failed (a
	// malformed chunked encoding, a body over the host's http.MaxBytesReader
	// limit): the client's fault, not the deployment's. Answered 400, or 413
	// for a body over the limit.
	ErrClientBody = errors.New("proxy: reading the request body failed")
	// ErrBadUpgrade means the request asks, with Connection: upgrade, to
	// switch to a protocol whose name is not printable ASCII: the
	// client's mistake, refused before anything is sent upstream.
	// Answered 400.
	ErrBadUpgrade = errors.New("proxy: the Upgrade header is not printable")
	// ErrNoTarget means the request's context carries no [Target] with an
	// upstream, a bug in the caller. Answered 500.
	ErrNoTarget = errors.New("proxy: request has no target")
)

// Config configures a [Proxy]. The zero value works.
type Config struct {
	// Transport sends upstream requests. Nil means a transport of the
	// package's own (see [NewTransport]).
	Transport http.RoundTripper

	// SessionCookie is the name of the platform's session cookie. It is
	// removed from upstream requests, and Set-Cookie headers from a
	// deployment that would set it are dropped. Empty means none.
	SessionCookie string

	// TrustForwarded reports whether r came through a proxy the host trusts,
	// whose X-Forwarded-For, -Host and -Proto are then extended rather than
	// replaced. Nil trusts no one.
	TrustForwarded func(r *http.Request) bool

	// ErrorHandler answers requests the proxy could not complete; err wraps
	// one of the package's sentinel errors. Nil means [WriteError]: RFC 9457
	// problem responses (502, 504, 499, and 500 for [ErrNoTarget]).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	// Logger receives, at debug level, the errors answered by the default
	// error handler and the names of Set-Cookie headers dropped from
	// deployments' responses. Nil means silent.
	Logger *slog.Logger
}

// TransportConfig configures [NewTransport]. The zero value works.
type TransportConfig struct {
	// DialTimeout bounds connecting to an upstream. Zero means 5s.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for an upstream's response
	// headers; it never cuts a response whose headers have arrived, so long
	// streams are not affected. Zero means 30s.
	ResponseHeaderTimeout time.Duration
	// MaxIdleConnsPerHost is the number of idle connections kept per
	// upstream. Zero means 256.
	MaxIdleConnsPerHost int
	// MaxConnsPerHost caps the connections, active and idle, to one
	// upstream; requests beyond it wait for a free connection. Zero means
	// no limit.
	MaxConnsPerHost int
}

// Proxy forwards each request to the deployment named by the [Target] in
// its context. It is an [http.Handler] built once by [New] and safe for
// concurrent use.
type Proxy struct {
	rp            httputil.ReverseProxy
	sessionCookie string
	trust         func(*http.Request) bool
	onError       func(http.ResponseWriter, *http.Request, error)
	logger        *slog.Logger
}

var _ http.Handler = (*Proxy)(nil)

// New returns a Proxy configured by cfg. It fails only when
// cfg.SessionCookie is not a valid cookie name.
func New(cfg Config) (*Proxy, error) {
	if cfg.SessionCookie != "" && !validCookieName(cfg.SessionCookie) {
		return nil, fmt.Errorf("proxy: invalid session cookie name %q", cfg.SessionCookie)
	}
	p := &Proxy{
		sessionCookie: cfg.SessionCookie,
		trust:         cfg.TrustForwarded,
		onError:       cfg.ErrorHandler,
		logger:        cfg.Logger,
	}
	transport := cfg.Transport
	if transport == nil {
		transport = NewTransport(TransportConfig{})
	}
	p.rp = httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      transport,
		BufferPool:     &sharedBuffers,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.handleError,
		ErrorLog:       errorLog(cfg.Logger),
	}
	return p, nil
}

// ServeHTTP forwards r to the upstream of the [Target] stored in its
// context. Without one it answers through the error handler with
// [ErrNoTarget].
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, ok := FromContext(r.Context())
	if !ok || t.Upstream == nil {
		p.handleError(w, r, ErrNoTarget)
		return
	}

	if r.Body != nil && r.Body != http.NoBody {
		// ReverseProxy hands its error handler its own copy of the request,
		// so the body wrapper is found again through the context.
		body := &clientBody{ReadCloser: r.Body}
		r = r.WithContext(context.WithValue(r.Context(), clientBodyKey{}, body))
		r.Body = body
	}
	if !printableUpgrade(r.Header) {
		// ReverseProxy refuses it too, but as if the upstream had failed.
		p.handleError(w, r, ErrBadUpgrade)
		return
	}
	rw := newRelay(r.Context(), w, t)
	if isWebSocketUpgrade(r.Header) {
		// Only the 101 path needs to find the writer again, in
		// modifyResponse; other requests skip the extra allocations.
		r = r.WithContext(context.WithValue(r.Context(), relayKey{}, rw))
	}
	p.rp.ServeHTTP(rw, r)
}

// errorLog returns the logger ReverseProxy writes its own complaints to
// (body copy errors, mostly clients that went away): logger at debug level,
// or nowhere. Left nil, ReverseProxy would use the process-wide log package.
func errorLog(logger *slog.Logger) *log.Logger {
	if logger == nil {
		return log.New(io.Discard, "", 0)
	}
	return slog.NewLogLogger(logger.Handler(), slog.LevelDebug)
}

// bufferSize is the size of the buffers responses are copied through.
const bufferSize = 32 << 10

// buffers is an [httputil.BufferPool] of bufferSize slices. It stores array
// pointers so that Put does not allocate.
type buffers struct{ pool sync.Pool }

// sharedBuffers serves every Proxy in the process.
var sharedBuffers buffers

func (b *buffers) Get() []byte {
	if a, ok := b.pool.Get().(*[bufferSize]byte); ok {
		return a[:]
	}
	return new([bufferSize]byte)[:]
}

func (b *buffers) Put(buf []byte) {
	if len(buf) == bufferSize {
		b.pool.Put((*[bufferSize]byte)(buf))
	}
}

type clientBodyKey struct{}

// clientBody remembers the error of reading the client's request body, so
// that a transport failure it caused is not blamed on the deployment.
type clientBody struct {
	io.ReadCloser
	err error
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}
