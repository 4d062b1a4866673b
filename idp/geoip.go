package idp

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// GeoIP is a MaxMind-format database (GeoLite2-Country, GeoIP2-Country or
// -City, or any database whose records carry country.iso_code), read
// with github.com/oschwald/maxminddb-golang; the proximity signal's
// country comparison (proximity.go). serve's --geoip-db.
type GeoIP struct {
	r *maxminddb.Reader
}

// OpenGeoIP opens the database at path (memory-mapped).
func OpenGeoIP(path string) (*GeoIP, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	return &GeoIP{r: r}, nil
}

// Country is a's ISO 3166-1 alpha-2 code, "" when the database has none
// for it. Anything but two letters is treated as none: the code is shown
// on the confirm screen.
func (g *GeoIP) Country(a netip.Addr) string {
	var rec struct {
		Country struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"country"`
	}
	if err := g.r.Lookup(a).Decode(&rec); err != nil {
		return ""
	}
	code := strings.ToUpper(rec.Country.ISOCode)
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return ""
	}
	return code
}

// Close unmaps the database.
func (g *GeoIP) Close() error { return g.r.Close() }
