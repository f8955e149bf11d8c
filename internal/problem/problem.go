// Package problem writes the RFC 9457 problem responses that the gateway
// produces itself. Every error the gateway answers on its own goes through
// [Write], so clients see one shape: a stable type URI, a title, the status,
// a detail for humans and the request id.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/mcphub/apigateway/internal/requestid"
)

// ContentType is the media type of a problem response.
const ContentType = "application/problem+json"

// StatusClientClosedRequest is the status recorded, in the tradition of
// nginx, for a request whose client went away before the answer was ready.
const StatusClientClosedRequest = 499

// A Problem is one RFC 9457 problem details object.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`

	// RetryAfter, when positive, is sent as the Retry-After header in whole
	// seconds, rounded up.
	RetryAfter time.Duration `json:"-"`
}

// TypeBase prefixes every problem type the gateway uses. Each type's
// fragment names a section of docs/problems.md in the module's repository.
const TypeBase = "https://github.com/mcphub/apigateway/blob/main/docs/problems.md#"

// The problems the gateway answers with. Copy one and fill Detail (and
// RetryAfter where it applies) before writing it.
var (
	Unauthenticated = Problem{Type: TypeBase + "unauthenticated",
		Title: "Authentication required", Status: http.StatusUnauthorized}
	Forbidden = Problem{Type: TypeBase + "forbidden",
		Title: "Forbidden", Status: http.StatusForbidden}
	NotFound = Problem{Type: TypeBase + "not-found",
		Title: "Not found", Status: http.StatusNotFound}
	MethodNotAllowed = Problem{Type: TypeBase + "method-not-allowed",
		Title: "Method not allowed", Status: http.StatusMethodNotAllowed}
	BadRequest = Problem{Type: TypeBase + "invalid-request",
		Title: "Invalid request", Status: http.StatusBadRequest}
	BadRequestBody = Problem{Type: TypeBase + "invalid-request-body",
		Title: "Invalid request body", Status: http.StatusBadRequest}
	TooLarge = Problem{Type: TypeBase + "request-too-large",
		Title: "Request body too large", Status: http.StatusRequestEntityTooLarge}
	NotRunning = Problem{Type: TypeBase + "deployment-not-running",
		Title: "Deployment not running", Status: http.StatusServiceUnavailable}
	StoreUnavailable = Problem{Type: TypeBase + "deployment-store-unavailable",
		Title: "Deployment lookup unavailable", Status: http.StatusServiceUnavailable}
	BadGateway = Problem{Type: TypeBase + "upstream-unreachable",
		Title: "Deployment unreachable", Status: http.StatusBadGateway}
	GatewayTimeout = Problem{Type: TypeBase + "upstream-timeout",
		Title: "Deployment did not answer in time", Status: http.StatusGatewayTimeout}
	ClientClosed = Problem{Type: TypeBase + "client-closed-request",
		Title: "Client closed request", Status: StatusClientClosedRequest}
	Internal = Problem{Type: TypeBase + "internal",
		Title: "Internal error", Status: http.StatusInternalServerError}
)

// Write sends p as the response to r. The request id comes from r's context
// when p has none. Headers the handler already set (WWW-Authenticate, for
// instance) are kept, except those that describe a body: the problem
// replaces any body that was planned.
func Write(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.RequestID == "" {
		p.RequestID, _ = requestid.FromContext(r.Context())
	}
	body, err := json.Marshal(p)
	if err != nil {
		// Only strings and an int are marshalled; this cannot happen.
		body = []byte(`{"title":"Internal error","status":500}`)
	}

	h := w.Header()
	for _, k := range []string{"Content-Encoding", "Content-Range", "Etag", "Last-Modified"} {
		h.Del(k)
	}
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	h.Set("Cache-Control", "no-store")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((p.RetryAfter+time.Second-1)/time.Second), 10))
	}
	w.WriteHeader(p.Status)
	if r.Method != http.MethodHead {
		w.Write(append(body, '\n'))
	}
}

// With returns a copy of p with detail set.
func (p Problem) With(detail string) Problem {
	p.Detail = detail
	return p
}

// AuthUnavailable answers a request whose credentials could not be checked
// because something the verifier depends on failed.
var AuthUnavailable = Problem{Type: TypeBase + "authentication-unavailable",
	Title: "Authentication unavailable", Status: http.StatusServiceUnavailable}
