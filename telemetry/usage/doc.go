// Package usage keeps the recent usage of each user and each deployment in
// the process, in time buckets, within a fixed bound of memory, so that a
// host can show its users what their deployments served.
//
// The gateway's telemetry calls [Store.Record] once per finished request
// with an [Event]; the host asks for a [Summary] with [Store.User],
// [Store.Deployment] or [Store.UserDeployments], and may serve it as JSON
// as it is:
//
//	store, err := usage.New(usage.Config{})
//	// per finished request:
//	store.Record(usage.Event{UserID: u, DeploymentID: d, Route: "/mcp",
//		Status: 200, BytesOut: n, Duration: elapsed})
//	// in the host's /api/usage, for the signed-in user:
//	json.NewEncoder(w).Encode(store.UserDeployments(u))
//
// The store counts what it is given and checks no ownership: the host
// shows a user only their own summaries. Record locks the user, then the
// deployment, briefly; it takes about half a microsecond
// (BenchmarkRecord on a 2-core VM) and does not allocate once they are
// known.
//
// # What is counted
//
// Only events with both a user and a deployment id count, for both. A
// [Summary] holds, over its window, the requests, those answered with 4xx
// and with 5xx, the bytes of request and response bodies, and a series of
// these per bucket for charts; and, as details, percentiles of latency,
// the number of distinct clients, and the top countries and route
// templates.
//
// # Window
//
// Time is cut into buckets of Config.Bucket (a minute by default),
// aligned on the Unix epoch, and a summary covers the last
// Config.Buckets of them (60 by default), the current one included. The
// details are kept per span of a sixth of the window (ten minutes by
// default), so that their memory does not grow with the number of
// buckets; they cover from [Summary].DetailsStart, which is up to one span
// before the window's start.
//
// # Accuracy
//
// Totals and series are exact. Latency percentiles come from a histogram
// of four bins per power of two, and are within 12% of the true value
// from 131µs to 137s (see [Latency]). Distinct clients are counted
// exactly while each span saw at most 16, and otherwise estimated with a
// HyperLogLog sketch of 128 registers, with a standard error of 9%. Each
// user and deployment tracks up to Config.MaxKeys routes and as many
// countries (32 by default), first come first tracked; a key without
// requests for a whole window makes room, and requests for keys beyond
// the bound count as [Top].Other.
//
// # Memory
//
// The store holds at most Config.MaxUsers users and Config.MaxDeployments
// deployments (10,000 each by default); beyond them, it drops those
// least often and least recently active, with their history. A user or
// deployment takes at most about 5 KiB + 40 bytes per bucket + 200 bytes
// per key of Config.MaxKeys: about 14 KiB by default. Measured on Go 1.26,
// amd64, with the defaults, it takes 1.1 KiB after a single request, and
// 6.5 KiB after a request every minute of the hour with one route, country
// and client; so a store at its default caps takes 22 MiB after a flood of
// single requests, 127 MiB when every user and deployment is busy all
// hour, and at most 261 MiB (32 routes of 64 bytes and 32 countries each,
// over 16 clients and latencies over the whole histogram in every span).
// BenchmarkMemoryAtCaps measures these; TestMemoryPerEntityAtWorst and
// TestFloodStaysWithinCaps check them:
//
//	go test -run '^$' -bench MemoryAtCaps -benchtime 1x ./telemetry/usage/
//
// Routes are cut to 64 bytes and countries to 16; events with ids over 128
// bytes are ignored.
//
// # Privacy
//
// Client addresses are kept only as hashes, keyed with a random key drawn
// when the store is built, inside the distinct-client counts; no method
// returns them or anything derived from one address.
//
// # Limitations
//
// The store lives in one process: each gateway replica counts the requests
// it served, and a restart forgets everything. A user or deployment
// dropped to make room loses its history; the cache that bounds them may
// exceed its bound briefly, by the writes it has not yet processed. Keys
// are tracked first come, so a deployment with more than MaxKeys routes
// in a window shows those it saw first, not necessarily its busiest. An
// event stamped in the future counts now, and one stamped before the
// window is dropped. Counts in one bucket saturate at 2^32-1.
// [Store.UserDeployments] looks at every deployment tracked, about a
// millisecond for 10,000.
package usage
