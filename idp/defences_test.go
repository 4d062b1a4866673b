package idp_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage"
)

// The defences against QR relay (README "Defences against QR relay")
// over HTTP: the PC's poll, the phone app's API, the notifications.

const (
	defendedID     = "defended-shop"
	defendedSecret = "defended-secret"
)

// defended registers a confidential client with every grant and the
// defences set by with.
func defended(t *testing.T, s *testServer, with func(c *storage.Client)) {
	t.Helper()
	c := &storage.Client{ID: defendedID, Name: "Defended Shop", SecretHash: storage.Hash(defendedSecret),
		Type: storage.ClientConfidential, RedirectURIs: []string{"https://shop.example/cb"}, GrantTypes: allGrants,
		AccessTokenType: "opaque", CreatedAt: time.Now().UTC()}
	with(c)
	if err := s.store.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
}

// defendedStart starts a QR login of the defended client.
func defendedStart(t *testing.T, s *testServer) (deviceCode, qr string) {
	t.Helper()
	status, body := s.form(t, "/qr/authorize", defendedID, defendedSecret, url.Values{"scope": {"openid profile offline_access"}, "nonce": {"n-def"}})
	if status != 200 {
		t.Fatalf("/qr/authorize: %d %s", status, body)
	}
	m := decode(t, body)
	return m["device_code"].(string), m["verification_uri_complete"].(string)
}

// defendedPoll polls the token endpoint once as the defended client.
func defendedPoll(t *testing.T, s *testServer, deviceCode string) (int, map[string]any) {
	t.Helper()
	status, body := s.form(t, "/oauth/token", defendedID, defendedSecret,
		url.Values{"grant_type": {idp.GrantQR}, "device_code": {deviceCode}})
	return status, decode(t, body)
}

// notifications lists the kinds (and session choices) of user's
// notifications, newest first.
func notificationsOf(t *testing.T, s *testServer, token string) []map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/account/notifications", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	status, raw := do(t, req)
	if status != 200 {
		t.Fatalf("/account/notifications: %d %s", status, raw)
	}
	var out []map[string]any
	for _, n := range decode(t, raw)["notifications"].([]any) {
		out = append(out, n.(map[string]any))
	}
	return out
}

func kinds(ns []map[string]any) []string {
	var k []string
	for _, n := range ns {
		k = append(k, n["kind"].(string))
	}
	return k
}

func ints(v any) []int {
	var out []int
	for _, x := range v.([]any) {
		out = append(out, int(x.(float64)))
	}
	return out
}

// Number matching (RFC 10027 §6.1.16-17, issue 11 item 1): the PC's poll
// shows the number only once scanned; the phone is offered three; a
// confirmation needs the right one, and one wrong choice denies the login
// for good and alerts the user.
func TestNumberMatchingOnTheAppAPI(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		defended(t, s, func(c *storage.Client) { c.QRNumberMatching = true })
		alice := s.phoneToken(t, "alice")

		device, qr := defendedStart(t, s)
		if status, body := defendedPoll(t, s, device); status != 400 || body["error"] != "authorization_pending" || body["match_number"] != nil {
			t.Fatalf("poll before the scan: %d %v (no number before the scan)", status, body)
		}
		status, scan := s.phone(t, alice, "/qr/scan", map[string]string{"qr": qr})
		if status != 200 {
			t.Fatalf("scan: %d %v", status, scan)
		}
		choices := ints(scan["match_choices"])
		if len(choices) != 3 || choices[0] == choices[1] || choices[1] == choices[2] || choices[0] == choices[2] {
			t.Fatalf("match_choices %v: want three different numbers", choices)
		}
		for _, n := range choices {
			if n < 10 || n > 99 {
				t.Fatalf("match_choices %v: want two digits", choices)
			}
		}
		status, poll := defendedPoll(t, s, device)
		if status != 400 || poll["qr_status"] != "scanned" || poll["match_number"] == nil {
			t.Fatalf("poll after the scan: %d %v, want the number", status, poll)
		}
		number := int(poll["match_number"].(float64))
		if !slices.Contains(choices, number) {
			t.Fatalf("the PC shows %d, the phone offers %v", number, choices)
		}
		ticket := scan["ticket"].(string)

		// No number: refused, nothing changed.
		if status, body := s.phone(t, alice, "/qr/confirm", map[string]any{"ticket": ticket}); status != 400 || body["error"] != "qr_number_required" {
			t.Fatalf("confirm without the number: %d %v", status, body)
		}
		// Not a two-digit number: refused as bad input, nothing changed.
		if status, body := s.phone(t, alice, "/qr/confirm", map[string]any{"ticket": ticket, "match_number": 123}); status != 400 || body["error"] != "invalid_request" {
			t.Fatalf("confirm with 123: %d %v", status, body)
		}
		if _, body := defendedPoll(t, s, device); body["qr_status"] != "scanned" {
			t.Fatalf("after refused confirmations: %v, want still scanned", body)
		}
		// The right number confirms; the PC gets its tokens.
		if status, body := s.phone(t, alice, "/qr/confirm", map[string]any{"ticket": ticket, "match_number": number}); status != 200 || body["status"] != "confirmed" {
			t.Fatalf("confirm with the right number: %d %v", status, body)
		}
		if status, body := defendedPoll(t, s, device); status != 200 || body["access_token"] == nil {
			t.Fatalf("poll after the confirmation: %d %v", status, body)
		}

		// A second login: one wrong choice denies it for good.
		s.clock.Advance(time.Second) // notifications are listed newest first
		device, qr = defendedStart(t, s)
		ticket = s.scan(t, alice, qr)
		_, poll = defendedPoll(t, s, device)
		number = int(poll["match_number"].(float64))
		wrong := 10 + (number-10+1)%90
		if status, body := s.phone(t, alice, "/qr/confirm", map[string]any{"ticket": ticket, "match_number": wrong}); status != 403 || body["error"] != "qr_wrong_number" {
			t.Fatalf("confirm with a wrong number: %d %v", status, body)
		}
		if status, body := defendedPoll(t, s, device); status != 400 || body["error"] != "access_denied" {
			t.Fatalf("poll after a wrong number: %d %v, want access_denied", status, body)
		}
		if status, body := s.phone(t, alice, "/qr/confirm", map[string]any{"ticket": ticket, "match_number": number}); status == 200 {
			t.Fatalf("the right number after a wrong one: %d %v, want refused", status, body)
		}
		if k := kinds(notificationsOf(t, s, alice)); len(k) == 0 || k[0] != storage.NotificationWrongNumber {
			t.Fatalf("alice's notifications %v: want %s first", k, storage.NotificationWrongNumber)
		}
	})
}

// Without number matching nothing changes: no number, no choices.
func TestNoNumberWithoutThePolicy(t *testing.T) {
	s := newServer(t)
	defended(t, s, func(*storage.Client) {})
	alice := s.phoneToken(t, "alice")
	device, qr := defendedStart(t, s)
	status, scan := s.phone(t, alice, "/qr/scan", map[string]string{"qr": qr})
	if status != 200 || scan["match_choices"] != nil {
		t.Fatalf("scan without number matching: %d %v", status, scan)
	}
	if _, body := defendedPoll(t, s, device); body["qr_status"] != "scanned" || body["match_number"] != nil {
		t.Fatalf("poll without number matching: %v", body)
	}
}

// sessionChoices are the choices a client with qr_session=ask lets the
// user make, with the acr and refresh token each gets.
var sessionChoices = []struct {
	choice, acr string
	refresh     bool
}{
	{storage.SessionThisSession, "urn:qrlogin:session:this_session", false},
	{storage.SessionKeep, "urn:qrlogin:session:keep", true},
	{"", "urn:qrlogin:session:keep", true}, // the client's default
}

// Session choice (issue 11 item 4): "only this session" gets no refresh
// token and a short access token, and the ID token's acr and the
// notification say so; "keep me signed in" gets the refresh token of
// offline_access; a choice the client does not offer is refused.
func TestSessionChoice(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		defended(t, s, func(c *storage.Client) { c.QRSession = storage.QRSessionAsk })
		alice := s.phoneToken(t, "alice")
		for _, c := range sessionChoices {
			s.clock.Advance(time.Second) // notifications are listed newest first
			device, qr := defendedStart(t, s)
			status, scan := s.phone(t, alice, "/qr/scan", map[string]string{"qr": qr})
			if status != 200 {
				t.Fatalf("scan: %d %v", status, scan)
			}
			if offer := scan["session"].(map[string]any); offer["default"] != storage.SessionKeep || offer["choosable"] != true {
				t.Fatalf("session offered %v", offer)
			}
			if status, body := s.phone(t, alice, "/qr/confirm", map[string]any{"ticket": scan["ticket"], "session_choice": c.choice}); status != 200 {
				t.Fatalf("confirm choosing %q: %d %v", c.choice, status, body)
			}
			status, tok := defendedPoll(t, s, device)
			if status != 200 {
				t.Fatalf("poll: %d %v", status, tok)
			}
			if got := tok["refresh_token"] != nil; got != c.refresh {
				t.Fatalf("choosing %q: refresh token %v, want %v (%v)", c.choice, got, c.refresh, tok)
			}
			if exp := tok["expires_in"].(float64); !c.refresh && exp > 600 {
				t.Fatalf("only this session: the access token lives %vs, want at most 600", exp)
			}
			if scope := tok["scope"].(string); !c.refresh && slices.Contains(strings.Fields(scope), "offline_access") {
				t.Fatalf("only this session granted %q", scope)
			}
			claims := verifyIDToken(t, s, defendedID, defendedSecret, tok["id_token"].(string), "n-def")
			if claims.AuthenticationContextClassReference != c.acr {
				t.Fatalf("choosing %q: acr %q, want %q", c.choice, claims.AuthenticationContextClassReference, c.acr)
			}
			want := c.choice
			if want == "" {
				want = storage.SessionKeep
			}
			if n := notificationsOf(t, s, alice)[0]; n["kind"] != storage.NotificationSignIn || n["session_choice"] != want {
				t.Fatalf("choosing %q: notification %v", c.choice, n)
			}
		}
	})
}

// A client that offers no choice refuses one, and changes nothing.
func TestSessionChoiceTheClientDoesNotOffer(t *testing.T) {
	s := newServer(t)
	defended(t, s, func(c *storage.Client) { c.QRSession = storage.QRSessionThisSession })
	alice := s.phoneToken(t, "alice")
	device, qr := defendedStart(t, s)
	_, scan := s.phone(t, alice, "/qr/scan", map[string]string{"qr": qr})
	if offer := scan["session"].(map[string]any); offer["default"] != storage.SessionThisSession || offer["choosable"] != false {
		t.Fatalf("session offered %v", offer)
	}
	if status, body := s.phone(t, alice, "/qr/confirm", map[string]any{"ticket": scan["ticket"], "session_choice": "keep"}); status != 400 || body["error"] != "invalid_request" {
		t.Fatalf("choosing keep where the client says this_session: %d %v", status, body)
	}
	if status, body := s.phone(t, alice, "/qr/confirm", map[string]any{"ticket": scan["ticket"], "session_choice": "forever"}); status != 400 || body["error"] != "invalid_request" {
		t.Fatalf("choosing forever: %d %v", status, body)
	}
	if status, body := s.phone(t, alice, "/qr/confirm", map[string]any{"ticket": scan["ticket"]}); status != 200 {
		t.Fatalf("confirm: %d %v", status, body)
	}
	if status, tok := defendedPoll(t, s, device); status != 200 || tok["refresh_token"] != nil {
		t.Fatalf("the client's this_session: %d %v, want tokens without a refresh token", status, tok)
	}
}

// The second-scan alarm (issue 11 item 5): another account scanning a QR
// already scanned, or one its user denied, kills the login and alerts the
// first user. With qr_second_scan=refuse the second scanner is only
// refused.
func TestSecondScanAlarm(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		defended(t, s, func(*storage.Client) {}) // the alarm is the default
		alice, bob := s.phoneToken(t, "alice"), s.phoneToken(t, "bob")

		device, qr := defendedStart(t, s)
		ticket := s.scan(t, alice, qr)
		if status, body := s.phone(t, bob, "/qr/scan", map[string]string{"qr": qr}); status != 409 || body["error"] != "qr_already_scanned" {
			t.Fatalf("bob scans alice's QR: %d %v", status, body)
		}
		if status, body := defendedPoll(t, s, device); status != 400 || body["error"] != "access_denied" {
			t.Fatalf("poll after a second scan: %d %v, want access_denied", status, body)
		}
		if status, body := s.phone(t, alice, "/qr/confirm", map[string]any{"ticket": ticket}); status == 200 {
			t.Fatalf("alice confirms a killed login: %d %v", status, body)
		}
		ns := notificationsOf(t, s, alice)
		if k := kinds(ns); len(k) != 1 || k[0] != storage.NotificationSecondScan {
			t.Fatalf("alice's notifications %v: want one %s", k, storage.NotificationSecondScan)
		}
		if k := kinds(notificationsOf(t, s, bob)); len(k) != 0 {
			t.Fatalf("bob's notifications %v: want none", k)
		}

		// A scan after alice denied: alarmed, once per scan.
		s.clock.Advance(time.Second)
		_, qr = defendedStart(t, s)
		ticket = s.scan(t, alice, qr)
		if status, body := s.phone(t, alice, "/qr/deny", map[string]any{"ticket": ticket}); status != 200 {
			t.Fatalf("deny: %d %v", status, body)
		}
		if status, body := s.phone(t, bob, "/qr/scan", map[string]string{"qr": qr}); status != 404 {
			t.Fatalf("bob scans a denied QR: %d %v", status, body)
		}
		if k := kinds(notificationsOf(t, s, alice)); len(k) != 2 || k[0] != storage.NotificationSecondScan {
			t.Fatalf("alice's notifications after a scan of her denied QR: %v", k)
		}
		// A token that may not approve raises nothing.
		if status, _ := s.phone(t, "not-a-token", "/qr/scan", map[string]string{"qr": qr}); status != 401 {
			t.Fatalf("a scan with a bad token: %d", status)
		}
		if k := kinds(notificationsOf(t, s, alice)); len(k) != 2 {
			t.Fatalf("alice's notifications after a bad token's scan: %v", k)
		}
	})
}

func TestSecondScanRefusedWithoutAlarm(t *testing.T) {
	s := newServer(t)
	defended(t, s, func(c *storage.Client) { c.QRSecondScan = storage.QRSecondScanRefuse })
	alice, bob := s.phoneToken(t, "alice"), s.phoneToken(t, "bob")
	device, qr := defendedStart(t, s)
	ticket := s.scan(t, alice, qr)
	if status, body := s.phone(t, bob, "/qr/scan", map[string]string{"qr": qr}); status != 409 || body["error"] != "qr_already_scanned" {
		t.Fatalf("bob scans: %d %v", status, body)
	}
	if status, body := s.phone(t, alice, "/qr/confirm", map[string]any{"ticket": ticket}); status != 200 {
		t.Fatalf("alice confirms: %d %v", status, body)
	}
	if status, body := defendedPoll(t, s, device); status != 200 {
		t.Fatalf("poll: %d %v", status, body)
	}
	if k := kinds(notificationsOf(t, s, alice)); len(k) != 1 || k[0] != storage.NotificationSignIn {
		t.Fatalf("alice's notifications %v: want the sign-in only", k)
	}
}

// The session choice reaches the code flow too: a QR login of the hosted
// page confirmed for "only this session" completes its authorization
// request with the choice, and the code's tokens have no refresh token, a
// short access token and acr this_session.
func TestSessionChoiceOnTheHostedPage(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		defended(t, s, func(c *storage.Client) { c.QRSession = storage.QRSessionAsk })
		alice := s.phoneToken(t, "alice")
		for _, c := range sessionChoices {
			cfg := s.rpConfig(defendedID, defendedSecret)
			cfg.RedirectURL, cfg.Scopes = "https://shop.example/cb", []string{"openid", "offline_access"}
			verifier := oauth2.GenerateVerifier()
			b := newBrowser(t, s)
			loginURL, qr := openLoginPage(t, s, b, cfg, verifier)
			id := mustQuery(t, loginURL, "id")
			status, scan := s.phone(t, alice, "/qr/scan", map[string]string{"qr": qr})
			if offer, _ := scan["session"].(map[string]any); status != 200 || offer["choosable"] != true {
				t.Fatalf("scan of the hosted page's QR: %d %v", status, scan)
			}
			if status, body := s.phone(t, alice, "/qr/confirm", map[string]any{"ticket": scan["ticket"], "session_choice": c.choice}); status != 200 {
				t.Fatalf("confirm: %d %v", status, body)
			}
			_, body := b.get("/login/status?id=" + id + "&since=scanned")
			st := decodeStatus(t, body)
			resp, _ := b.get(st["redirect"])
			tok, err := cfg.Exchange(context.Background(), codeFrom(t, resp), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			if (tok.RefreshToken != "") != c.refresh {
				t.Fatalf("choosing %s: refresh token %q", c.choice, tok.RefreshToken)
			}
			if !c.refresh && time.Until(tok.Expiry) > 10*time.Minute+time.Minute {
				t.Fatalf("only this session: the access token expires %v", tok.Expiry)
			}
			claims := verifyIDToken(t, s, defendedID, defendedSecret, tok.Extra("id_token").(string), "nn")
			if claims.AuthenticationContextClassReference != c.acr {
				t.Fatalf("choosing %s: acr %q, want %q", c.choice, claims.AuthenticationContextClassReference, c.acr)
			}
		}
	})
}
