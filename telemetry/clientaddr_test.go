package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/mcphub/apigateway/telemetry"
)

// addrProbe is a Telemetry trusting 10.0.0.0/8 and fd00::/8 that reports
// the client address it records.
type addrProbe struct {
	handler http.Handler
	got     netip.Addr
}

func newAddrProbe(t testing.TB) *addrProbe {
	p := &addrProbe{}
	tel, err := telemetry.New(telemetry.Config{
		TrustedProxies: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")},
		OnRequest: func(_ context.Context, rec *telemetry.Record) { p.got = rec.ClientIP },
	})
	if err != nil {
		t.Fatal(err)
	}
	p.handler = tel.Handler(http.NotFoundHandler())
	return p
}

// clientIP returns the client address recorded for a request from peer
// with the given X-Forwarded-For header lines.
func (p *addrProbe) clientIP(peer string, xff ...string) netip.Addr {
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = peer
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	p.handler.ServeHTTP(httptest.NewRecorder(), req)
	return p.got
}

func TestClientIPFollowsTrustedProxiesOnly(t *testing.T) {
	tests := []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"untrusted peer", "203.0.113.9:1234", nil, "203.0.113.9"},
		{"untrusted peer's header is ignored", "203.0.113.9:1234",
			[]string{"198.51.100.1"}, "203.0.113.9"},
		{"trusted peer without header", "10.0.0.2:1234", nil, "10.0.0.2"},
		{"trusted peer's client", "10.0.0.2:1234", []string{"203.0.113.9"}, "203.0.113.9"},
		{"right-most untrusted entry", "10.0.0.2:1234",
			[]string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"trusted hops are skipped", "10.0.0.2:1234", []string{"203.0.113.9, 10.0.0.5"}, "203.0.113.9"},
		{"several header lines", "10.0.0.2:1234", []string{"198.51.100.1", "10.0.0.7"}, "198.51.100.1"},
		{"garbage ends the walk at the hop that sent it", "10.0.0.2:1234",
			[]string{"203.0.113.9, garbage, 10.0.0.5"}, "10.0.0.5"},
		{"all hops trusted: the farthest", "10.0.0.2:1234", []string{"10.0.0.9, 10.0.0.5"}, "10.0.0.9"},
		{"entry with port", "10.0.0.2:1234", []string{"203.0.113.9:8080"}, "203.0.113.9"},
		{"bracketed IPv6 with port", "10.0.0.2:1234", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"bracketed IPv6", "10.0.0.2:1234", []string{"[2001:db8::1]"}, "2001:db8::1"},
		{"IPv4-mapped", "10.0.0.2:1234", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"IPv6 trusted peer", "[fd00::1]:1234", []string{"2001:db8::2"}, "2001:db8::2"},
		{"empty entries are skipped", "10.0.0.2:1234", []string{"203.0.113.9, , "}, "203.0.113.9"},
		{"unparsable peer", "@pipe", []string{"203.0.113.9"}, "invalid IP"},
	}
	p := newAddrProbe(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.clientIP(tt.peer, tt.xff...); got.String() != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.2:1234", "203.0.113.9, 10.0.0.5")
	f.Add("203.0.113.9:1", "10.0.0.1")
	f.Add("[fd00::1]:1", "[2001:db8::1]:443, garbage")
	f.Add("10.0.0.2:1", ",,,[,]:,")
	p := newAddrProbe(f)
	f.Fuzz(func(t *testing.T, peer, xff string) {
		got := p.clientIP(peer, xff)
		ap, err := netip.ParseAddrPort(peer)
		if err != nil {
			return
		}
		addr := ap.Addr().Unmap()
		trusted := netip.MustParsePrefix("10.0.0.0/8").Contains(addr) ||
			netip.MustParsePrefix("fd00::/8").Contains(addr)
		if !trusted && got != addr.WithZone("") {
			t.Errorf("untrusted peer %s: got client %s", peer, got)
		}
		if !got.IsValid() {
			t.Errorf("peer %s: got no client", peer)
		}
	})
}
