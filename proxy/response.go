package proxy

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcphub/apigateway/internal/requestid"
)

// modifyResponse adapts an upstream response before ReverseProxy copies it
// to the client: headers only the gateway may send are removed, redirects
// and cookies are put under the deployment's prefix, so are the endpoint
// events of an event stream, and a 101 is vetted and handed to the relay.
func (p *Proxy) modifyResponse(res *http.Response) error {
	var t *Target
	if res.Request != nil {
		t, _ = FromContext(res.Request.Context())
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
		if rl == nil && isEventStream(h) {
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
		switch {
		case k == "Strict-Transport-Security", k == "Clear-Site-Data", k == "Alt-Svc",
			strings.HasPrefix(k, "Access-Control-"):
			delete(h, k)
		}
	}
}

// scopeToPrefix rewrites Location, Content-Location and Set-Cookie so that
// they point under t.Prefix.
func (p *Proxy) scopeToPrefix(h http.Header, t *Target) {
	base := upstreamBase(t.Upstream)
	prefix := strings.TrimSuffix(t.Prefix, "/")
	for _, k := range [...]string{"Location", "Content-Location"} {
		for i, v := range h[k] {
			h[k][i] = publicLocation(v, t.Upstream, base, prefix)
		}
	}

	cookies := h["Set-Cookie"]
	if len(cookies) == 0 {
		return
	}
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

// publicLocation maps a Location or Content-Location value to the client's
// view. An absolute path, or an absolute URL on the upstream's own scheme
// and host, is put under prefix (the upstream's address never reaches the
// client); relative references and other hosts are left alone.
func publicLocation(v string, upstream *url.URL, base, prefix string) string {
	var rest string
	switch {
	case strings.HasPrefix(v, "//"):
		authority, r := splitAuthority(v[2:])
		if !sameHost(authority, upstream) {
			return v
		}
		rest = r
	case strings.HasPrefix(v, "/"):
		rest = v
	default:
		scheme, after, ok := strings.Cut(v, "://")
		if !ok || !validScheme(scheme) || !strings.EqualFold(scheme, upstream.Scheme) {
			return v
		}
		authority, r := splitAuthority(after)
		if !sameHost(authority, upstream) {
			return v
		}
		rest = r
	}

	path, tail := rest, ""
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		path, tail = rest[:i], rest[i:]
	}
	return publicPath(path, base, prefix) + tail
}

// splitAuthority splits what follows "//" into the authority and the rest
// (path, query and fragment).
func splitAuthority(s string) (authority, rest string) {
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// sameHost reports whether authority names the upstream's host and port,
// treating an omitted default port as equal to an explicit one.
func sameHost(authority string, upstream *url.URL) bool {
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
	errUnaskedUpgrade   = errors.New("proxy: upstream switched protocols unasked")
	errUpgradeProtocol  = errors.New("proxy: upstream switched to a protocol other than websocket")
	errUpgradeNotHijack = errors.New("proxy: response writer cannot switch protocols")
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

// scrubTrailers keeps the headers only the gateway may send out of the
// trailer section too. Announced trailer names are filtered now; their
// values arrive with the end of the body, so they are filtered again there,
// before ReverseProxy copies them.
func scrubTrailers(res *http.Response) {
	if len(res.Trailer) == 0 {
		return
	}
	stripGatewayOwned(res.Trailer)
	res.Body = &trailerScrubber{ReadCloser: res.Body, trailer: res.Trailer}
}

// trailerScrubber removes gateway-owned names from a response's trailers
// once the body, and with it the trailer section, has been read.
type trailerScrubber struct {
	io.ReadCloser
	trailer http.Header
}

func (b *trailerScrubber) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		stripGatewayOwned(b.trailer)
	}
	return n, err
}
