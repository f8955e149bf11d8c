package limit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/mcphub/apigateway/limit"
)

// A user allowed two requests a minute makes three.
func Example() {
	l, err := limit.New(limit.Config{PerUser: limit.Rate{Limit: 2, Period: time.Minute}})
	if err != nil {
		panic(err)
	}
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))

	for range 3 {
		r := httptest.NewRequest("GET", "/api/gateway/user-1/dep-1/", nil)
		// The gateway sets the Subject once the caller is authenticated
		// and owns the deployment.
		r = r.WithContext(limit.NewContext(r.Context(), limit.Subject{UserID: "user-1", DeploymentID: "dep-1"}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("RateLimit-Policy"), w.Header().Get("X-RateLimit-Remaining"))
	}
	// Output:
	// 200 "user";q=2;w=60 1
	// 200 "user";q=2;w=60 0
	// 429 "user";q=2;w=60 0
}

// Behind a load balancer, the client is the right-most address in
// X-Forwarded-For that is not a trusted proxy, and IPv6 clients are
// counted per /64.
func ExampleLimiter_ClientIPHandler() {
	l, err := limit.New(limit.Config{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		OnDecision: func(_ context.Context, d limit.Decision) {
			fmt.Println(d.Scope, d.Key, d.Outcome)
		},
	})
	if err != nil {
		panic(err)
	}
	h := l.ClientIPHandler(http.NotFoundHandler())

	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.7:5000"                               // the load balancer
	r.Header.Set("X-Forwarded-For", "203.0.113.66, 2001:db8::1") // forged, then the client
	h.ServeHTTP(httptest.NewRecorder(), r)
	// Output:
	// ip ip:2001:db8::/64 allowed
}

func ExampleParseRate() {
	for _, s := range []string{"600-M", "10-S", "unlimited"} {
		r, err := limit.ParseRate(s)
		if err != nil {
			panic(err)
		}
		fmt.Println(r.Limit, r.Period, r.IsUnlimited())
	}
	// Output:
	// 600 1m0s false
	// 10 1s false
	// -1 0s true
}
