package idp

import (
	"net/netip"
	"testing"
)

// countries is a CountryLookup for the unit test of the comparison; the
// MaxMind reader is tested with a generated database (geoip_test.go).
type countries map[string]string

func (c countries) Country(a netip.Addr) string { return c[a.String()] }

// RFC 10027 §6.1.1: the requester's network against the phone's.
func TestProximityOf(t *testing.T) {
	geo := countries{"198.51.100.7": "DE", "203.0.113.9": "DE", "192.0.2.1": "FR"}
	for _, tc := range []struct {
		requester, phone string
		geo              CountryLookup
		want, summary    string
	}{
		{"127.0.0.1", "127.0.0.1", nil, proxSameAddress, "this network"},
		{"::ffff:198.51.100.7", "198.51.100.7", nil, proxSameAddress, "this network"},
		{"198.51.100.7", "198.51.100.200", nil, proxSameNetwork, "this network"},
		{"2001:db8:1:2::1", "2001:db8:1:ffff::9", nil, proxSameNetwork, "this network"},
		{"198.51.100.7", "198.51.101.7", nil, proxDifferent, "another network"},
		{"2001:db8:1::1", "2001:db8:2::1", nil, proxDifferent, "another network"},
		{"::1", "127.0.0.1", nil, proxDifferent, "another network"},
		{"198.51.100.7", "203.0.113.9", geo, proxSameCountry, "another network, in DE like this phone"},
		{"192.0.2.1", "203.0.113.9", geo, proxOtherCountry, "another network, in FR"},
		{"192.0.2.1", "10.0.0.1", geo, proxDifferent, "another network"}, // the phone's country unknown
		{"", "127.0.0.1", geo, proxUnknown, "network unknown"},
		{"198.51.100.7", "not an address", geo, proxUnknown, "network unknown"},
	} {
		p := proximityOf(tc.requester, tc.phone, tc.geo)
		if p.Signal != tc.want || p.Summary() != tc.summary {
			t.Errorf("%s vs %s: %s %q, want %s %q", tc.requester, tc.phone, p.Signal, p.Summary(), tc.want, tc.summary)
		}
		if p.near() != (tc.want == proxSameAddress || tc.want == proxSameNetwork) {
			t.Errorf("%s vs %s: near %v", tc.requester, tc.phone, p.near())
		}
	}
}
