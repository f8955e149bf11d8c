package clientip

import (
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fe80::/10")}
	tests := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer's header ignored", "203.0.113.9:1", []string{"198.51.100.1"}, "203.0.113.9"},
		{"right-most untrusted entry", "10.0.0.2:1", []string{"6.6.6.6, 203.0.113.9, 10.0.0.5"},
			"203.0.113.9"},
		{"spoofed entries left of the client ignored", "10.0.0.2:1",
			[]string{"10.0.0.9", "203.0.113.9"}, "203.0.113.9"},
		{"garbage ends the walk at the hop that sent it", "10.0.0.2:1",
			[]string{"203.0.113.9, garbage, 10.0.0.5"}, "10.0.0.5"},
		{"peer with a zone is trusted like one without", "[fe80::1%eth0]:1",
			[]string{"203.0.113.9"}, "203.0.113.9"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.2]:1", []string{"203.0.113.9"}, "203.0.113.9"},
		{"entry with a zone loses it", "10.0.0.2:1", []string{"[fe80::2%25x]:1, 2001:db8::1%eth0"},
			"2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := Client(r, trusted); got.String() != tt.want {
				t.Errorf("Client = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestTrustedAgreesWithClient: the proxy (which asks Trusted) and the
// limiter and telemetry (which ask Client) must agree on whether a peer
// is a trusted proxy, zones and IPv4 mapping included.
func TestTrustedAgreesWithClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("fe80::/10"), netip.MustParsePrefix("10.0.0.0/8")}
	isTrusted := Trusted(trusted)
	for _, peer := range []string{"[fe80::1%eth0]:1", "[fe80::1]:1", "[::ffff:10.0.0.2]:1", "10.0.0.2:1"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		if !isTrusted(r) {
			t.Errorf("Trusted(%s) = false, want true", peer)
		}
	}
}

// FuzzClient checks Client against a plain reading of its contract, for
// any peer, trusted networks and X-Forwarded-For lines: an untrusted peer
// is the client; otherwise the entries are walked from the right, trusted
// ones skipped, and the first untrusted one is the client; a malformed
// entry stops the walk at the hop that wrote it. The result never has a
// zone or an IPv4 mapping, and Trusted agrees with Client on the peer.
func FuzzClient(f *testing.F) {
	for _, s := range [][3]string{
		{"10.0.0.2:1", "10.0.0.0/8", "203.0.113.9, 10.0.0.5"},
		{"203.0.113.9:1", "10.0.0.0/8", "10.0.0.1"},
		{"[fd00::1]:1", "fd00::/8,10.0.0.0/8", "[2001:db8::1]:443, garbage"},
		{"10.0.0.2:1", "10.0.0.0/8", ",,,[,]:,"},
		{"[fe80::1%eth0]:1", "fe80::/10", "203.0.113.9"},
		{"[::ffff:10.0.0.2]:1", "10.0.0.0/8", "::ffff:203.0.113.9"},
		{"10.0.0.2:1", "0.0.0.0/0", "1.2.3.4\n5.6.7.8, 9.9.9.9"},
		{"10.0.0.2:1", "10.0.0.0/8,::/0", "[::1%25x]:80, fe80::1%eth0, 1.2.3.4:99999"},
		{"@pipe", "10.0.0.0/8", "203.0.113.9"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, peer, networks, xff string) {
		var trusted []netip.Prefix
		for n := range strings.SplitSeq(networks, ",") {
			if p, err := netip.ParsePrefix(strings.TrimSpace(n)); err == nil {
				trusted = append(trusted, p)
			}
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		lines := strings.Split(xff, "\n")
		for _, line := range lines {
			r.Header.Add("X-Forwarded-For", line)
		}

		got := Client(r, trusted)

		want := referenceClient(peer, trusted, lines)
		if got != want {
			t.Fatalf("Client(peer %q, trusted %v, X-Forwarded-For %q) = %v, want %v",
				peer, trusted, lines, got, want)
		}
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("Client(peer %q) = %v, with a zone or an IPv4 mapping", peer, got)
		}
		if isTrusted := Trusted(trusted); isTrusted != nil && Peer(r).IsValid() {
			if byClient := inAny(trusted, Peer(r).WithZone("")); isTrusted(r) != byClient {
				t.Fatalf("peer %q: Trusted says %v, Client treats it as trusted: %v",
					peer, isTrusted(r), byClient)
			}
		}
		for _, line := range lines {
			for entry := range strings.SplitSeq(line, ",") {
				if a, ok := ParseForwardedFor(strings.TrimSpace(entry)); ok {
					if a.Zone() != "" || a.Is4In6() || !a.IsValid() {
						t.Fatalf("ParseForwardedFor(%q) = %v", entry, a)
					}
				}
			}
		}
	})
}

// referenceClient is the contract of Client written as plainly as
// possible, to compare the real walk against.
func referenceClient(peer string, trusted []netip.Prefix, lines []string) netip.Addr {
	ap, err := netip.ParseAddrPort(peer)
	if err != nil {
		return netip.Addr{}
	}
	client := ap.Addr().Unmap().WithZone("")
	if !inAny(trusted, client) {
		return client
	}
	var entries []string
	for _, line := range lines {
		for e := range strings.SplitSeq(line, ",") {
			if e = strings.TrimSpace(e); e != "" {
				entries = append(entries, e)
			}
		}
	}
	slices.Reverse(entries)
	for _, e := range entries {
		a, ok := ParseForwardedFor(e)
		if !ok {
			return client
		}
		client = a
		if !inAny(trusted, a) {
			return a
		}
	}
	return client
}

func inAny(prefixes []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
}
