package usage

import "time"

// Summary is the recent usage of one user or one deployment: totals and a
// series over the window of Config.Buckets buckets that ends with the
// current one, and details (latency, clients, countries, routes) from
// DetailsStart, which is at most a sixth of the window before Start.
type Summary struct {
	// ID is the id of the user or deployment.
	ID string `json:"id"`

	// UserID is, for a deployment, the user of its latest request; for a
	// user it is empty.
	UserID string `json:"user_id,omitempty"`

	// Start and End bound the window: Start is the start of its oldest
	// bucket and End the end of the current one.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`

	// Requests counts the requests that finished in the window. Errors4xx
	// and Errors5xx count those answered with a status from 400 to 499
	// and from 500 to 599. BytesIn and BytesOut add up the bytes of their
	// request and response bodies.
	Requests  int64 `json:"requests"`
	Errors4xx int64 `json:"errors_4xx"`
	Errors5xx int64 `json:"errors_5xx"`
	BytesIn   int64 `json:"bytes_in"`
	BytesOut  int64 `json:"bytes_out"`

	// DetailsStart is where the details below start. They are kept in
	// spans of a sixth of the window (10 minutes of the default hour), so
	// the oldest span may start before Start.
	DetailsStart time.Time `json:"details_start"`

	// Latency estimates percentiles of the requests' durations.
	Latency Latency `json:"latency"`

	// Clients is the number of distinct client addresses: exact while
	// each span saw at most 16, and otherwise an estimate with a standard
	// error of about 9%.
	Clients int64 `json:"clients"`

	// Countries and Routes rank the requests' countries and route
	// templates.
	Countries Top `json:"countries"`
	Routes    Top `json:"routes"`

	// Series holds one point per bucket of the window, oldest first, empty
	// buckets included.
	Series []Point `json:"series"`
}

// Latency holds estimated percentiles of request durations, and the
// longest, which is exact. Durations are counted in a histogram with four
// bins per power of two, and a percentile is estimated as the geometric
// middle of its bin: within 12% of the true value (by nearest rank) from
// 131µs to 137s. Shorter ones are given as 66µs, and longer ones as the
// longest; every estimate is kept within the shortest and longest
// durations seen. In JSON, durations are in nanoseconds.
type Latency struct {
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// Point holds the totals of one bucket of a [Summary].
type Point struct {
	Start     time.Time `json:"start"`
	Requests  int64     `json:"requests"`
	Errors4xx int64     `json:"errors_4xx"`
	Errors5xx int64     `json:"errors_5xx"`
	BytesIn   int64     `json:"bytes_in"`
	BytesOut  int64     `json:"bytes_out"`
}
