package proxy

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
)

// scrubTrailers keeps out of a response's trailer section the fields a
// deployment may not send there (see trailerForbidden). The names it
// announced in a Trailer header are filtered now, before ReverseProxy
// announces them to the client. The values arrive with the end of the
// body, together with any trailers the deployment did not announce, which
// net/http collects all the same and ReverseProxy passes on; so the body
// is wrapped, whatever the response announced, and the trailers are
// filtered again when the body ends and when it is closed, before
// ReverseProxy copies them.
func scrubTrailers(res *http.Response) {
	if res.StatusCode == http.StatusSwitchingProtocols {
		// The body is the upgraded connection, which ReverseProxy needs
		// as it is, and there is no trailer section.
		return
	}
	scrubTrailer(res.Trailer)
	ctx := context.Background()
	if res.Request != nil {
		ctx = res.Request.Context()
	}
	b := newTrailerScrubber(ctx)
	b.ReadCloser, b.res = res.Body, res
	res.Body = b
}

// trailerScrubber filters a response's trailers once the body, and with it
// the trailer section, has been read. It holds the response rather than
// its trailer map: net/http creates the map at the end of the body when
// the deployment announced no trailers.
type trailerScrubber struct {
	io.ReadCloser
	res *http.Response
}

func (b *trailerScrubber) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		scrubTrailer(b.res.Trailer)
	}
	return n, err
}

// Close closes the body, which may read what was left of it and the
// trailer section, and then filters the trailers.
func (b *trailerScrubber) Close() error {
	err := b.ReadCloser.Close()
	scrubTrailer(b.res.Trailer)
	return err
}

// scrubTrailer deletes from the trailer fields h those a deployment may
// not send as trailers, and those nominated in a Connection trailer.
func scrubTrailer(h http.Header) {
	if len(h) == 0 {
		return
	}
	removeHopByHop(h)
	for k := range h {
		// Keys from net/http are canonical already, and are then not
		// copied; another transport's need not be.
		if trailerForbidden(http.CanonicalHeaderKey(k)) {
			delete(h, k)
		}
	}
}

// trailerForbidden reports whether a field named k, in canonical form,
// has no place in the trailers the client receives. Trailers leave after
// the gateway has written its header section, so nothing else filters
// them; and ReverseProxy sends the unannounced ones even when net/http's
// server would have refused to announce them.
func trailerForbidden(k string) bool {
	switch k {
	case
		// Fields RFC 9110 (section 6.5.1) keeps out of trailers, as
		// net/http's server does for the trailers a handler announces:
		// message framing, routing, request modifiers, authentication,
		// response control data, and what says how to process the
		// content. A client that merged one into the header section it
		// already had would read the response differently.
		"Authorization", "Www-Authenticate", "Cache-Control", "Pragma", "Expires", "Age",
		"Date", "Vary", "Warning", "Retry-After", "Content-Encoding", "Content-Length",
		"Content-Range", "Content-Type", "Expect", "Host", "Max-Forwards", "Range",
		// The header section carries these only after the proxy has put
		// them under the deployment's prefix; as trailers they have no
		// use, so they are dropped rather than rewritten.
		"Location", "Content-Location", "Refresh", "Link", "Set-Cookie",
		// Policies for the page, which the gateway's security headers
		// may set in the header section: a second, contradicting value
		// in the trailers would have clients that merge them pick one.
		"X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy",
		"Content-Security-Policy-Report-Only", "Permissions-Policy", "Cross-Origin-Opener-Policy",
		"Cross-Origin-Embedder-Policy", "Cross-Origin-Resource-Policy", "X-Xss-Protection":
		return true
	}
	return strings.HasPrefix(k, "If-") || slices.Contains(hopByHop, k) ||
		gatewayOwned(k) || gatewayReport(k)
}
