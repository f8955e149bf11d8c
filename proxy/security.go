package proxy

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/mcphub/apigateway/internal/respwriter"
)

// SecurityHeaders is a response header policy that the gateway, not the
// deployment, owns. [SecurityHeaders.Handler] applies it to the final
// header map of every response, proxied or produced by the gateway
// itself, 101 Switching Protocols included, so each header it names is
// sent exactly once. Informational (1xx) responses are left alone.
//
// Headers whose policy is the gateway's alone in any case
// (Strict-Transport-Security, Clear-Site-Data, Alt-Svc, Access-Control-*)
// are removed from proxied responses by [Proxy]; add the gateway's own
// values with Set, or with the CORS middleware.
type SecurityHeaders struct {
	// Set replaces these headers on every response, whatever the handler
	// or the deployment sent. Nil sets nothing.
	Set http.Header

	// Default adds these headers to responses that lack them.
	// X-Frame-Options is also not added when the response has a
	// Content-Security-Policy with a frame-ancestors directive, which
	// supersedes it. Nil adds nothing.
	Default http.Header

	// Remove deletes these headers from every response, before Set and
	// Default are applied. Nil removes nothing.
	Remove []string
}

// DefaultSecurityHeaders returns the policy the gateway starts from: it
// sets X-Content-Type-Options: nosniff and Referrer-Policy:
// strict-origin-when-cross-origin, and adds X-Frame-Options: SAMEORIGIN to
// responses that say nothing about framing. A deployment that sends its
// own X-Frame-Options or CSP frame-ancestors keeps it; move
// X-Frame-Options to Set to enforce it instead.
func DefaultSecurityHeaders() SecurityHeaders {
	return SecurityHeaders{
		Set: http.Header{
			"X-Content-Type-Options": {"nosniff"},
			"Referrer-Policy":        {"strict-origin-when-cross-origin"},
		},
		Default: http.Header{
			"X-Frame-Options": {"SAMEORIGIN"},
		},
	}
}

// Handler returns middleware that applies s to every response of next.
// The policy is copied when Handler is called; later changes to s's maps
// do not affect the returned handler. Entries without values are ignored.
func (s SecurityHeaders) Handler(next http.Handler) http.Handler {
	pol := compile(s)
	apply := pol.apply
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := respwriter.Wrap(w, apply)
		next.ServeHTTP(rw, r)
		if rw.Unwritten() {
			// net/http would send an implicit 200 without the hook.
			rw.WriteHeader(http.StatusOK)
		}
	})
}

// policy is a SecurityHeaders compiled for use on every response.
type policy struct {
	remove  []string
	set     []headerValues
	def     []headerValues
	nvalues int // values in set and def together
}

type headerValues struct {
	key    string
	values []string
}

func compile(s SecurityHeaders) *policy {
	p := new(policy)
	for _, k := range s.Remove {
		p.remove = append(p.remove, textproto.CanonicalMIMEHeaderKey(k))
	}
	p.set = p.copyValues(s.Set)
	p.def = p.copyValues(s.Default)
	return p
}

func (p *policy) copyValues(h http.Header) []headerValues {
	var out []headerValues
	for k, vv := range h {
		if len(vv) == 0 {
			continue
		}
		out = append(out, headerValues{
			key:    textproto.CanonicalMIMEHeaderKey(k),
			values: append([]string(nil), vv...),
		})
		p.nvalues += len(vv)
	}
	return out
}

// apply edits the final header map of one response.
func (p *policy) apply(h http.Header, _ int) {
	for _, k := range p.remove {
		delete(h, k)
	}
	if p.nvalues == 0 {
		return
	}

	// Fresh values for each response, in one allocation, so that nothing
	// done to the map later can reach the policy's own slices.
	vals := make([]string, 0, p.nvalues)
	put := func(hv headerValues) {
		n := len(vals)
		vals = append(vals, hv.values...)
		h[hv.key] = vals[n:len(vals):len(vals)]
	}
	for _, hv := range p.set {
		put(hv)
	}
	for _, hv := range p.def {
		if _, ok := h[hv.key]; ok {
			continue
		}
		if hv.key == "X-Frame-Options" && hasFrameAncestors(h) {
			continue
		}
		put(hv)
	}
}

// hasFrameAncestors reports whether a Content-Security-Policy in h has a
// frame-ancestors directive.
func hasFrameAncestors(h http.Header) bool {
	// A header may hold several policies (split by ',') of several
	// directives (split by ';'); a directive's name ends at white space.
	for _, csp := range h["Content-Security-Policy"] {
		for csp != "" {
			directive := csp
			if i := strings.IndexAny(csp, ";,"); i >= 0 {
				directive, csp = csp[:i], csp[i+1:]
			} else {
				csp = ""
			}
			directive = textproto.TrimString(directive)
			if i := strings.IndexAny(directive, " \t"); i >= 0 {
				directive = directive[:i]
			}
			if strings.EqualFold(directive, "frame-ancestors") {
				return true
			}
		}
	}
	return false
}
