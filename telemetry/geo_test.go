package telemetry_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/mcphub/apigateway/telemetry"
)

// writeGeoDB writes a tiny City database: 81.2.69.0/24 is London, GB;
// 2a02:ec80::/32 is in DE, with no city.
func writeGeoDB(t *testing.T) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-City", RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	insert := func(cidr string, v mmdbtype.Map) {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, v); err != nil {
			t.Fatal(err)
		}
	}
	insert("81.2.69.0/24", mmdbtype.Map{
		"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB")},
		"city":    mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("London")}},
	})
	insert("2a02:ec80::/32", mmdbtype.Map{
		"country": mmdbtype.Map{"iso_code": mmdbtype.String("DE")},
	})

	path := filepath.Join(t.TempDir(), "city.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGeography(t *testing.T) {
	db := writeGeoDB(t)
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name     string
		noDB     bool
		peer     string
		xff      string
		cdn      string
		clientIP string
		country  string
		city     string
	}{
		{name: "no database", noDB: true, peer: "81.2.69.142:1234",
			clientIP: "81.2.69.142", country: "unknown"},
		{name: "peer in the database", peer: "81.2.69.142:1234",
			clientIP: "81.2.69.142", country: "GB", city: "London"},
		{name: "IPv6 peer with a country only", peer: "[2a02:ec80::1]:1234",
			clientIP: "2a02:ec80::1", country: "DE"},
		{name: "address the database lacks", peer: "198.51.100.7:1234",
			clientIP: "198.51.100.7", country: "unknown"},
		{name: "trusted proxy's X-Forwarded-For", peer: "10.0.0.2:1234",
			xff:      "203.0.113.9, 81.2.69.142",
			clientIP: "81.2.69.142", country: "GB", city: "London"},
		{name: "untrusted peer's X-Forwarded-For is ignored", peer: "198.51.100.7:1234",
			xff:      "81.2.69.142",
			clientIP: "198.51.100.7", country: "unknown"},
		{name: "untrusted peer's country header is ignored", peer: "81.2.69.142:1234", cdn: "FR",
			clientIP: "81.2.69.142", country: "GB", city: "London"},
		{name: "trusted proxy's country header wins", peer: "10.0.0.2:1234",
			xff: "81.2.69.142", cdn: "fr",
			clientIP: "81.2.69.142", country: "FR"},
		{name: "trusted header agreeing keeps the city", peer: "10.0.0.2:1234",
			xff: "81.2.69.142", cdn: "GB",
			clientIP: "81.2.69.142", country: "GB", city: "London"},
		{name: "trusted header without a database", noDB: true, peer: "10.0.0.2:1234", cdn: "DE",
			clientIP: "10.0.0.2", country: "DE"},
		{name: "CDN's unknown country falls back to the database", peer: "10.0.0.2:1234",
			xff: "81.2.69.142", cdn: "XX", clientIP: "81.2.69.142", country: "GB", city: "London"},
		{name: "malformed country header", peer: "10.0.0.2:1234", xff: "81.2.69.142", cdn: "G<",
			clientIP: "81.2.69.142", country: "GB", city: "London"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := telemetry.Config{GeoIP: db, CountryHeader: "CF-IPCountry", TrustedProxies: proxies}
			if tt.noDB {
				cfg.GeoIP = ""
			}
			h := newHarness(t, cfg)
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tt.peer
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			if tt.cdn != "" {
				req.Header.Set("Cf-Ipcountry", tt.cdn)
			}

			h.tel.Handler(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), req)

			rec := h.record(t)
			if rec.ClientIP.String() != tt.clientIP || rec.Country != tt.country ||
				rec.City != tt.city {
				t.Errorf("got %s, %q, %q; want %s, %q, %q",
					rec.ClientIP, rec.Country, rec.City, tt.clientIP, tt.country, tt.city)
			}
			line := h.logLines(t)[0]
			if line["country"] != tt.country || line["city"] != tt.city ||
				line["client_ip"] != tt.clientIP {
				t.Errorf("access log: got %v, %v, %v", line["client_ip"], line["country"], line["city"])
			}
		})
	}
}

func TestLookupAfterCloseFindsNoCountry(t *testing.T) {
	h := newHarness(t, telemetry.Config{GeoIP: writeGeoDB(t)})
	if err := h.tel.Close(); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "81.2.69.142:1234"

	h.tel.Handler(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), req)

	if rec := h.record(t); rec.Country != "unknown" {
		t.Errorf("got country %q, want unknown", rec.Country)
	}
	if err := h.tel.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
