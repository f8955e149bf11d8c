package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/mcphub/apigateway/internal/problem"
)

// handleError is ReverseProxy's ErrorHandler, also used for requests
// without a target. It classifies err and answers through the configured
// handler or [WriteError], on the outer writer: problem responses set
// their headers with Set, which must not meet ReverseProxy's staging.
func (p *Proxy) handleError(w http.ResponseWriter, r *http.Request, err error) {
	if rl, ok := w.(*relay); ok {
		if rl.final {
			return // the response is under way or the connection is gone
		}
		w = rl.w
	}
	err = classify(r, err)
	if p.onError != nil {
		p.onError(w, r, err)
		return
	}
	if p.logger != nil {
		p.logger.DebugContext(r.Context(), "proxy: request not completed", "error", err)
	}
	WriteError(w, r, err)
}

// classify wraps err in the sentinel that names what went wrong, unless it
// already wraps one: [ErrClientBody] when reading r's body failed,
// [ErrClientGone] when r's context was canceled,
// [ErrUpstreamTimeout] when a deadline passed (r's context, the dialer or
// the transport's response-header timeout), [ErrUpstreamUnreachable]
// otherwise.
func classify(r *http.Request, err error) error {
	switch {
	case errors.Is(err, ErrNoTarget), errors.Is(err, ErrClientGone), errors.Is(err, ErrClientBody),
		errors.Is(err, ErrBadUpgrade),
		errors.Is(err, ErrUpstreamTimeout), errors.Is(err, ErrUpstreamUnreachable):
		return err
	}
	if b, ok := r.Context().Value(clientBodyKey{}).(*clientBody); ok && b.err != nil && r.Context().Err() == nil {
		return fmt.Errorf("%w: %w", ErrClientBody, b.err)
	}
	switch ctxErr := r.Context().Err(); {
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrUpstreamTimeout, err)
	case ctxErr != nil:
		return fmt.Errorf("%w: %w", ErrClientGone, err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", ErrUpstreamTimeout, err)
	}
	return fmt.Errorf("%w: %w", ErrUpstreamUnreachable, err)
}

// WriteError answers r with the RFC 9457 problem for err, classified as
// the proxy's error handler does: 400 (or 413) when the client's body could
// not be read, 400 for [ErrBadUpgrade], 499 when the client went away, 504 when
// the upstream timed out, 500 for [ErrNoTarget] and 502 for anything else.
// The body never carries err's text, which may name internal addresses.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	err = classify(r, err)
	var p problem.Problem
	switch {
	case errors.Is(err, ErrNoTarget):
		p = problem.Internal
	case errors.Is(err, ErrClientGone):
		p = problem.ClientClosed
	case errors.Is(err, ErrClientBody):
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			p = problem.TooLarge.With(fmt.Sprintf("The request body is over the limit of %d bytes.", tooLarge.Limit))
		} else {
			p = problem.BadRequestBody.With("The request body could not be read; it is malformed or was cut short.")
		}
	case errors.Is(err, ErrBadUpgrade):
		p = problem.BadRequest.With("The Upgrade header names a protocol that is not printable ASCII.")
	case errors.Is(err, ErrUpstreamTimeout):
		p = problem.GatewayTimeout.With("The deployment did not send a response in time.")
	default:
		p = problem.BadGateway.With("The deployment could not be reached or sent an invalid response.")
	}
	problem.Write(w, r, p)
}
