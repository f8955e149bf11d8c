package limit

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/mcphub/apigateway/internal/clientip"
)

// FuzzClientAddr checks that any X-Forwarded-For from a trusted proxy
// yields the peer or an address the header names, without zone or IPv4
// mapping, and a usable key.
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"", "192.0.2.1", "6.6.6.6, 192.0.2.1, 10.0.0.2", "[2001:db8::1]:80",
		"::ffff:1.2.3.4", "junk, 10.0.0.1", ",,, ,", "fe80::1%eth0", "[::1", "1.2.3.4:99999"} {
		f.Add(s)
	}
	l, err := New(Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.1:1234"
		r.Header.Set("X-Forwarded-For", xff)

		addr := l.clientAddr(r)

		if !addr.IsValid() {
			t.Fatalf("X-Forwarded-For %q: invalid client address", xff)
		}
		named := addr == netip.MustParseAddr("10.0.0.1")
		for _, entry := range strings.Split(xff, ",") {
			if a, ok := clientip.ParseForwardedFor(strings.TrimSpace(entry)); ok && a == addr {
				named = true
			}
		}
		if !named {
			t.Fatalf("X-Forwarded-For %q: client %v is neither the peer nor named", xff, addr)
		}
		if addr.Zone() != "" || addr.Is4In6() {
			t.Fatalf("X-Forwarded-For %q: client %v keeps a zone or a mapping", xff, addr)
		}
		if key := clientKey(addr); key == "" || strings.ContainsAny(key, " ,") {
			t.Fatalf("X-Forwarded-For %q: bad key %q", xff, key)
		}
	})
}
