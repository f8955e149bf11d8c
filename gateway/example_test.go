package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/gateway"
)

func Example() {
	// A deployment: the app a user deployed, on its internal address.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from %s", r.Header.Get("X-Gateway-User-Id"), r.URL.Path)
	}))
	defer app.Close()

	// The platform's records: which deployments exist, whose they are.
	deployments := gateway.DeploymentStoreFunc(func(_ context.Context, id string) (gateway.Deployment, error) {
		if id != "my-app" {
			return gateway.Deployment{}, gateway.ErrDeploymentNotFound
		}
		return gateway.Deployment{ID: id, OwnerID: "user-1", Status: gateway.StatusRunning, UpstreamURL: app.URL}, nil
	})
	tokens, _ := auth.NewBearerVerifier(auth.StaticTokens(map[string]string{"secret-token": "user-1"}))

	gw, err := gateway.New(gateway.Config{Verifier: tokens, Deployments: deployments})
	if err != nil {
		panic(err)
	}
	platform := httptest.NewServer(gw.Wrap(http.NotFoundHandler()))
	defer platform.Close()

	for _, path := range []string{"/api/gateway/user-1/my-app/page", "/api/gateway/user-1/other-app/page"} {
		req, _ := http.NewRequest("GET", platform.URL+path, nil)
		req.Header.Set("Authorization", "Bearer secret-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			fmt.Println(resp.StatusCode, string(body))
		} else {
			fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	// Output:
	// 200 hello user-1 from /page
	// 404 application/problem+json
}
