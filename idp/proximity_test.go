package idp_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

// geoDB writes a small MaxMind-format country database, as GeoLite2-Country
// has its records (country.iso_code): the test's loopback network and
// 198.51.100.0/24 in Germany, 192.0.2.0/24 in France, 203.0.113.0/24 in no
// country.
func geoDB(t *testing.T) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-Country", RecordSize: 24,
		IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	country := func(code string) mmdbtype.Map {
		return mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(code)}}
	}
	for cidr, code := range map[string]string{"127.0.0.0/8": "DE", "198.51.100.0/24": "DE", "192.0.2.0/24": "FR", "::1/128": "DE"} {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, country(code)); err != nil {
			t.Fatalf("%s: %v", cidr, err)
		}
	}
	path := filepath.Join(t.TempDir(), "country.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGeoIPReadsAMaxMindDatabase(t *testing.T) {
	geo, err := idp.OpenGeoIP(geoDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer geo.Close()
	for ip, want := range map[string]string{"127.0.0.1": "DE", "198.51.100.7": "DE", "192.0.2.1": "FR", "203.0.113.9": "", "::1": "DE", "2001:db8::1": ""} {
		if got := geo.Country(netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s: %q, want %q", ip, got, want)
		}
	}
	if _, err := idp.OpenGeoIP(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Error("a missing database opened")
	}
}

// The proximity signal (RFC 10027 §6.1.1) and each client's policy, with a
// generated MaxMind database: the phone (the test, on 127.0.0.1: "DE")
// against a requester its client reports. The confirm screen says plainly
// when the networks differ (warn, require), require refuses a confirmation
// from another network and denies the login, and each decision's audit
// event records the signal and the policy.
func TestProximityPolicies(t *testing.T) {
	geo, err := idp.OpenGeoIP(geoDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { geo.Close() })
	s := newServer(t, func(c *idp.Config) { c.GeoIP = geo })
	for _, policy := range []string{"off", "warn", "require"} {
		if err := s.store.CreateClient(t.Context(), &storage.Client{ID: "near-" + policy, Name: "Shop " + policy,
			SecretHash: storage.Hash("near-secret-0123456789"), Type: storage.ClientConfidential,
			RedirectURIs: []string{"https://shop.example/cb"}, GrantTypes: allGrants, CreatedAt: time.Now().UTC(),
			ProximityPolicy: policy}); err != nil {
			t.Fatal(err)
		}
	}
	alice := s.phoneToken(t, "alice")

	for _, tc := range []struct {
		name, policy, requester string
		summary                 string // on the confirm screen, after the browser
		warned, refused         bool
		detail                  string // the decision's audit event
	}{
		{"warn, the same /24", "warn", "127.0.0.9", "this network", false, false, "proximity=same_network policy=warn"},
		{"warn, another country", "warn", "192.0.2.1", "another network, in FR", true, false, "proximity=other_country policy=warn countries=FR/DE"},
		{"warn, the same country", "warn", "198.51.100.7", "another network, in DE like this phone", true, false, "proximity=same_country policy=warn countries=DE/DE"},
		{"warn, no country known", "warn", "203.0.113.9", "another network", true, false, "proximity=different policy=warn"},
		{"off, another country", "off", "192.0.2.1", "another network, in FR", false, false, "proximity=other_country policy=off countries=FR/DE"},
		{"require, the same address", "require", "127.0.0.1", "this network", false, false, "proximity=same_address policy=require"},
		{"require, the same country is not near", "require", "198.51.100.7", "another network, in DE like this phone", true, true,
			"proximity=same_country policy=require countries=DE/DE confirm=refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := func() *qrStart {
				return s.startWithUA(t, "near-"+tc.policy, "near-secret-0123456789", "backend/1.0", url.Values{
					"requester_ip": {tc.requester}, "requester_user_agent": {chromeOnWindows}})
			}
			// The hosted confirm screen.
			phone, page := s.confirmScreen(t, start())
			if want := `<bdi id="requester-summary">Chrome on Windows · ` + tc.summary + `</bdi>`; !strings.Contains(page, want) {
				t.Errorf("the confirm screen lacks %q:\n%s", want, page)
			}
			if got := strings.Contains(page, `id="proximity-warning"`); got != tc.warned {
				t.Errorf("warned %v, want %v:\n%s", got, tc.warned, page)
			}
			if got := !strings.Contains(page, `id="confirm-button"`); got != tc.refused {
				t.Errorf("confirm button withheld %v, want %v", got, tc.refused)
			}
			if tc.refused { // a confirmation posted all the same is refused, the login denied
				resp, page := phone.post("/q/decide", url.Values{"csrf": {csrfRe.FindStringSubmatch(page)[1]},
					"ticket": {ticketRe.FindStringSubmatch(page)[1]}, "action": {"confirm"}})
				if resp.StatusCode != 403 || !strings.Contains(page, "<h1>Not confirmed: this phone is on another network</h1>") {
					t.Errorf("a confirmation posted under require: %d\n%s", resp.StatusCode, page)
				}
			}

			// The phone API: the same signal, the policy, and the decision.
			r := start()
			status, body := s.phone(t, alice, "/qr/scan", map[string]string{"qr": r.VerificationURIComplete})
			if status != 200 || body["proximity_policy"] != tc.policy {
				t.Fatalf("scan: %d %v", status, body)
			}
			if rq := body["requester"].(map[string]any); rq["network_summary"] != tc.summary {
				t.Errorf("requester %v, want network_summary %q", rq, tc.summary)
			}
			status, answer := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": body["ticket"].(string)})
			wantEvent := "confirmed"
			if tc.refused {
				wantEvent = "denied"
				if status != 403 || answer["error"] != "proximity_required" {
					t.Fatalf("confirm under require from another network: %d %v, want 403 proximity_required", status, answer)
				}
				// The PC learns the login was denied.
				s.clock.Advance(2 * time.Second)
				status, raw := s.form(t, "/oauth/token", "near-"+tc.policy, "near-secret-0123456789",
					url.Values{"grant_type": {idp.GrantQR}, "device_code": {r.DeviceCode}})
				if body := decode(t, raw); status != 400 || body["error"] != "access_denied" {
					t.Errorf("the PC's poll after the refusal: %d %v, want access_denied", status, body)
				}
			} else if status != 200 || answer["status"] != "confirmed" {
				t.Fatalf("confirm: %d %v", status, answer)
			}
			l, err := s.store.QRLoginByDeviceCode(t.Context(), storage.Hash(r.DeviceCode))
			if err != nil {
				t.Fatal(err)
			}
			if l.Status.String() != wantEvent {
				t.Errorf("the login is %s, want %s", l.Status, wantEvent)
			}
			events, err := s.store.QRAuditEvents(t.Context(), l.ID)
			if err != nil {
				t.Fatal(err)
			}
			last := events[len(events)-1]
			if last.Event != wantEvent || last.Detail != tc.detail {
				t.Errorf("the audit trail ends with %s %q, want %s %q", last.Event, last.Detail, wantEvent, tc.detail)
			}
		})
	}
}

// ticketLookupFails is the memory store whose QRLoginByTicketHash fails
// while fail is set: the read the proximity policy is decided on.
type ticketLookupFails struct {
	storage.Store
	fail *atomic.Bool
}

func (f ticketLookupFails) QRLoginByTicketHash(ctx context.Context, hash []byte) (*storage.QRLogin, error) {
	if f.fail.Load() {
		return nil, errors.New("postgres: qr login by ticket: connection reset")
	}
	return f.Store.QRLoginByTicketHash(ctx, hash)
}

// A decision on another instance than the scan's reads the login for the
// policy (the scan's instance remembers it); when that read fails, nothing
// is decided: a store failure must not let a confirmation past require.
func TestProximityPolicyOnAnotherInstance(t *testing.T) {
	var fail atomic.Bool
	store := ticketLookupFails{memory.New(), &fail}
	scanning, deciding := newServerOn(t, store), newServerOn(t, store)
	if err := store.CreateClient(t.Context(), &storage.Client{ID: "near-require", Name: "Shop", SecretHash: storage.Hash("near-secret-0123456789"),
		Type: storage.ClientConfidential, GrantTypes: allGrants, CreatedAt: time.Now().UTC(), ProximityPolicy: "require"}); err != nil {
		t.Fatal(err)
	}
	alice := scanning.phoneToken(t, "alice")
	r := scanning.startWithUA(t, "near-require", "near-secret-0123456789", "backend/1.0", url.Values{"requester_ip": {"203.0.113.9"}})
	ticket := scanning.scan(t, alice, r.VerificationURIComplete)
	fail.Store(true)
	if status, body := deciding.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket}); status != 500 {
		t.Fatalf("confirm with the policy unread: %d %v, want 500", status, body)
	}
	fail.Store(false)
	l, err := store.QRLoginByDeviceCode(t.Context(), storage.Hash(r.DeviceCode))
	if err != nil || l.Status != storage.StatusScanned {
		t.Fatalf("the login is %v (%v), want still scanned", l.Status, err)
	}
	if status, body := deciding.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket}); status != 403 || body["error"] != "proximity_required" {
		t.Fatalf("confirm on another instance under require: %d %v, want 403 proximity_required", status, body)
	}
}
