package idp

import "net/netip"

// The proximity signal (RFC 10027, the cross-device security BCP,
// §6.1.1): a phone that confirms a sign-in is normally in front of the
// screen that asked for it, so on the same network. qrlogin compares the
// requester's address (observed by qrlogin, or reported by a confidential
// client) with the address of the phone that scans. A relayed QR (a
// phishing page showing the real site's code) is usually scanned from
// elsewhere: the phone sees "another network".

// Proximity signals, strongest first.
const (
	proxSameAddress  = "same_address"  // one address: one NAT, one machine
	proxSameNetwork  = "same_network"  // same IPv4 /24 or IPv6 /48
	proxSameCountry  = "same_country"  // another network, one country (GeoIP)
	proxOtherCountry = "other_country" // another network in another country (GeoIP)
	proxDifferent    = "different"     // another network, country unknown
	proxUnknown      = "unknown"       // an address is missing
)

// CountryLookup names an address's country (ISO 3166-1 alpha-2, "DE"), ""
// when unknown. Config.GeoIP; see geoip.go for the MaxMind reader.
type CountryLookup interface {
	Country(netip.Addr) string
}

// proximity is the signal for one scan.
type proximity struct {
	Signal string
	// Countries, when GeoIP knew them (same_country, other_country).
	RequesterCountry, PhoneCountry string
}

// near: the phone is on the requester's network (same address or same
// prefix). A country is too coarse to count as near.
func (p proximity) near() bool { return p.Signal == proxSameAddress || p.Signal == proxSameNetwork }

// Summary says it in a few words for the confirm screen: "this network",
// "another network in FR".
func (p proximity) Summary() string {
	switch p.Signal {
	case proxSameAddress, proxSameNetwork:
		return "this network"
	case proxSameCountry:
		return "another network, in " + p.RequesterCountry + " like this phone"
	case proxOtherCountry:
		return "another network, in " + p.RequesterCountry
	case proxDifferent:
		return "another network"
	}
	return "network unknown"
}

// proximityOf compares the requester's address with the phone's. Both are
// strings as stored ("" when unknown); IPv4-mapped IPv6 counts as IPv4.
func proximityOf(requester, phone string, geo CountryLookup) proximity {
	a, errA := netip.ParseAddr(requester)
	b, errB := netip.ParseAddr(phone)
	if errA != nil || errB != nil {
		return proximity{Signal: proxUnknown}
	}
	a, b = a.Unmap().WithZone(""), b.Unmap().WithZone("")
	if a == b {
		return proximity{Signal: proxSameAddress}
	}
	if a.Is4() == b.Is4() {
		bits := 24
		if !a.Is4() {
			bits = 48
		}
		pa, _ := a.Prefix(bits)
		if pa.Contains(b) {
			return proximity{Signal: proxSameNetwork}
		}
	}
	p := proximity{Signal: proxDifferent}
	if geo == nil {
		return p
	}
	ca, cb := geo.Country(a), geo.Country(b)
	if ca == "" || cb == "" {
		return p
	}
	p.RequesterCountry, p.PhoneCountry = ca, cb
	if ca == cb {
		p.Signal = proxSameCountry
	} else {
		p.Signal = proxOtherCountry
	}
	return p
}
