package proxy

import (
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

func FuzzScopeSetCookie(f *testing.F) {
	const prefix = "/api/gateway/user-1/dep-1"
	f.Add("sid=abc; Path=/; HttpOnly")
	f.Add("x=1; Domain=example.test; path=/base/x")
	f.Add("__Host-x=1; Path=/")
	f.Add("=gw_session=1")
	f.Fuzz(func(t *testing.T, v string) {
		out, name, drop := scopeSetCookie(v, sessionCookie, "/base", prefix)
		if drop != "" {
			if out != "" {
				t.Fatalf("scopeSetCookie(%q) dropped the cookie but returned %q", v, out)
			}
			return
		}
		if name == "" || name == sessionCookie || strings.HasPrefix(strings.ToLower(name), "__host-") {
			t.Fatalf("scopeSetCookie(%q) kept cookie named %q", v, name)
		}
		_, attrs, _ := strings.Cut(out, ";")
		sawPath := false
		for _, attr := range strings.Split(attrs, ";") {
			key, val, _ := strings.Cut(attr, "=")
			switch key = strings.TrimSpace(key); {
			case strings.EqualFold(key, "Domain"):
				t.Fatalf("scopeSetCookie(%q) = %q, kept a Domain attribute", v, out)
			case strings.EqualFold(key, "Path"):
				sawPath = true
				if !hasPathPrefix(strings.TrimSpace(val), prefix) {
					t.Fatalf("scopeSetCookie(%q) = %q, Path outside the prefix", v, out)
				}
			}
		}
		if !sawPath {
			t.Fatalf("scopeSetCookie(%q) = %q, no Path attribute", v, out)
		}
	})
}
