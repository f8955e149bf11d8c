package proxy

import (
	"net/http"
	"net/textproto"
	"strings"
)

// stripCookie removes every cookie named name from the Cookie lines of h.
// The other cookies keep their order and their bytes; lines left empty are
// removed.
func stripCookie(h http.Header, name string) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	kept := lines[:0]
	for _, line := range lines {
		if v := withoutCookie(line, name); v != "" {
			kept = append(kept, v)
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = kept
}

// withoutCookie returns the Cookie header value v without the pairs named
// name. Values are copied as they are, never decoded and encoded again. A
// name is compared with any white space around it trimmed, Unicode's
// included: lenient servers (Python's http.cookies among them) read
// "name\f=v" as the cookie name.
func withoutCookie(v, name string) string {
	if !strings.Contains(v, name) {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	dropped := false
	for rest := v; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, ";")
		pair = textproto.TrimString(pair)
		n, _, _ := strings.Cut(pair, "=")
		if strings.TrimSpace(n) == name {
			dropped = true
			continue
		}
		if pair == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(pair)
	}
	if !dropped {
		return v
	}
	return b.String()
}

// Reasons a Set-Cookie from a deployment is dropped.
const (
	dropNameless = "cookie without a name"
	dropHostOnly = "__Host- cookie cannot be scoped to a path"
	dropSession  = "cookie has the platform session cookie's name"
)

// scopeSetCookie rewrites one Set-Cookie value from a deployment so that
// the cookie stays under the deployment's public prefix: the Domain
// attribute is removed, and Path is mapped from the upstream's base path to
// prefix (a missing or root Path becomes prefix). Every other attribute is
// kept as it was written.
//
// It returns the cookie's name and, when the cookie must be dropped
// instead, the reason: a cookie without a name (browsers send its value
// bare, so it could pose as any cookie), any __Host- cookie (the prefix
// demands Path=/, which would reach every deployment and the platform), and
// the platform's session cookie, plain or with a __Host- or __Secure-
// prefix.
func scopeSetCookie(v, session, base, prefix string) (out, name, drop string) {
	first, attrs, _ := strings.Cut(v, ";")
	name, _, hasValue := strings.Cut(first, "=")
	name = textproto.TrimString(name)
	switch {
	case !hasValue || name == "":
		return "", name, dropNameless
	case hasPrefixFold(name, "__Host-"):
		return "", name, dropHostOnly
	case session != "" && (name == session ||
		hasPrefixFold(name, "__Secure-") && name[len("__Secure-"):] == session):
		return "", name, dropSession
	}

	var b strings.Builder
	b.Grow(len(v) + len(prefix) + len("; Path="))
	b.WriteString(first)
	hasPath := false
	for attrs != "" {
		var attr string
		attr, attrs, _ = strings.Cut(attrs, ";")
		key, val, _ := strings.Cut(attr, "=")
		switch key = textproto.TrimString(key); {
		case strings.EqualFold(key, "Domain"):
			continue
		case strings.EqualFold(key, "Path"):
			hasPath = true
			b.WriteString("; Path=")
			b.WriteString(cookiePath(textproto.TrimString(val), base, prefix))
			continue
		}
		b.WriteByte(';')
		b.WriteString(attr)
	}
	if !hasPath && prefix != "" {
		b.WriteString("; Path=")
		b.WriteString(prefix)
	}
	return b.String(), name, ""
}

// cookiePath maps a cookie's Path attribute from the upstream's view to the
// client's. A path that is empty or not absolute is ignored by browsers, so
// it is treated like a missing one.
func cookiePath(path, base, prefix string) string {
	if path == "" || path[0] != '/' {
		path = "/"
	}
	path = publicPath(path, base, prefix)
	if prefix != "" && path == prefix+"/" {
		return prefix
	}
	return path
}

// publicPath maps an escaped upstream path to the path the client uses:
// the upstream's base path is replaced by prefix. A path already under
// prefix (from an application that honours X-Forwarded-Prefix) is kept.
func publicPath(path, base, prefix string) string {
	if prefix != "" && hasPathPrefix(path, prefix) {
		return path
	}
	if base != "" && hasPathPrefix(path, base) {
		path = path[len(base):]
	}
	if path == "" {
		path = "/"
	}
	return prefix + path
}

// hasPathPrefix reports whether path is prefix or lies below it.
func hasPathPrefix(path, prefix string) bool {
	return strings.HasPrefix(path, prefix) &&
		(len(path) == len(prefix) || path[len(prefix)] == '/')
}

// hasPrefixFold reports whether s starts with prefix, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// validCookieName reports whether name is an RFC 6265 token.
func validCookieName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return name != ""
}
