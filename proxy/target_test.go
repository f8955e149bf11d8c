package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestNewContextCarriesACopyOfTheTarget(t *testing.T) {
	up, _ := url.Parse("http://upstream.test")
	target := Target{Upstream: up, Prefix: "/p", DeploymentID: "dep-1"}
	ctx := NewContext(context.Background(), &target)
	target.DeploymentID = "changed"

	got, ok := FromContext(ctx)
	if !ok || got.DeploymentID != "dep-1" || got.Upstream != up {
		t.Errorf("FromContext = %+v, %v; want the target as it was passed, true", got, ok)
	}
}

func TestNewContextWithNilHidesTheOuterTarget(t *testing.T) {
	up, _ := url.Parse("http://upstream.test")
	outer := NewContext(context.Background(), &Target{Upstream: up})
	ctx := NewContext(outer, nil)

	if got, ok := FromContext(ctx); ok {
		t.Errorf("FromContext = %+v, true; want none", got)
	}
}

// TestRequestsSharingAContextKeepTheirOwnHeaders serves two requests under
// one context, which lends its room for per-request state once: the second
// must not write into the first's upstream headers.
func TestRequestsSharingAContextKeepTheirOwnHeaders(t *testing.T) {
	up, _ := url.Parse("http://upstream.test")
	transport := &capturingTransport{}
	p, err := New(Config{Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	ctx := NewContext(context.Background(), &Target{Upstream: up, Prefix: "/p", Path: "/"})

	var sent []*http.Request
	for _, peer := range []string{"192.0.2.1:1000", "192.0.2.2:2000"} {
		r := httptest.NewRequest("GET", "/p/", nil).WithContext(ctx)
		r.RemoteAddr = peer
		p.ServeHTTP(httptest.NewRecorder(), r)
		sent = append(sent, transport.out)
	}

	for i, want := range []string{"192.0.2.1", "192.0.2.2"} {
		if got := sent[i].Header.Get("X-Forwarded-For"); got != want {
			t.Errorf("request %d: X-Forwarded-For = %q, want %q", i+1, got, want)
		}
	}
}
