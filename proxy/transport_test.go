package proxy

import (
	"net/http"
	"testing"
	"time"
)

func TestNewTransportDefaults(t *testing.T) {
	tr := NewTransport(TransportConfig{})

	if tr.Proxy != nil {
		t.Error("Proxy is set, want nil so HTTP_PROXY never sees internal URLs")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ResponseHeaderTimeout", tr.ResponseHeaderTimeout, 30 * time.Second},
		{"TLSHandshakeTimeout", tr.TLSHandshakeTimeout, 5 * time.Second},
		{"IdleConnTimeout", tr.IdleConnTimeout, 90 * time.Second},
		{"MaxIdleConnsPerHost", tr.MaxIdleConnsPerHost, 256},
		{"MaxConnsPerHost", tr.MaxConnsPerHost, 0},
		{"DisableCompression", tr.DisableCompression, true},
		{"HTTP/2", tr.Protocols.HTTP2(), false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestNewTransportSettings(t *testing.T) {
	tr := NewTransport(TransportConfig{
		DialTimeout:           time.Second,
		ResponseHeaderTimeout: 2 * time.Second,
		MaxIdleConnsPerHost:   3,
		MaxConnsPerHost:       4,
	})

	if tr.ResponseHeaderTimeout != 2*time.Second || tr.TLSHandshakeTimeout != time.Second ||
		tr.MaxIdleConnsPerHost != 3 || tr.MaxConnsPerHost != 4 {
		t.Errorf("transport = %+v, want the configured values", tr)
	}
}

func TestTransportIgnoresProxyEnvironment(t *testing.T) {
	// A proxy on a closed loopback port: using it would fail the request.
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("http_proxy", "http://127.0.0.1:1")
	up := newUpstream(t, echoHandler)
	g := newGateway(t, Config{}, gatewayOptions{upstreams: map[string]string{"dep-1": up.URL}})

	res, _ := do(t, newRequest(t, "GET", g.url("dep-1", "/"), nil))

	if res.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200 straight from the upstream", res.StatusCode)
	}
}
