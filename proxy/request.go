package proxy

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/mcphub/apigateway/internal/requestid"
)

// rewrite turns the inbound request into the upstream one. ReverseProxy
// calls it after removing hop-by-hop headers, so nothing set here can be
// deleted by a client naming it in Connection.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out
	t, ok := FromContext(in.Context())
	if !ok || t.Upstream == nil {
		return // ServeHTTP checked; the transport will refuse a host-less URL
	}
	setURL(out.URL, t, in.URL)
	out.Host = ""

	// The names below are in canonical form, as net/http stores them, so
	// plain map operations do what Header.Get and Header.Del would without
	// canonicalizing a constant on every request.
	h := out.Header
	dropSpoofable(h)
	if v := firstValue(h, "Upgrade"); v != "" && !strings.EqualFold(v, "websocket") {
		// h2c or anything else would let the client speak a protocol the
		// gateway never inspects.
		delete(h, "Upgrade")
		delete(h, "Connection")
	}
	delete(h, "Http2-Settings")
	delete(h, "Proxy-Authorization")
	dropStreamEncodings(h)
	if t.StripAuthorization {
		delete(h, "Authorization")
	}
	if p.sessionCookie != "" {
		stripCookie(h, p.sessionCookie)
	}
	p.setForwarded(h, in, t)
}

// firstValue returns the first value of the header with the canonical
// name key, as h.Get(key) would.
func firstValue(h http.Header, key string) string {
	if vv := h[key]; len(vv) > 0 {
		return vv[0]
	}
	return ""
}

// setURL points u at t's upstream. The escaped path is the upstream's base
// path without its trailing slash followed by t.Path, kept byte for byte
// (both Path and RawPath are set so EscapedPath returns it); the query is
// the client's, unchanged. The upstream URL's own query is not used.
func setURL(u *url.URL, t *Target, in *url.URL) {
	path := t.Path
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	escaped := upstreamBase(t.Upstream) + path

	u.Scheme = t.Upstream.Scheme
	u.Host = t.Upstream.Host
	u.Opaque, u.User, u.OmitHost = "", nil, false
	u.Fragment, u.RawFragment = "", ""
	if decoded, err := url.PathUnescape(escaped); err == nil {
		u.Path, u.RawPath = decoded, escaped
	} else {
		// Not a valid escaping: send it escaped once more rather than
		// guess what was meant.
		u.Path, u.RawPath = escaped, ""
	}
	u.RawQuery = in.RawQuery // ReverseProxy may have re-encoded it
	u.ForceQuery = in.ForceQuery
}

// upstreamBase returns the escaped base path of an upstream URL without its
// trailing slash: "" for "http://h" and "http://h/", "/base" for
// "http://h/base/".
func upstreamBase(u *url.URL) string {
	return strings.TrimSuffix(u.EscapedPath(), "/")
}

// Names of inbound headers that claim something about the client, its
// identity or the path it asked for. Only the gateway may say these things,
// so the client's versions are dropped, whatever their case and whether
// they spell '-' as '_' (CGI-style frameworks treat both alike).
var (
	spoofableNames = []string{
		"forwarded",
		"x-real-ip",
		"x-request-id",
		"remote-user",
		"x-remote-user",
		"x-rewrite-url",
		"x-client-ip",
		"true-client-ip",
		"x-cluster-client-ip",
	}
	spoofablePrefixes = []string{
		"x-gateway-",
		"x-forwarded-",
		"x-auth-request-",
		"x-original-",
	}
)

// dropSpoofable deletes the inbound headers listed in spoofableNames and
// spoofablePrefixes from h.
func dropSpoofable(h http.Header) {
	for k := range h {
		if spoofable(k) {
			delete(h, k)
		}
	}
}

func spoofable(k string) bool {
	if k == "" {
		return false
	}
	switch k[0] | 0x20 {
	case 'f', 'r', 't', 'x':
	default:
		return false
	}
	for _, n := range spoofableNames {
		if len(k) == len(n) && headerPrefix(k, n) {
			return true
		}
	}
	for _, n := range spoofablePrefixes {
		if headerPrefix(k, n) {
			return true
		}
	}
	return false
}

// headerPrefix reports whether header name k starts with the lower-case
// pattern, ignoring case and reading '_' as '-'.
func headerPrefix(k, pattern string) bool {
	if len(k) < len(pattern) {
		return false
	}
	for i := 0; i < len(pattern); i++ {
		c := k[i]
		if c == '_' {
			c = '-'
		} else if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != pattern[i] {
			return false
		}
	}
	return true
}

// setForwarded sets the forwarding and identity headers of the upstream
// request, one line each.
func (p *Proxy) setForwarded(h http.Header, in *http.Request, t *Target) {
	forwardedFor := peerIP(in.RemoteAddr)
	host := in.Host
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	if p.trust != nil && p.trust(in) {
		if prior := in.Header["X-Forwarded-For"]; len(prior) > 0 {
			chain := strings.Join(prior, ", ")
			if forwardedFor != "" {
				chain += ", " + forwardedFor
			}
			forwardedFor = chain
		}
		if v := firstElement(in.Header.Get("X-Forwarded-Host")); v != "" {
			host = v
		}
		switch v := firstElement(in.Header.Get("X-Forwarded-Proto")); {
		case strings.EqualFold(v, "https"):
			proto = "https"
		case strings.EqualFold(v, "http"):
			proto = "http"
		}
	}
	id, _ := requestid.FromContext(in.Context())

	// One backing array for all the values; each header gets a capped
	// slice of it so a later Add cannot write into its neighbour.
	vals := forwardedValues(in.Context())
	set := func(k, v string) {
		if v == "" {
			return
		}
		vals = append(vals, v)
		n := len(vals)
		h[k] = vals[n-1 : n : n]
	}
	set("X-Forwarded-For", forwardedFor)
	set("X-Forwarded-Host", host)
	set("X-Forwarded-Proto", proto)
	set("X-Forwarded-Prefix", strings.TrimSuffix(t.Prefix, "/"))
	set(HeaderUserID, t.UserID)
	set(HeaderDeploymentID, t.DeploymentID)
	set(HeaderRequestID, id)
}

// forwardedHeaders is the number of headers setForwarded sets at most.
const forwardedHeaders = 7

// peerIP returns the IP address of a RemoteAddr, or "" if it has none.
func peerIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	if _, err := netip.ParseAddr(remoteAddr); err == nil {
		return remoteAddr
	}
	return ""
}

// firstElement returns the first element of a comma-separated list.
func firstElement(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return textproto.TrimString(v)
}

// isWebSocketUpgrade reports whether h asks to switch to WebSocket, the
// only protocol the proxy lets a client upgrade to.
func isWebSocketUpgrade(h http.Header) bool {
	return hasToken(h["Connection"], "upgrade") && strings.EqualFold(h.Get("Upgrade"), "websocket")
}

// printableUpgrade reports whether h asks for no protocol switch, or for
// one whose name is printable ASCII, as ReverseProxy requires.
func printableUpgrade(h http.Header) bool {
	if !hasToken(h["Connection"], "upgrade") {
		return true
	}
	for _, c := range []byte(h.Get("Upgrade")) {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

// hasToken reports whether a comma-separated header contains token,
// ignoring case.
func hasToken(lines []string, token string) bool {
	for _, line := range lines {
		for line != "" {
			var el string
			el, line, _ = strings.Cut(line, ",")
			if strings.EqualFold(textproto.TrimString(el), token) {
				return true
			}
		}
	}
	return false
}
