package limit

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/mcphub/apigateway/internal/clientip"
)

type ipCountKey struct{}

// ClientIPHandler returns a handler that counts each request against its
// client address's counter before passing it to next. It is meant to run
// before authentication, so that clients who never authenticate are
// limited too; it counts every request, so PerClientIP must allow for
// many users behind one address (an office, a carrier's NAT).
//
// The client is the connection's peer. Only when the peer lies in
// Config.TrustedProxies is X-Forwarded-For read: the client is then its
// right-most entry that is not a trusted proxy, so entries a client wrote
// itself are never used. An entry that is not an address ends the walk at
// the trusted hop that reported it. The Forwarded header (RFC 7239) is not
// read. IPv4 clients are counted per address and IPv6 clients per /64, the
// block a single subscriber usually holds. Requests whose peer address
// cannot be parsed (a Unix socket listener) share one counter.
//
// With PerClientIP set to [Unlimited], the handler is next itself.
func (l *Limiter) ClientIPHandler(next http.Handler) http.Handler {
	if l.ip.IsUnlimited() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checks := [1]check{{ScopeIP, "ip:" + clientKey(l.clientAddr(r)), l.ip}}

		c, ok := l.take(w, r, l.ipStore, checks[:])
		if !ok {
			return
		}

		if c.scope != "" {
			setHeaders(w.Header(), l.headers, c.scope, c.rate, c.res, secondsUntil(c.res.Reset, time.Now()))
			// Handler, further in, reports this counter if it is the
			// tightest.
			r = r.WithContext(context.WithValue(r.Context(), ipCountKey{}, c))
		}
		next.ServeHTTP(w, r)
	})
}

// clientAddr is the address requests are counted by: see clientip.Client.
func (l *Limiter) clientAddr(r *http.Request) netip.Addr {
	return clientip.Client(r, l.trusted)
}

// clientKey is the counter key of a client address: the address itself
// for IPv4, its /64 for IPv6.
func clientKey(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is4():
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}
