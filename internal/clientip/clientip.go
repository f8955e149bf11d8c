// Package clientip decides who a request's client is: the connection's
// peer, or, behind proxies the host trusts, the address they vouch for.
package clientip

import (
	"net/http"
	"net/netip"
	"strings"
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
// of prefixes, as [Client] decides it: a link-local peer's zone is ignored.
// With no prefixes it returns nil, the convention for "trust no one" in the
// packages that take such a function.
func Trusted(prefixes []netip.Prefix) func(*http.Request) bool {
	if len(prefixes) == 0 {
		return nil
	}
	ps := make([]netip.Prefix, len(prefixes))
	for i, p := range prefixes {
		ps[i] = p.Masked()
	}
	return func(r *http.Request) bool {
		// netip.Prefix.Contains never matches an address with a zone.
		addr := Peer(r).WithZone("")
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

// Client returns the address of r's client: the connection's peer, or,
// when the peer lies in trusted, the right-most X-Forwarded-For entry that
// is not in trusted itself. Entries to the left of it were written by the
// client or by proxies nobody vouches for and are never used. An entry that
// is not an address ends the walk at the trusted hop that reported it; if
// every entry is trusted, the farthest one is the client. The result has
// no zone and IPv4-mapped IPv6 addresses are unmapped.
func Client(r *http.Request, trusted []netip.Prefix) netip.Addr {
	addr := Peer(r).WithZone("")
	if !addr.IsValid() || !contains(trusted, addr) {
		return addr
	}
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		rest := values[i]
		for rest != "" {
			entry := rest
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				rest = ""
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			a, ok := ParseForwardedFor(entry)
			if !ok {
				return addr
			}
			addr = a
			if !contains(trusted, a) {
				return a
			}
		}
	}
	return addr
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseForwardedFor parses one X-Forwarded-For entry: an address, possibly
// in brackets or with a port ("192.0.2.1:443", "[2001:db8::1]:443").
func ParseForwardedFor(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
