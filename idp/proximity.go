package idp

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

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

// errProximityRequired is a confirmation refused by the require policy.
const errProximityRequired = "proximity_required"

// detail is what the audit trail records for a decision under policy:
// "proximity=different policy=warn", with the countries when known.
func (p proximity) detail(policy string) string {
	d := "proximity=" + p.Signal + " policy=" + policy
	if p.RequesterCountry != "" {
		d += " countries=" + p.RequesterCountry + "/" + p.PhoneCountry
	}
	return d
}

// differs: the confirm screen warns under warn and require.
func (p proximity) differs() bool {
	return p.Signal == proxDifferent || p.Signal == proxSameCountry || p.Signal == proxOtherCountry
}

// confirmRefused: under require, only a phone on the requester's network
// may confirm; an unknown signal is not proof of proximity either.
func confirmRefused(policy string, p proximity) bool {
	return policy == storage.ProximityRequire && !p.near()
}

// nearDecision applies the client's proximity policy to a decision from
// the phone at req.IP, before it is made: the decision's audit event
// records the signal and the policy (req.AuditDetail). A confirmation that
// the require policy refuses becomes a denial (a relayed QR is not left
// for another try): refused is then the answer to give once it is made.
// err (the store failed) means: decide nothing, the policy could not be
// read.
func (s *Server) nearDecision(ctx context.Context, req *grants.DecideRequest) (refused, err error) {
	f, ok := s.scans.get(req.Ticket, s.cfg.Now())
	if !ok { // scanned on another instance, or before a restart
		l, err := s.store.QRLoginByTicketHash(ctx, storage.Hash(req.Ticket))
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil // Decide answers the unknown ticket as it does
		}
		if err != nil {
			return nil, oauth.StoreError(err)
		}
		f = scanFacts{requesterIP: l.RequesterIP, clientID: l.ClientID}
	}
	policy := storage.ProximityWarn
	switch c, err := s.clients.get(ctx, f.clientID, false); {
	case err == nil:
		policy = storage.ProximityPolicyOf(c)
	case !errors.Is(err, storage.ErrNotFound): // a deleted client: Decide refuses the login
		return nil, oauth.StoreError(err)
	}
	p := proximityOf(f.requesterIP, req.IP, s.cfg.GeoIP)
	req.AuditDetail = p.detail(policy)
	if !req.Confirm || !confirmRefused(policy, p) {
		return nil, nil
	}
	// A denial carries no number or session choice.
	req.Confirm, req.MatchNumber, req.SessionChoice = false, 0, ""
	req.AuditDetail += " confirm=refused"
	return oauth.New(errProximityRequired, "this phone is not on the network of the screen that asked; the sign-in was denied").
		WithStatus(http.StatusForbidden), nil
}

// scanFacts is what a decision needs from its login to apply the proximity
// policy, remembered when this instance answered the scan that issued the
// ticket, so that the decision stays one store call (the budget of
// TestRoundTripsOfACompleteLogin and TestPostgreSQLTransactionsPerLogin).
// A ticket belongs to one login, whose requester and client never change:
// what is remembered cannot go stale. A decision on another instance, or
// after a restart, reads the login instead.
type scanFacts struct {
	requesterIP, clientID string
	expires               time.Time
}

// scanMemo holds scanFacts by the ticket's hash (never the ticket).
type scanMemo struct {
	mu sync.Mutex
	m  map[string]scanFacts
}

// maxScanMemo bounds the memo (about 150 bytes an entry): past it, expired
// entries are swept, and a new one is not remembered if none was.
const maxScanMemo = 100_000

func (m *scanMemo) put(ticket string, f scanFacts, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]scanFacts{}
	}
	if len(m.m) >= maxScanMemo {
		for k, v := range m.m {
			if !v.expires.After(now) {
				delete(m.m, k)
			}
		}
		if len(m.m) >= maxScanMemo {
			return
		}
	}
	m.m[string(storage.Hash(ticket))] = f
}

func (m *scanMemo) get(ticket string, now time.Time) (scanFacts, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := string(storage.Hash(ticket))
	f, ok := m.m[k]
	if ok && !f.expires.After(now) {
		delete(m.m, k)
		return scanFacts{}, false
	}
	return f, ok
}
