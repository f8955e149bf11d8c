package telemetry

import (
	"net/http"
	"net/netip"
	"sync"

	"github.com/oschwald/maxminddb-golang/v2"
)

// unknownCountry is the country of a client no source could place.
const unknownCountry = "unknown"

// geoDB is a MaxMind-format database that may be closed while requests
// look addresses up in it: the reader unmaps its file on Close, so lookups
// hold a read lock.
type geoDB struct {
	mu sync.RWMutex
	r  *maxminddb.Reader // nil once closed
}

// geoRecord is the part of a GeoIP2 or GeoLite2 Country or City record the
// package reads.
type geoRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	City struct {
		Names struct {
			EN string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
}

func openGeoDB(path string) (*geoDB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, err
	}
	return &geoDB{r: r}, nil
}

// lookup returns the country code and city name the database holds for a,
// either empty when it has none.
func (db *geoDB) lookup(a netip.Addr) (country, city string) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.r == nil {
		return "", ""
	}
	var rec geoRecord
	if err := db.r.Lookup(a).Decode(&rec); err != nil {
		return "", ""
	}
	return rec.Country.ISOCode, rec.City.Names.EN
}

func (db *geoDB) close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.r == nil {
		return nil
	}
	err := db.r.Close()
	db.r = nil
	return err
}

// locate returns the country and city of r's client at addr. A country
// header is believed only from a trusted proxy; the database's city is
// then kept only if the database agrees on the country.
func (t *Telemetry) locate(r *http.Request, addr netip.Addr) (country, city string) {
	if t.geo != nil && addr.IsValid() {
		country, city = t.geo.lookup(addr)
	}
	if t.countryHdr != "" && t.trusted != nil && t.trusted(r) {
		if c, ok := countryCode(r.Header.Get(t.countryHdr)); ok {
			if c != country {
				city = ""
			}
			country = c
		}
	}
	if country == "" {
		country = unknownCountry
	}
	return country, city
}

// countryCode returns s as an upper-case two-character country code, or
// false if s is not one. "XX", the code CDNs send for "no country", is not
// one; "T1" (Tor) is.
func countryCode(s string) (string, bool) {
	if len(s) != 2 {
		return "", false
	}
	b := []byte{s[0], s[1]}
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return "", false
		}
	}
	if string(b) == "XX" {
		return "", false
	}
	return string(b), true
}
