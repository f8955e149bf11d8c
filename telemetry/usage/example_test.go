package usage_test

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/mcphub/apigateway/telemetry/usage"
)

func Example() {
	now := time.Date(2025, 6, 1, 12, 0, 30, 0, time.UTC)
	store, err := usage.New(usage.Config{Now: func() time.Time { return now }})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The gateway's telemetry records each finished request.
	for i := range 10 {
		store.Record(usage.Event{
			UserID:       "alice",
			DeploymentID: "notes",
			Route:        "/mcp",
			Country:      []string{"DE", "DE", "FR"}[i%3],
			ClientIP:     []string{"192.0.2.1", "192.0.2.2"}[i%2],
			Status:       []int{200, 200, 200, 200, 429}[i%5],
			BytesOut:     2048,
			Duration:     time.Duration(10+i) * time.Millisecond,
		})
	}

	// The host shows alice the usage of her deployments.
	for _, s := range store.UserDeployments("alice") {
		fmt.Printf("%s: %d requests, %d 4xx, %d bytes out, %d clients\n",
			s.ID, s.Requests, s.Errors4xx, s.BytesOut, s.Clients)
		fmt.Printf("latency p50 %v, p99 %v\n",
			s.Latency.P50.Round(time.Millisecond), s.Latency.P99.Round(time.Millisecond))
		fmt.Printf("countries %v\n", s.Countries.Keys)
	}
	// Output:
	// notes: 10 requests, 2 4xx, 20480 bytes out, 2 clients
	// latency p50 14ms, p99 19ms
	// countries [{DE 7} {FR 3}]
}

// The summaries encode as JSON, as a host serves them to its users.
func ExampleStore_Deployment() {
	now := time.Date(2025, 6, 1, 12, 1, 30, 0, time.UTC)
	store, err := usage.New(usage.Config{Buckets: 2, Now: func() time.Time { return now }})
	if err != nil {
		fmt.Println(err)
		return
	}
	store.Record(usage.Event{
		UserID: "alice", DeploymentID: "notes", Route: "/mcp", Country: "DE",
		ClientIP: "192.0.2.1", Status: 200, BytesIn: 300, BytesOut: 2048,
		Duration: 25 * time.Millisecond,
	})

	s, ok := store.Deployment("notes")
	if !ok {
		return
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(s)
	// Output:
	// {
	//   "id": "notes",
	//   "user_id": "alice",
	//   "start": "2025-06-01T12:00:00Z",
	//   "end": "2025-06-01T12:02:00Z",
	//   "requests": 1,
	//   "errors_4xx": 0,
	//   "errors_5xx": 0,
	//   "bytes_in": 300,
	//   "bytes_out": 2048,
	//   "details_start": "2025-06-01T12:00:00Z",
	//   "latency": {
	//     "p50_ns": 25000000,
	//     "p90_ns": 25000000,
	//     "p99_ns": 25000000,
	//     "max_ns": 25000000
	//   },
	//   "clients": 1,
	//   "countries": {
	//     "keys": [
	//       {
	//         "key": "DE",
	//         "requests": 1
	//       }
	//     ],
	//     "other": 0
	//   },
	//   "routes": {
	//     "keys": [
	//       {
	//         "key": "/mcp",
	//         "requests": 1
	//       }
	//     ],
	//     "other": 0
	//   },
	//   "series": [
	//     {
	//       "start": "2025-06-01T12:00:00Z",
	//       "requests": 0,
	//       "errors_4xx": 0,
	//       "errors_5xx": 0,
	//       "bytes_in": 0,
	//       "bytes_out": 0
	//     },
	//     {
	//       "start": "2025-06-01T12:01:00Z",
	//       "requests": 1,
	//       "errors_4xx": 0,
	//       "errors_5xx": 0,
	//       "bytes_in": 300,
	//       "bytes_out": 2048
	//     }
	//   ]
	// }
}
