// Package clientip decides which peers are trusted proxies.
package clientip

import (
	"net/http"
	"net/netip"
)

// Peer returns the address of the connection r arrived on, or the zero
// address if r.RemoteAddr cannot be parsed (as in some tests).
func Peer(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Trusted returns a function reporting whether a request's peer lies in one
// of prefixes. With no prefixes it returns nil, the convention for "trust
// no one" in the packages that take such a function.
func Trusted(prefixes []netip.Prefix) func(*http.Request) bool {
	if len(prefixes) == 0 {
		return nil
	}
	ps := make([]netip.Prefix, len(prefixes))
	for i, p := range prefixes {
		ps[i] = p.Masked()
	}
	return func(r *http.Request) bool {
		addr := Peer(r)
		if !addr.IsValid() {
			return false
		}
		for _, p := range ps {
			if p.Contains(addr) {
				return true
			}
		}
		return false
	}
}
