package limit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/mcphub/apigateway/limit"
)

// Forged forwarding headers cannot mint fresh counters: the
// per-user counter ignores them, and so does the per-address counter when
// no proxy is trusted.
func TestForgedForwardingHeadersDoNotMintCounters(t *testing.T) {
	const n = 5
	l := newLimiter(t, limit.Config{
		PerUser:     limit.Rate{Limit: n, Period: time.Minute},
		PerClientIP: limit.Rate{Limit: 1000, Period: time.Minute},
	})
	tests := []struct {
		name string
		h    http.Handler
		user string
	}{
		{"per-user", l.Handler(&upstream{}), "user-1"},
		{"per-address", newLimiter(t, limit.Config{PerClientIP: limit.Rate{Limit: n, Period: time.Minute}}).
			ClientIPHandler(&upstream{}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var codes []int
			for i := range n + 5 {
				r := request(tt.user, "dep-1", "198.51.100.7:4000")
				r.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
				r.Header.Set("X-Real-IP", fmt.Sprintf("203.0.113.%d", i))
				codes = append(codes, serve(tt.h, r).Code)
			}
			for i, code := range codes {
				want := http.StatusOK
				if i >= n {
					want = http.StatusTooManyRequests
				}
				if code != want {
					t.Errorf("request %d: got %d, want %d (all: %v)", i+1, code, want, codes)
				}
			}
		})
	}
}

// Two users behind one address each get their own budget.
func TestUsersBehindOneAddressHaveOwnCounters(t *testing.T) {
	const n = 4
	h := newLimiter(t, limit.Config{PerUser: limit.Rate{Limit: n, Period: time.Minute}}).Handler(&upstream{})

	for _, user := range []string{"user-1", "user-3"} {
		ok := 0
		for range n + 2 {
			if serve(h, request(user, "dep-of-"+user, "198.51.100.7:4000")).Code == http.StatusOK {
				ok++
			}
		}
		if ok != n {
			t.Errorf("%s: got %d successes, want %d", user, ok, n)
		}
	}
}

// fakeAuth stands for the gateway's authentication and ownership check: it
// sets the Subject only for the owner of the deployment in the path.
func fakeAuth(next http.Handler) http.Handler {
	owners := map[string]string{"dep-1": "user-1"}
	tokens := map[string]string{"token-1": "user-1", "token-2": "user-2"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := tokens[r.Header.Get("Authorization")]
		if !ok {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		dep := r.PathValue("dep")
		if owners[dep] != user || r.PathValue("user") != user {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		subject := limit.Subject{UserID: user, DeploymentID: dep}
		next.ServeHTTP(w, r.WithContext(limit.NewContext(r.Context(), subject)))
	})
}

// Nobody can use up a victim's budget by naming the victim in the path:
// callers without credentials (401) and other users (404) are refused
// before the per-user and per-deployment counters, which are charged only
// for the owner. The per-address counter, in front of authentication, stops
// both attackers without touching the victim, who calls from elsewhere.
func TestVictimBudgetCannotBeDrained(t *testing.T) {
	const n = 5
	l := newLimiter(t, limit.Config{
		PerUser:       limit.Rate{Limit: n, Period: time.Minute},
		PerDeployment: limit.Rate{Limit: n, Period: time.Minute},
		PerClientIP:   limit.Rate{Limit: 3 * n, Period: time.Minute},
	})
	up := &upstream{}
	mux := http.NewServeMux()
	mux.Handle("/api/gateway/{user}/{dep}/", fakeAuth(l.Handler(up)))
	h := l.ClientIPHandler(mux)

	attacks := map[string]int{}
	for token, addr := range map[string]string{"": "203.0.113.66:5000", "token-2": "203.0.113.77:5000"} {
		for range 5 * n {
			r := request("", "", addr)
			r.URL.Path = "/api/gateway/user-1/dep-1/"
			r.Header.Set("Authorization", token)
			attacks[fmt.Sprintf("%q %d", token, serve(h, r).Code)]++
		}
	}
	victim := request("", "", "198.51.100.1:6000")
	victim.URL.Path = "/api/gateway/user-1/dep-1/"
	victim.Header.Set("Authorization", "token-1")
	w := serve(h, victim)

	if w.Code != http.StatusOK {
		t.Errorf("victim after the attack: got %d, want 200", w.Code)
	}
	if got, want := w.Header().Get("X-RateLimit-Remaining"), fmt.Sprint(n-1); got != want {
		t.Errorf("victim's remaining budget: got %s, want %s (untouched)", got, want)
	}
	want := map[string]int{`"" 401`: 3 * n, `"" 429`: 2 * n, `"token-2" 404`: 3 * n, `"token-2" 429`: 2 * n}
	for k, v := range want {
		if attacks[k] != v {
			t.Errorf("attacker answers: got %v, want %v", attacks, want)
			break
		}
	}
	if up.count() != 1 {
		t.Errorf("deployment reached %d times, want once (the victim)", up.count())
	}
}

// Addresses in one IPv6 /64 share a counter; other /64s and IPv4
// addresses have their own.
func TestIPv6ClientsAreCountedPer64(t *testing.T) {
	const n = 10
	h := newLimiter(t, limit.Config{PerClientIP: limit.Rate{Limit: n, Period: time.Minute}}).
		ClientIPHandler(&upstream{})

	ok := 0
	for i := range 100 {
		addr := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i), 15: byte(i * 7)})
		if serve(h, request("", "", netip.AddrPortFrom(addr, 443).String())).Code == http.StatusOK {
			ok++
		}
	}
	if ok != n {
		t.Errorf("100 addresses in 2001:db8::/64: got %d successes, want %d", ok, n)
	}
	for _, addr := range []string{"[2001:db8:0:1::1]:443", "[::ffff:192.0.2.9]:443", "192.0.2.10:443"} {
		if code := serve(h, request("", "", addr)).Code; code != http.StatusOK {
			t.Errorf("%s: got %d, want 200 (its own counter)", addr, code)
		}
	}
}

// Behind trusted proxies the client is the right-most untrusted
// X-Forwarded-For entry; without them the header is ignored.
func TestTrustedProxyForwardedFor(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string
		want    string
	}{
		{"no trusted proxies", nil, "10.0.0.1:1", []string{"192.0.2.1"}, "ip:10.0.0.1"},
		{"untrusted peer", proxies, "198.51.100.1:1", []string{"192.0.2.1"}, "ip:198.51.100.1"},
		{"one hop", proxies, "10.0.0.1:1", []string{"192.0.2.1"}, "ip:192.0.2.1"},
		{"spoofed left entries", proxies, "10.0.0.1:1", []string{"6.6.6.6, 7.7.7.7, 192.0.2.1, 10.0.0.2"},
			"ip:192.0.2.1"},
		{"split over fields", proxies, "10.0.0.1:1", []string{"6.6.6.6", "192.0.2.1", "10.0.0.3"},
			"ip:192.0.2.1"},
		{"port and brackets", proxies, "10.0.0.1:1", []string{"[2001:db8::1]:8443"}, "ip:2001:db8::/64"},
		{"mapped", proxies, "10.0.0.1:1", []string{"::ffff:192.0.2.5"}, "ip:192.0.2.5"},
		{"garbage stops at trusted hop", proxies, "10.0.0.1:1", []string{"192.0.2.1, junk, 10.0.0.9"},
			"ip:10.0.0.9"},
		{"all trusted", proxies, "10.0.0.1:1", []string{"10.0.0.5, 10.0.0.6"}, "ip:10.0.0.5"},
		{"no header", proxies, "[fd00::1]:1", nil, "ip:fd00::/64"},
		{"unparsable peer", proxies, "pipe", []string{"192.0.2.1"}, "ip:unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			h := newLimiter(t, limit.Config{
				TrustedProxies: tt.trusted,
				OnDecision:     func(_ context.Context, d limit.Decision) { got = d.Key },
			}).ClientIPHandler(&upstream{})
			r := request("", "", tt.peer)
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}

			serve(h, r)

			if got != tt.want {
				t.Errorf("key: got %q, want %q", got, tt.want)
			}
		})
	}
}
