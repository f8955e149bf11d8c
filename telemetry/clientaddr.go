package telemetry

import (
	"net/http"
	"net/netip"

	"github.com/mcphub/apigateway/internal/clientip"
)

// clientAddr returns the address of r's client, as clientip.Client
// decides it from the trusted proxies.
func (t *Telemetry) clientAddr(r *http.Request) netip.Addr {
	return clientip.Client(r, t.proxies)
}
