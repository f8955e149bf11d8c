package proxy

import "strings"

// Browsers read http URLs by the URL Standard, which is more lenient than
// RFC 3986: a redirect the proxy rewrites must be judged the way the
// browser will follow it, or a spelling the proxy does not recognise could
// lead out of the deployment's prefix.

// isSlash reports whether c separates path segments in an http URL: '\'
// does, as well as '/'.
func isSlash(c byte) bool { return c == '/' || c == '\\' }

// browserForm returns v as a browser reads a URL: without leading and
// trailing control characters and spaces, and without tabs and newlines.
func browserForm(v string) string {
	if v != "" && v[0] > ' ' && v[len(v)-1] > ' ' && !strings.ContainsAny(v, "\t\n\r") {
		return v
	}
	v = strings.TrimFunc(v, func(r rune) bool { return r <= ' ' })
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, v)
}

// dotKind returns 1 for a segment a browser reads as ".", 2 for one it
// reads as "..", percent-encoded dots in any case included, and 0 for any
// other segment.
func dotKind(seg string) int {
	switch len(seg) {
	case 1:
		if seg == "." {
			return 1
		}
	case 2:
		if seg == ".." {
			return 2
		}
	case 3:
		if strings.EqualFold(seg, "%2e") {
			return 1
		}
	case 4:
		if strings.EqualFold(seg, ".%2e") || strings.EqualFold(seg, "%2e.") {
			return 2
		}
	case 6:
		if strings.EqualFold(seg, "%2e%2e") {
			return 2
		}
	}
	return 0
}

// segments calls yield with each segment of path (its query and fragment
// already removed), split at '/' and '\', until yield returns false.
func segments(path string, yield func(seg string) bool) {
	for {
		i := strings.IndexAny(path, `/\`)
		if i < 0 {
			yield(path)
			return
		}
		if !yield(path[:i]) {
			return
		}
		path = path[i+1:]
	}
}

// climbs reports whether the path of the relative reference ref has a ".."
// segment.
func climbs(ref string) bool {
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	found := false
	segments(ref, func(seg string) bool {
		found = dotKind(seg) == 2
		return !found
	})
	return found
}

// removeDotSegments resolves the dot segments of an absolute path as a
// browser does: ".." never climbs above the root, and a trailing dot
// segment leaves a trailing slash. A path without dot segments is returned
// as it is; otherwise '\' separators come back as '/'.
func removeDotSegments(path string) string {
	dots := false
	segments(path[1:], func(seg string) bool {
		dots = dotKind(seg) != 0
		return !dots
	})
	if !dots {
		return path
	}

	var out []string
	var last string
	segments(path[1:], func(seg string) bool {
		last = seg
		switch dotKind(seg) {
		case 2:
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case 1:
		default:
			out = append(out, seg)
		}
		return true
	})
	if dotKind(last) != 0 {
		out = append(out, "")
	}
	return "/" + strings.Join(out, "/")
}
