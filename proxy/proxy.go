package proxy

import (
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Headers the proxy sets on every upstream request. Inbound headers with
// these names, or starting with "X-Gateway-", are dropped first.
const (
	HeaderUserID       = "X-Gateway-User-Id"
	HeaderDeploymentID = "X-Gateway-Deployment-Id"
	HeaderRequestID    = "X-Request-Id"
)

// Errors passed to Config.ErrorHandler; each wraps the transport's error.
var (
	ErrUpstreamUnreachable = errors.New("proxy: upstream unreachable")
	ErrUpstreamTimeout     = errors.New("proxy: upstream timed out")
	ErrClientGone          = errors.New("proxy: client went away")
	ErrNoTarget            = errors.New("proxy: request has no target")
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
	// one of the package's sentinel errors. Nil means RFC 9457 problem
	// responses (502, 504, 499).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	// Logger receives upstream errors at debug level. Nil means silent.
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
}
