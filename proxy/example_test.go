package proxy_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/mcphub/apigateway/proxy"
)

func Example() {
	// A deployment that reports what it received.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s as %s, cookies %q",
			r.RequestURI, r.Header.Get(proxy.HeaderUserID), r.Header.Get("Cookie"))
	}))
	defer upstream.Close()
	base, _ := url.Parse(upstream.URL + "/app/")

	p, err := proxy.New(proxy.Config{SessionCookie: "gw_session"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The gateway authenticates and authorizes, then names the target.
	const prefix = "/apps/user-1/dep-1"
	route := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := &proxy.Target{
			Upstream:     base,
			Prefix:       prefix,
			Path:         strings.TrimPrefix(r.URL.EscapedPath(), prefix),
			UserID:       "user-1",
			DeploymentID: "dep-1",
		}
		p.ServeHTTP(w, r.WithContext(proxy.NewContext(r.Context(), t)))
	})
	gateway := proxy.DefaultSecurityHeaders().Handler(route)

	req := httptest.NewRequest("GET", prefix+"/hello%2Fworld?x=1", nil)
	req.Header.Set("Cookie", "gw_session=secret; theme=dark")
	rec := httptest.NewRecorder()
	gateway.ServeHTTP(rec, req)

	fmt.Println(rec.Code, rec.Body.String())
	fmt.Println("X-Content-Type-Options:", rec.Header().Get("X-Content-Type-Options"))
	// Output:
	// 200 /app/hello%2Fworld?x=1 as user-1, cookies "theme=dark"
	// X-Content-Type-Options: nosniff
}
