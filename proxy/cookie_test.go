package proxy

import (
	"net/http"
	"strings"
	"testing"
)

func TestWithoutCookie(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"gw_session=S1; app_pref=dark; csrftoken=xyz", "app_pref=dark; csrftoken=xyz"},
		{"app_pref=dark; gw_session=S1", "app_pref=dark"},
		{"gw_session=S1", ""},
		{"a=1;gw_session=S1;b=2", "a=1; b=2"},
		{" gw_session = S1 ; a=1", "a=1"},
		{"a=1;  b=2", "a=1;  b=2"}, // untouched when nothing is cut
		{"xgw_session=1; gw_session_x=2", "xgw_session=1; gw_session_x=2"},
		{"a=1; gw_session\f=S1; \vgw_session=S2; gw_session\u00a0=S3", "a=1"},
	}
	for _, tt := range tests {
		if got := withoutCookie(tt.in, sessionCookie); got != tt.want {
			t.Errorf("withoutCookie(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzWithoutCookie(f *testing.F) {
	f.Add("gw_session=S1; app_pref=dark; csrftoken=xyz")
	f.Add("a=1;gw_session=S1;;b")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		got := withoutCookie(v, sessionCookie)

		for _, pair := range strings.Split(got, ";") {
			name, _, _ := strings.Cut(pair, "=")
			if strings.TrimSpace(name) == sessionCookie {
				t.Fatalf("withoutCookie(%q) = %q, still has the session cookie", v, got)
			}
		}
		if len(got) > len(v) {
			t.Fatalf("withoutCookie(%q) = %q, longer than the input", v, got)
		}
	})
}

// FuzzScopeSetCookie checks that whatever a deployment writes in a
// Set-Cookie header, the cookie a browser (or Go's own parser) would store
// from the rewritten header is scoped to the deployment's prefix, has no
// Domain, and is not the platform's session cookie or a __Host- cookie.
func FuzzScopeSetCookie(f *testing.F) {
	const prefix = "/api/gateway/user-1/dep-1"
	for _, seed := range []string{
		"sid=abc; Path=/; HttpOnly", "x=1; Domain=example.test; path=/base/x",
		"__Host-x=1; Path=/", "=gw_session=1",
		// A deployment reaching for the platform's cookie or a sibling's
		// path.
		"theme=dark", "gw_session=attacker; Path=/", "__Secure-gw_session=x; Secure",
		"__SECURE-gw_session=x", " gw_session =x", "\tgw_session=x", "x=1; Domain=.example.test; Path=/",
		"x=1; Path=/api/gateway/user-2/dep-2", "x=1; Path=/api/gateway/user-1/dep-10",
		"x=1; Path=/base/../../api/gateway/user-2", "x=1; Path=/x; Path=/", "x=1;  DOMAIN = evil ;Path",
		"x=1; Path=" + prefix + "x", "x=1; \tDomain=evil",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		out, name, drop := scopeSetCookie(v, sessionCookie, "/base", prefix)
		if drop != "" {
			if out != "" {
				t.Fatalf("scopeSetCookie(%q) dropped the cookie but returned %q", v, out)
			}
			return
		}

		// Browsers trim spaces and tabs around names and attributes.
		const ws = " \t"
		first, attrs, _ := strings.Cut(out, ";")
		browserName, _, _ := strings.Cut(first, "=")
		browserName = strings.Trim(browserName, ws)
		for _, n := range []string{name, browserName} {
			if n == "" || n == sessionCookie || hasPrefixFold(n, "__Host-") ||
				hasPrefixFold(n, "__Secure-") && n[len("__Secure-"):] == sessionCookie {
				t.Fatalf("scopeSetCookie(%q) = %q, kept cookie named %q", v, out, n)
			}
		}
		sawPath := false
		for _, attr := range strings.Split(attrs, ";") {
			key, val, _ := strings.Cut(attr, "=")
			switch key = strings.Trim(key, ws); {
			case strings.EqualFold(key, "Domain"):
				t.Fatalf("scopeSetCookie(%q) = %q, kept a Domain attribute", v, out)
			case strings.EqualFold(key, "Path"):
				sawPath = true
				if !hasPathPrefix(strings.Trim(val, ws), prefix) {
					t.Fatalf("scopeSetCookie(%q) = %q, Path outside the prefix", v, out)
				}
			}
		}
		if !sawPath {
			t.Fatalf("scopeSetCookie(%q) = %q, no Path attribute", v, out)
		}
		// Go ignores a Path it finds malformed; the cookie then takes the
		// directory of the request, which is under the prefix too.
		if c, err := http.ParseSetCookie(out); err == nil {
			if c.Domain != "" || c.Path != "" && !hasPathPrefix(c.Path, prefix) || c.Name == sessionCookie {
				t.Fatalf("scopeSetCookie(%q) = %q, which Go reads as name %q, Domain %q, Path %q",
					v, out, c.Name, c.Domain, c.Path)
			}
		}
	})
}
