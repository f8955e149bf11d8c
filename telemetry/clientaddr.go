package telemetry

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/mcphub/apigateway/internal/clientip"
)

// clientAddr returns the address of r's client: the connection's peer,
// or, when the peer is a trusted proxy, the right-most X-Forwarded-For
// entry that is not a trusted proxy itself. Entries to the left of it were
// written by the client or proxies nobody vouches for and are never used.
// An entry that is not an address ends the walk at the trusted hop that
// reported it; if every entry is trusted, the farthest one is the client.
func (t *Telemetry) clientAddr(r *http.Request) netip.Addr {
	addr := clientip.Peer(r).WithZone("")
	if !addr.IsValid() || !t.isTrusted(addr) {
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
			a, ok := parseForwardedFor(entry)
			if !ok {
				return addr
			}
			addr = a
			if !t.isTrusted(a) {
				return a
			}
		}
	}
	return addr
}

func (t *Telemetry) isTrusted(a netip.Addr) bool {
	for _, p := range t.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseForwardedFor parses one X-Forwarded-For entry: an address, possibly
// in brackets or with a port ("192.0.2.1:443", "[2001:db8::1]:443").
func parseForwardedFor(s string) (netip.Addr, bool) {
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
