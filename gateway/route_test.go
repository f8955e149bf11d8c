package gateway

import (
	"errors"
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
// deployment its path names, whatever the input.
func FuzzParseRoute(f *testing.F) {
	for _, seed := range []string{
		"/api/gateway/user-1/dep-1/", "/api/gateway/user-1/dep-1/a/../b",
		"/api/gateway/user-1/dep-1/../../user-2/dep-2/", "/api/gateway/user-1/dep-1/%2e%2e/x",
		"/api/gateway/user-1/dep-1/..%2f..%2fadmin", "/api/gateway/user-1/dep-1/%252e%252e%252f",
		`/api/gateway/user-1/dep-1/..\..\x`, "/api/gateway/user-1/dep-1//evil.example/x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt, err := parseRoute("/api/gateway/", p)
		if err != nil {
			return
		}
		if !validID(rt.userID) || !validID(rt.deploymentID) {
			t.Fatalf("accepted invalid ids in %q: %q %q", p, rt.userID, rt.deploymentID)
		}
		if !strings.HasPrefix(rt.rest, "/") {
			t.Fatalf("rest %q of %q does not start with /", rt.rest, p)
		}
		for _, seg := range strings.Split(rt.rest, "/") {
			if seg == "." || seg == ".." || hidesTraversal(seg) {
				t.Fatalf("rest %q of %q keeps a traversal segment %q", rt.rest, p, seg)
			}
		}
		if strings.ContainsRune(rt.rest, '\\') {
			t.Fatalf("rest %q of %q keeps a backslash", rt.rest, p)
		}
	})
}
