package gateway

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// maxIDLength bounds user and deployment ids.
const maxIDLength = 128

// A route is one request's place under the gateway: whose deployment, and
// which path within it.
type route struct {
	userID       string
	deploymentID string
	// prefix is the escaped public path of the deployment, without a
	// trailing slash: "/api/gateway/{user}/{deployment}".
	prefix string
	// rest is the escaped path below prefix, starting with "/".
	rest string
}

var (
	// errMalformedPath is a path that names no deployment, or one that
	// tries to climb out of it; it is answered like a missing deployment.
	errMalformedPath = fmt.Errorf("%w: malformed path", ErrDeploymentNotFound)
	// errNeedsSlash is a path naming a deployment's root without the
	// trailing slash that relative links in web apps depend on.
	errNeedsSlash = errors.New("gateway: deployment root needs a trailing slash")
)

// parseRoute splits an escaped request path under mount (which ends in
// "/") into user, deployment and rest.
//
// Ids are checked on the escaped form, so a percent-encoded id is refused
// rather than decoded: the one spelling that is checked is the one that is
// routed, limited and logged. The rest is kept as sent, except that literal
// "." and ".." segments are resolved when they stay inside the deployment;
// one that would climb out, an encoded dot segment, a dot segment hidden
// behind an encoded slash or before a ";" parameter (which servers such as
// Tomcat drop before resolving dots), and any backslash are refused.
func parseRoute(mount, escapedPath string) (route, error) {
	tail, ok := strings.CutPrefix(escapedPath, mount)
	if !ok {
		return route{}, errMalformedPath
	}
	user, tail, ok := strings.Cut(tail, "/")
	if !ok || !validID(user) {
		return route{}, errMalformedPath
	}
	dep, _, hasSlash := strings.Cut(tail, "/")
	if !validID(dep) {
		return route{}, errMalformedPath
	}
	rt := route{
		userID:       user,
		deploymentID: dep,
		prefix:       escapedPath[:len(mount)+len(user)+1+len(dep)],
	}
	if !hasSlash {
		return rt, errNeedsSlash
	}
	// The rest with its leading slash, sliced rather than built.
	rest, err := confine(escapedPath[len(rt.prefix):])
	if err != nil {
		return route{}, err
	}
	rt.rest = rest
	return rt, nil
}

// validID reports whether s is a well-formed user or deployment id: 1 to
// maxIDLength ASCII letters, digits, '-' or '_'.
func validID(s string) bool {
	if s == "" || len(s) > maxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// confine checks an escaped path that starts with "/" and resolves its
// literal dot segments. See parseRoute for the rules.
func confine(p string) (string, error) {
	if strings.IndexByte(p, '\\') >= 0 {
		return "", errMalformedPath
	}
	if !strings.Contains(p, "/.") && strings.IndexByte(p, '%') < 0 {
		return p, nil // the common case: nothing to look at
	}

	segments := strings.Split(p[1:], "/")
	hasDots := false
	for _, seg := range segments {
		switch seg {
		case ".", "..":
			hasDots = true
			continue
		}
		if strings.ContainsAny(seg, "%;") && hidesTraversal(seg) {
			return "", errMalformedPath
		}
	}
	if !hasDots {
		return p, nil
	}

	out := make([]string, 0, len(segments))
	for i, seg := range segments {
		last := i == len(segments)-1
		switch seg {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) == 0 {
				return "", errMalformedPath
			}
			out = out[:len(out)-1]
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/"), nil
}

// hidesTraversal reports whether an escaped segment, decoded up to three
// times (to see through double encoding), contains a backslash or a dot
// segment between decoded slashes, with or without a ";" parameter.
func hidesTraversal(seg string) bool {
	for range 3 {
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return true // a stray '%': refuse rather than guess how others decode it
		}
		if strings.IndexByte(dec, '\\') >= 0 {
			return true
		}
		for part := range strings.SplitSeq(dec, "/") {
			if part, _, _ = strings.Cut(part, ";"); part == "." || part == ".." {
				return true
			}
		}
		if dec == seg {
			return false
		}
		seg = dec
	}
	return false
}
