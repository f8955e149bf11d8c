package gateway

import (
	"errors"
	"net/url"
	"path"
	"strings"
	"testing"
)

func TestParseRoute(t *testing.T) {
	const mount = "/api/gateway/"
	tests := []struct {
		name     string
		path     string
		wantUser string
		wantDep  string
		wantRest string
		wantErr  error
	}{
		{"root", "/api/gateway/user-1/dep-1/", "user-1", "dep-1", "/", nil},
		{"nested path", "/api/gateway/user-1/dep-1/static/css/main.css", "user-1", "dep-1", "/static/css/main.css", nil},
		{"encoded slash and space kept byte for byte", "/api/gateway/user-1/dep-1/files/a%2Fb%20c",
			"user-1", "dep-1", "/files/a%2Fb%20c", nil},
		{"double slashes kept", "/api/gateway/user-1/dep-1//double//slash/", "user-1", "dep-1", "//double//slash/", nil},
		{"scheme-relative looking rest kept as a path", "/api/gateway/user-1/dep-1//evil.example/x",
			"user-1", "dep-1", "//evil.example/x", nil},
		{"encoded dot inside a name is fine", "/api/gateway/user-1/dep-1/file%2etxt", "user-1", "dep-1", "/file%2etxt", nil},
		{"dots inside names are fine", "/api/gateway/user-1/dep-1/a..b/.well-known/x",
			"user-1", "dep-1", "/a..b/.well-known/x", nil},
		{"parameters on names are fine", "/api/gateway/user-1/dep-1/a;v=1/..x;y/b;",
			"user-1", "dep-1", "/a;v=1/..x;y/b;", nil},
		{"dot-dot that stays inside is resolved", "/api/gateway/user-1/dep-1/a/../b", "user-1", "dep-1", "/b", nil},
		{"dot segment is resolved", "/api/gateway/user-1/dep-1/a/./b", "user-1", "dep-1", "/a/b", nil},
		{"trailing dot-dot keeps a directory", "/api/gateway/user-1/dep-1/a/b/..", "user-1", "dep-1", "/a/", nil},
		{"ids are case-sensitive, not folded", "/api/gateway/USER-1/dep-1/", "USER-1", "dep-1", "/", nil},

		{"no trailing slash after deployment", "/api/gateway/user-1/dep-1", "user-1", "dep-1", "", errNeedsSlash},

		{"mount only", "/api/gateway/", "", "", "", errMalformedPath},
		{"user only", "/api/gateway/user-1", "", "", "", errMalformedPath},
		{"user and slash", "/api/gateway/user-1/", "", "", "", errMalformedPath},
		{"outside mount", "/api/other/user-1/dep-1/", "", "", "", errMalformedPath},
		{"percent-encoded user", "/api/gateway/%75ser-1/dep-1/", "", "", "", errMalformedPath},
		{"encoded slash joining ids", "/api/gateway/user-1%2Fdep-2/x", "", "", "", errMalformedPath},
		{"NUL in deployment", "/api/gateway/user-1/dep-1%00/", "", "", "", errMalformedPath},
		{"matrix parameter in deployment", "/api/gateway/user-1/dep-1;x=1/", "", "", "", errMalformedPath},
		{"encoded hyphen in deployment", "/api/gateway/user-1/dep%2D2/", "", "", "", errMalformedPath},
		{"dot-dot id", "/api/gateway/../dep-1/", "", "", "", errMalformedPath},
		{"overlong id", "/api/gateway/" + strings.Repeat("u", maxIDLength+1) + "/dep-1/", "", "", "", errMalformedPath},

		{"dot-dot climbing out", "/api/gateway/user-1/dep-1/../../user-2/dep-2/", "", "", "", errMalformedPath},
		{"encoded dot-dot", "/api/gateway/user-1/dep-1/%2e%2e/%2e%2e/user-2/dep-2/", "", "", "", errMalformedPath},
		{"mixed-case encoded dot-dot", "/api/gateway/user-1/dep-1/%2E%2e/x", "", "", "", errMalformedPath},
		{"half-encoded dot-dot", "/api/gateway/user-1/dep-1/.%2e/x", "", "", "", errMalformedPath},
		{"dot-dot behind encoded slashes", "/api/gateway/user-1/dep-1/..%2f..%2f..%2fadmin", "", "", "", errMalformedPath},
		{"double-encoded traversal", "/api/gateway/user-1/dep-1/%252e%252e%252fsecret", "", "", "", errMalformedPath},
		{"backslash traversal", `/api/gateway/user-1/dep-1/..\..\user-2`, "", "", "", errMalformedPath},
		{"encoded backslash traversal", "/api/gateway/user-1/dep-1/..%5c..%5cuser-2", "", "", "", errMalformedPath},
		{"lone backslash", `/api/gateway/user-1/dep-1/a\b`, "", "", "", errMalformedPath},
		{"stray percent", "/api/gateway/user-1/dep-1/100%", "", "", "", errMalformedPath},
		{"dot-dot with a parameter", "/api/gateway/user-1/dep-1/..;/..;/user-2/dep-2/", "", "", "", errMalformedPath},
		{"dot with a parameter", "/api/gateway/user-1/dep-1/.;x/a", "", "", "", errMalformedPath},
		{"encoded dot-dot with a parameter", "/api/gateway/user-1/dep-1/%2e%2e;x/y", "", "", "", errMalformedPath},
		{"dot-dot with an encoded parameter", "/api/gateway/user-1/dep-1/..%3bx/y", "", "", "", errMalformedPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := parseRoute(mount, tt.path)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("parseRoute(%q) error = %v, want %v", tt.path, err, tt.wantErr)
				}
				if errors.Is(tt.wantErr, errMalformedPath) && !errors.Is(err, ErrDeploymentNotFound) {
					t.Errorf("malformed path error %v should answer like a missing deployment", err)
				}
				if tt.wantErr != errNeedsSlash {
					return
				}
			} else if err != nil {
				t.Fatalf("parseRoute(%q) error = %v", tt.path, err)
			}
			if rt.userID != tt.wantUser || rt.deploymentID != tt.wantDep || rt.rest != tt.wantRest {
				t.Errorf("parseRoute(%q) = user %q dep %q rest %q; want %q %q %q",
					tt.path, rt.userID, rt.deploymentID, rt.rest, tt.wantUser, tt.wantDep, tt.wantRest)
			}
			if want := mount + tt.wantUser + "/" + tt.wantDep; rt.prefix != want {
				t.Errorf("prefix = %q, want %q", rt.prefix, want)
			}
		})
	}
}

// FuzzParseRoute checks the invariants that keep a request inside the
// deployment its path names, whatever the input: the ids are the path's
// own first two segments, parsing is stable, and however a server behind
// the gateway or a browser cleans the forwarded path (decoding it up to
// three times, reading '\\' as '/', dropping ";" parameters the way Tomcat
// does, removing dot segments), it stays under the deployment's prefix.
func FuzzParseRoute(f *testing.F) {
	for _, seed := range []string{
		"/api/gateway/user-1/dep-1/", "/api/gateway/user-1/dep-1/a/../b",
		"/api/gateway/user-1/dep-1/../../user-2/dep-2/", "/api/gateway/user-1/dep-1/%2e%2e/x",
		"/api/gateway/user-1/dep-1/..%2f..%2fadmin", "/api/gateway/user-1/dep-1/%252e%252e%252f",
		`/api/gateway/user-1/dep-1/..\..\x`, "/api/gateway/user-1/dep-1//evil.example/x",
		// Ids spelt other ways, traversal through every encoding, and
		// paths that must pass byte for byte.
		"/api/gateway/%75ser-1/dep-1/", "/api/gateway/USER-1/dep-1/", "/api/gateway/user-1%2Fdep-2/x",
		"/api/gateway/user-1/dep-1%00/", "/api/gateway/user-1/dep-1;x=1/", "/api/gateway/user-1/dep%2D2/",
		"/api/gateway/user-1/dep-1/..%5c..%5cuser-2", "/api/gateway/user-1/dep-1/files/a%2Fb%20c",
		"/api/gateway/user-1/dep-1/..;/..;/user-2/dep-2/", "/api/gateway/user-1/dep-1/.;/x",
		"/api/gateway/user-1/dep-1/%2e%2e;x/y", "/api/gateway/user-1/dep-1/%25252e%25252e/x",
		"/api/gateway/user-1/dep-1/\uff0e\uff0e/x", "/api/gateway/user-1/dep-1/a/b/..",
	} {
		f.Add(seed)
	}
	const mount = "/api/gateway/"
	f.Fuzz(func(t *testing.T, p string) {
		rt, err := parseRoute(mount, p)
		if errors.Is(err, errNeedsSlash) {
			if p != rt.prefix || !validID(rt.userID) || !validID(rt.deploymentID) {
				t.Fatalf("parseRoute(%q) asks for a slash after prefix %q", p, rt.prefix)
			}
			return
		}
		if err != nil {
			return
		}
		if !validID(rt.userID) || !validID(rt.deploymentID) {
			t.Fatalf("accepted invalid ids in %q: %q %q", p, rt.userID, rt.deploymentID)
		}
		want := mount + rt.userID + "/" + rt.deploymentID
		if rt.prefix != want || !strings.HasPrefix(p, want+"/") {
			t.Fatalf("parseRoute(%q): prefix %q, want %q, the path's own first segments",
				p, rt.prefix, want)
		}
		if !strings.HasPrefix(rt.rest, "/") || strings.ContainsRune(rt.rest, '\\') {
			t.Fatalf("rest %q of %q does not start with / or keeps a backslash", rt.rest, p)
		}
		again, err := parseRoute(mount, rt.prefix+rt.rest)
		if err != nil || again != rt {
			t.Fatalf("parseRoute(%q) = %+v, but its own output parses as %+v, %v", p, rt, again, err)
		}
		for name, clean := range hostileCleaners {
			if got := clean(rt.prefix + rt.rest); !strings.HasPrefix(got+"/", rt.prefix+"/") {
				t.Fatalf("%q forwarded as %q leaves %s when %s: %q", p, rt.rest, rt.prefix, name, got)
			}
		}
	})
}

// hostileCleaners are the ways servers and browsers have been seen to
// normalise a path after a proxy checked it.
var hostileCleaners = map[string]func(string) string{
	"cleaned as is": path.Clean,
	"decoded once":  func(p string) string { return path.Clean(unescape(p, 1)) },
	"decoded twice": func(p string) string { return path.Clean(unescape(p, 2)) },
	"decoded three times, backslashes read as slashes": func(p string) string {
		return path.Clean(strings.ReplaceAll(unescape(p, 3), "\\", "/"))
	},
	"parameters dropped from segments": func(p string) string {
		segs := strings.Split(unescape(p, 1), "/")
		for i, s := range segs {
			segs[i], _, _ = strings.Cut(s, ";")
		}
		return path.Clean(strings.Join(segs, "/"))
	},
	"encoded dots read as dots": func(p string) string {
		p = strings.NewReplacer("%2e", ".", "%2E", ".").Replace(p)
		return path.Clean(strings.ReplaceAll(p, "\\", "/"))
	},
}

// unescape percent-decodes p up to n times, stopping at the first
// decoding that fails.
func unescape(p string, n int) string {
	for range n {
		dec, err := url.PathUnescape(p)
		if err != nil {
			return p
		}
		p = dec
	}
	return p
}
