package limit

import (
	"net/http"
	"strconv"
	"time"
)

// The response headers a [Limiter] sends. The two structured fields follow
// draft-ietf-httpapi-ratelimit-headers (revision 10); the X- fields
// are the common, unstandardized set. Every delay is in seconds from now,
// rounded up, the unit of Retry-After, so X-RateLimit-Reset, the t
// parameter of RateLimit and Retry-After agree on a 429.
const (
	// HeaderRateLimitPolicy names the limit and states its quota and
	// window, as in `"user";q=100;w=60`: 100 requests per 60 seconds.
	HeaderRateLimitPolicy = "RateLimit-Policy"

	// HeaderRateLimit gives the state of that limit, as in
	// `"user";r=42;t=17`: 42 requests remain for the next 17 seconds.
	HeaderRateLimit = "RateLimit"

	// HeaderXLimit is the limit per window, as in "100".
	HeaderXLimit = "X-RateLimit-Limit"

	// HeaderXRemaining is how many requests the window still allows.
	HeaderXRemaining = "X-RateLimit-Remaining"

	// HeaderXReset is the number of seconds until the window ends (a delay,
	// not a time stamp).
	HeaderXReset = "X-RateLimit-Reset"

	// HeaderRetryAfter is sent with 429 and 503 answers, in seconds.
	HeaderRetryAfter = "Retry-After"
)

// ExposedHeaders returns the names of every header a [Limiter] may send,
// for a CORS policy's exposed headers.
func ExposedHeaders() []string {
	return []string{HeaderRateLimitPolicy, HeaderRateLimit, HeaderXLimit, HeaderXRemaining,
		HeaderXReset, HeaderRetryAfter}
}

// HeaderSet selects which rate-limit headers a [Limiter] sends.
type HeaderSet int

// The header sets.
const (
	// HeadersAll sends both the draft fields and the X-RateLimit fields.
	HeadersAll HeaderSet = iota
	// HeadersDraft sends RateLimit-Policy and RateLimit only.
	HeadersDraft
	// HeadersX sends X-RateLimit-Limit, -Remaining and -Reset only.
	HeadersX
	// HeadersNone sends no rate-limit headers; 429 and 503 answers still
	// carry Retry-After.
	HeadersNone
)

// secondsUntil is the delay from now to t in whole seconds, rounded up and
// never negative.
func secondsUntil(t, now time.Time) int64 {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// The header names as keys of an http.Header, computed once: the
// documented spellings are not in Go's canonical form, and canonicalizing
// them on every request costs an allocation each.
var (
	keyPolicy    = http.CanonicalHeaderKey(HeaderRateLimitPolicy)
	keyRateLimit = http.CanonicalHeaderKey(HeaderRateLimit)
	keyLimit     = http.CanonicalHeaderKey(HeaderXLimit)
	keyRemaining = http.CanonicalHeaderKey(HeaderXRemaining)
	keyReset     = http.CanonicalHeaderKey(HeaderXReset)
)

// setHeaders describes the counter of scope in h; its window ends in reset
// seconds.
func setHeaders(h http.Header, set HeaderSet, scope Scope, rate Rate, res Result, reset int64) {
	if set == HeadersNone {
		return
	}
	draft := set == HeadersAll || set == HeadersDraft
	x := set == HeadersAll || set == HeadersX

	// Every value is written into one buffer, which becomes one string
	// that the values share: two allocations per response, not one per
	// value.
	var stack [128]byte
	buf := stack[:0]
	var ends [5]int // where each value ends in buf
	if draft {
		window := int64((rate.Period + time.Second - 1) / time.Second)
		buf = append(buf, '"')
		buf = append(buf, scope...)
		buf = append(buf, `";q=`...)
		buf = strconv.AppendInt(buf, res.Limit, 10)
		buf = append(buf, ";w="...)
		buf = strconv.AppendInt(buf, window, 10)
		ends[0] = len(buf)
		buf = append(buf, '"')
		buf = append(buf, scope...)
		buf = append(buf, `";r=`...)
		buf = strconv.AppendInt(buf, res.Remaining, 10)
		buf = append(buf, ";t="...)
		buf = strconv.AppendInt(buf, reset, 10)
		ends[1] = len(buf)
	}
	if x { // from ends[1]: the end of the draft values, or 0
		buf = strconv.AppendInt(buf, res.Limit, 10)
		ends[2] = len(buf)
		buf = strconv.AppendInt(buf, res.Remaining, 10)
		ends[3] = len(buf)
		buf = strconv.AppendInt(buf, reset, 10)
		ends[4] = len(buf)
	}
	all := string(buf)

	// One backing array for every value; each header gets a capped slice
	// of it, so a later Add cannot write into its neighbour.
	vals := make([]string, 5)
	if draft {
		vals[0], vals[1] = all[:ends[0]], all[ends[0]:ends[1]]
		h[keyPolicy] = vals[0:1:1]
		h[keyRateLimit] = vals[1:2:2]
	}
	if x {
		vals[2], vals[3], vals[4] = all[ends[1]:ends[2]], all[ends[2]:ends[3]], all[ends[3]:ends[4]]
		h[keyLimit] = vals[2:3:3]
		h[keyRemaining] = vals[3:4:4]
		h[keyReset] = vals[4:5:5]
	}
}
