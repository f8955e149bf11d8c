package proxy

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcphub/apigateway/internal/requestid"
)

// modifyResponse adapts an upstream response before ReverseProxy copies it
// to the client: headers only the gateway may send are removed, redirects
// and cookies are put under the deployment's prefix, so are the endpoint
// events of an event stream, and a 101 is vetted and handed to the relay.
// A status code outside 100-599, or an event stream the proxy cannot read,
// is refused as the upstream's failure.
func (p *Proxy) modifyResponse(res *http.Response) error {
	var t *Target
	if res.Request != nil {
		t, _ = FromContext(res.Request.Context())
	}
	if res.StatusCode < 100 || res.StatusCode > 599 {
		// net/http's client accepts any three digits; its server panics
		// on writing a status under 100.
		return errBadStatus
	}
	var rl *relay
	if res.StatusCode == http.StatusSwitchingProtocols {
		var err error
		if rl, err = vetUpgrade(res); err != nil {
			return err
		}
	}

	h := res.Header
	stripGatewayOwned(h)
	scrubTrailers(res)
	if res.Request != nil {
		if _, ok := requestid.FromContext(res.Request.Context()); ok {
			// The gateway's request id is already on the response.
			delete(h, "X-Request-Id")
		}
	}
	if t != nil && t.Upstream != nil {
		p.scopeToPrefix(h, t)
		if rl == nil && mayCarryEvents(res) {
			if encoded(h) {
				// Its endpoint events could not be read, let alone kept
				// on the deployment; the proxy asks for streams
				// uncompressed (see dropStreamEncodings).
				return errEncodedEventStream
			}
			scopeEndpointEvents(res, t)
		}
	}
	if rl != nil {
		rl.upgrade = h
	}
	return nil
}

// stripGatewayOwned removes the response headers whose policy belongs to
// the gateway alone: transport security, site data clearing, alternative
// services and CORS.
func stripGatewayOwned(h http.Header) {
	for k := range h {
		if gatewayOwned(k) {
			delete(h, k)
		}
	}
}

// gatewayOwned reports whether k, in canonical form, names a header whose
// policy belongs to the gateway alone.
func gatewayOwned(k string) bool {
	switch {
	case k == "Strict-Transport-Security", k == "Clear-Site-Data", k == "Alt-Svc",
		strings.HasPrefix(k, "Access-Control-"):
		return true
	}
	return false
}

// gatewayReport reports whether k, in canonical form, names a header in
// which the gateway reports on the request itself: its request id and the
// rate-limit state its middleware sends. A final response keeps the
// deployment's value only where the gateway set none (see addHeaders);
// informational responses and trailers, which the gateway does not fill
// in, carry none from the deployment, so that none can contradict it.
func gatewayReport(k string) bool {
	switch k {
	case "X-Request-Id", "Ratelimit", "Ratelimit-Policy",
		"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset":
		return true
	}
	return false
}

// scopeToPrefix rewrites Location, Content-Location and Set-Cookie so that
// they point under t.Prefix.
func (p *Proxy) scopeToPrefix(h http.Header, t *Target) {
	scopeLocations(h, t)

	cookies := h["Set-Cookie"]
	if len(cookies) == 0 {
		return
	}
	base := upstreamBase(t.Upstream)
	prefix := strings.TrimSuffix(t.Prefix, "/")
	kept := cookies[:0]
	for _, v := range cookies {
		out, name, drop := scopeSetCookie(v, p.sessionCookie, base, prefix)
		if drop != "" {
			if p.logger != nil {
				p.logger.Debug("proxy: dropped Set-Cookie from deployment",
					"deployment", t.DeploymentID, "cookie", name, "reason", drop)
			}
			continue
		}
		kept = append(kept, out)
	}
	if len(kept) == 0 {
		delete(h, "Set-Cookie")
		return
	}
	h["Set-Cookie"] = kept
}

// scopeLocations rewrites Location, Content-Location, the URL of a Refresh
// header and the targets of Link headers so that they point under t.Prefix
// (see publicLocation).
func scopeLocations(h http.Header, t *Target) {
	base := upstreamBase(t.Upstream)
	prefix := strings.TrimSuffix(t.Prefix, "/")
	for _, k := range [...]string{"Location", "Content-Location"} {
		for i, v := range h[k] {
			h[k][i] = publicLocation(v, t.Upstream, base, prefix, upstreamPath(t))
		}
	}
	for i, v := range h["Refresh"] {
		if at, end := refreshURL(v); at < end {
			h["Refresh"][i] = v[:at] + publicLocation(v[at:end], t.Upstream, base, prefix, upstreamPath(t)) + v[end:]
		}
	}
	for i, v := range h["Link"] {
		h["Link"][i] = mapLinkTargets(v, func(u string) string {
			return publicLocation(u, t.Upstream, base, prefix, upstreamPath(t))
		})
	}
}

// mapLinkTargets applies public to the target of every link in a Link
// header value (RFC 8288: "<uri>; rel=preload, <uri>; ..."), leaving the
// parameters, quoted strings included, as they are.
func mapLinkTargets(v string, public func(string) string) string {
	if strings.IndexByte(v, '<') < 0 {
		return v
	}
	var b strings.Builder
	quoted := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quoted && c == '\\' && i+1 < len(v):
			b.WriteByte(c)
			i++
			c = v[i]
		case c == '"':
			quoted = !quoted
		case !quoted && c == '<':
			end := strings.IndexByte(v[i+1:], '>')
			if end < 0 {
				b.WriteString(v[i:])
				return b.String()
			}
			b.WriteByte('<')
			b.WriteString(public(v[i+1 : i+1+end]))
			b.WriteByte('>')
			i += end + 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// refreshURL finds the URL in a Refresh header ("5; url=/next"), as
// browsers read it: after the delay, a semicolon or comma, and an optional
// "url=", quoted or not. It returns where the URL starts and ends in v,
// or at == end when there is none.
func refreshURL(v string) (at, end int) {
	i := 0
	skip := func(set string) {
		for i < len(v) && strings.IndexByte(set, v[i]) >= 0 {
			i++
		}
	}
	skip(" \t\n\r\f")
	skip("0123456789.")
	skip(" \t\n\r\f")
	if i < len(v) && (v[i] == ';' || v[i] == ',') {
		i++
	}
	skip(" \t\n\r\f")
	if len(v)-i >= 3 && strings.EqualFold(v[i:i+3], "url") {
		j := i + 3
		for j < len(v) && strings.IndexByte(" \t\n\r\f", v[j]) >= 0 {
			j++
		}
		if j < len(v) && v[j] == '=' {
			i = j + 1
			skip(" \t\n\r\f")
		}
	}
	end = len(v)
	if i < len(v) && (v[i] == '"' || v[i] == '\'') {
		if k := strings.IndexByte(v[i+1:], v[i]); k >= 0 {
			end = i + 1 + k
		}
		i++
	}
	return i, end
}

// publicLocation maps a Location or Content-Location value to the client's
// view. A value that points at the deployment itself is put under prefix,
// and the upstream's address never reaches the client: an absolute path,
// an absolute or scheme-relative URL on the upstream's own scheme and host,
// and a relative reference with a ".." segment, which is resolved against
// from, the escaped upstream path the response answers. Dot segments are
// resolved before the prefix is added, so that none climbs out of it in
// the browser. Other relative references and other hosts are left alone.
//
// The value is read as browsers read http URLs: tabs and newlines are
// ignored, '\' separates like '/', any number of slashes may follow the
// scheme, and userinfo does not change the host. A scheme-relative URL
// spelt with a backslash ("/\host") that names another host is kept on the
// deployment as a path.
func publicLocation(v string, upstream *url.URL, base, prefix, from string) string {
	u := browserForm(v)
	var rest string
	switch {
	case len(u) >= 2 && isSlash(u[0]) && isSlash(u[1]):
		authority, r := splitAuthority(strings.TrimLeft(u, `/\`))
		switch {
		case sameHost(authority, upstream):
			rest = r
		case u[0] == '/' && u[1] == '/':
			return v
		default:
			// "/\host" is more likely a path built carelessly than a
			// URL meant for another site: keep it on the deployment.
			rest = u
		}
	case u != "" && isSlash(u[0]):
		rest = u
	default:
		scheme, after, ok := strings.Cut(u, ":")
		if !ok || !validScheme(scheme) {
			if !climbs(u) {
				return v
			}
			rest = from[:strings.LastIndexAny(from, `/\`)+1] + u
			break
		}
		if !strings.EqualFold(scheme, upstream.Scheme) ||
			len(after) < 2 || !isSlash(after[0]) || !isSlash(after[1]) {
			return v
		}
		authority, r := splitAuthority(strings.TrimLeft(after, `/\`))
		if !sameHost(authority, upstream) {
			return v
		}
		rest = r
	}

	path, tail := rest, ""
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		path, tail = rest[:i], rest[i:]
	}
	if path == "" || !isSlash(path[0]) {
		path = "/" + path
	}
	return publicPath(removeDotSegments(path), base, prefix) + tail
}

// upstreamPath returns the escaped path of t's upstream request.
func upstreamPath(t *Target) string {
	if t.Path == "" || t.Path[0] != '/' {
		return upstreamBase(t.Upstream) + "/" + t.Path
	}
	return upstreamBase(t.Upstream) + t.Path
}

// splitAuthority splits what follows the slashes of an absolute or
// scheme-relative URL into the authority and the rest (path, query and
// fragment).
func splitAuthority(s string) (authority, rest string) {
	if i := strings.IndexAny(s, `/\?#`); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// sameHost reports whether authority names the upstream's host and port,
// treating an omitted default port as equal to an explicit one. Userinfo
// is ignored, as browsers ignore it when they choose where to go.
func sameHost(authority string, upstream *url.URL) bool {
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	return strings.EqualFold(withoutDefaultPort(authority, upstream.Scheme),
		withoutDefaultPort(upstream.Host, upstream.Scheme))
}

func withoutDefaultPort(host, scheme string) string {
	switch {
	case strings.EqualFold(scheme, "http"):
		return strings.TrimSuffix(host, ":80")
	case strings.EqualFold(scheme, "https"):
		return strings.TrimSuffix(host, ":443")
	}
	return host
}

// validScheme reports whether s is an RFC 3986 scheme.
func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		switch {
		case 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= s[i] && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.'):
		default:
			return false
		}
	}
	return s != ""
}

var (
	errBadStatus          = errors.New("proxy: upstream sent a status code outside 100-599")
	errEncodedEventStream = errors.New("proxy: upstream compressed an event stream")
	errUnaskedUpgrade     = errors.New("proxy: upstream switched protocols unasked")
	errUpgradeProtocol    = errors.New("proxy: upstream switched to a protocol other than websocket")
	errUpgradeNotHijack   = errors.New("proxy: response writer cannot switch protocols")
)

// vetUpgrade accepts a 101 only in answer to a WebSocket handshake, and
// only to WebSocket; ReverseProxy would otherwise tunnel a 101 without an
// Upgrade header to a request that never asked for one. It cleans the
// response's Connection-nominated headers, which ReverseProxy keeps on a
// 101, and returns the request's relay.
func vetUpgrade(res *http.Response) (*relay, error) {
	if res.Request == nil {
		return nil, errUnaskedUpgrade
	}
	rl, _ := res.Request.Context().Value(relayKey{}).(*relay)
	if rl == nil || !isWebSocketUpgrade(res.Request.Header) {
		return nil, errUnaskedUpgrade
	}
	if !isWebSocketUpgrade(res.Header) {
		return nil, errUpgradeProtocol
	}
	if !canHijack(rl.w) {
		return nil, errUpgradeNotHijack
	}
	removeHopByHop(res.Header)
	res.Header["Connection"] = []string{"Upgrade"}
	res.Header["Upgrade"] = []string{"websocket"}
	return rl, nil
}

// hopByHop lists the headers that concern one connection only (RFC 9110,
// section 7.6.1, and their older relatives).
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopByHop deletes the headers hop-by-hop by definition and those
// nominated in any Connection line.
func removeHopByHop(h http.Header) {
	for _, line := range h["Connection"] {
		for line != "" {
			var el string
			el, line, _ = strings.Cut(line, ",")
			if el = strings.TrimSpace(el); el != "" {
				h.Del(el)
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
}
