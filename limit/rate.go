package limit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ulule/limiter/v3"
)

// A Rate is how many requests a counter allows per period. Counters use
// fixed windows: the first request after a window ends opens a new one that
// lasts Period, and at most Limit requests are allowed in it.
//
// A Limit of zero refuses every request; a negative Limit means no limit
// (see [Unlimited]).
type Rate struct {
	Limit  int64
	Period time.Duration
}

// Unlimited is the rate of a counter that never refuses. Limiters do not
// count requests under it at all, and send no rate-limit headers for it.
var Unlimited = Rate{Limit: -1}

// IsUnlimited reports whether r never refuses.
func (r Rate) IsUnlimited() bool { return r.Limit < 0 }

// valid reports whether a store can count under r.
func (r Rate) valid() bool { return r.IsUnlimited() || r.Period > 0 }

// String returns r in the form [ParseRate] accepts ("600-M", "unlimited")
// when it can, and as "600 per 1m30s" otherwise.
func (r Rate) String() string {
	if r.IsUnlimited() {
		return "unlimited"
	}
	for _, u := range units {
		if r.Period == u.d {
			return strconv.FormatInt(r.Limit, 10) + "-" + u.s
		}
	}
	return strconv.FormatInt(r.Limit, 10) + " per " + r.Period.String()
}

var units = []struct {
	s string
	d time.Duration
}{{"S", time.Second}, {"M", time.Minute}, {"H", time.Hour}, {"D", 24 * time.Hour}}

// ParseRate parses a rate in the format of github.com/ulule/limiter:
// a limit, a dash and one of the periods S (second), M (minute), H (hour)
// or D (day), as in "10-S", "600-M", "1000-H" or "5-D". It also accepts
// "unlimited", which yields [Unlimited].
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "unlimited") {
		return Unlimited, nil
	}
	lr, err := limiter.NewRateFromFormatted(s)
	if err != nil || lr.Limit < 0 {
		return Rate{}, fmt.Errorf("limit: parsing rate %q: want LIMIT-PERIOD with PERIOD one of S, M, H, D, "+
			"or \"unlimited\"", s)
	}
	return Rate{Limit: lr.Limit, Period: lr.Period}, nil
}

// ErrInvalidRate is returned by the stores of this package when asked to
// count under [Unlimited] or a rate with no period. A [Limiter] never asks
// for either.
var ErrInvalidRate = errors.New("limit: rate cannot be counted")
