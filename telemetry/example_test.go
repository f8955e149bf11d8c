package telemetry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/mcphub/apigateway/telemetry"
)

func Example() {
	tel, err := telemetry.New(telemetry.Config{
		// A usage store would keep these; the access log and metrics
		// go to Config.AccessLog and the meter provider.
		OnRequest: func(_ context.Context, rec *telemetry.Record) {
			fmt.Println(rec.Method, rec.Path, rec.Route)
			fmt.Println(rec.Status, rec.UserID, rec.DeploymentID, rec.BytesOut, rec.Country)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tel.Close()

	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The gateway fills the Record once authorization has passed.
		if rec, ok := telemetry.FromContext(r.Context()); ok {
			rec.UserID, rec.DeploymentID = "u1", "d1"
			rec.Route = "/api/gateway/{user_id}/{deployment_id}/*"
		}
		io.WriteString(w, "hello")
	})
	req := httptest.NewRequest("GET", "/api/gateway/u1/d1/greeting?token=secret", nil)

	tel.Handler(app).ServeHTTP(httptest.NewRecorder(), req)

	// Output:
	// GET /api/gateway/u1/d1/greeting /api/gateway/{user_id}/{deployment_id}/*
	// 200 u1 d1 5 unknown
}
