package proxy

import (
	"net"
	"net/http"
	"time"
)

// NewTransport returns an [http.Transport] for upstream requests. It
// never uses a proxy from the environment (HTTP_PROXY must not see
// internal URLs), speaks HTTP/1.1 so WebSocket upgrades and streaming work
// the same for every upstream, passes compressed bodies through untouched,
// and limits only the time to connect and the time to response headers:
// there is no whole-request timeout, so streams run as long as both ends
// keep them open. Idle connections close after 90s; response headers are
// limited to 1 MiB.
func NewTransport(cfg TransportConfig) *http.Transport {
	dialTimeout := positive(cfg.DialTimeout, 5*time.Second)
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   dialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSHandshakeTimeout:    dialTimeout,
		ResponseHeaderTimeout:  positive(cfg.ResponseHeaderTimeout, 30*time.Second),
		ExpectContinueTimeout:  time.Second,
		MaxIdleConnsPerHost:    positive(cfg.MaxIdleConnsPerHost, 256),
		MaxConnsPerHost:        max(cfg.MaxConnsPerHost, 0),
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 1 << 20,
		DisableCompression:     true,
		Protocols:              protocols,
	}
}

// positive returns v, or def when v is not positive.
func positive[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
