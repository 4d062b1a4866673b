package idp_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage"
)

// confirmed starts a QR login and has alice scan and confirm it.
func confirmed(t *testing.T, s *testServer, phone string) *qrStart {
	t.Helper()
	r := s.start(t, nil)
	ticket := s.scan(t, phone, r.VerificationURIComplete)
	if status, body := s.phone(t, phone, "/qr/confirm", map[string]string{"ticket": ticket}); status != 200 {
		t.Fatalf("confirm: %d %v", status, body)
	}
	return r
}

func qrID(r *qrStart) string {
	return r.VerificationURIComplete[strings.LastIndex(r.VerificationURIComplete, "/")+1:]
}

// The USENIX Security 2025 QR-login flaws (F1–F6), each defended.
func TestQRLoginFlaws(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	bob := s.phoneToken(t, "bob")

	t.Run("F1: the public qr_id and user_code never redeem", func(t *testing.T) {
		r := confirmed(t, s, alice)
		for _, guess := range []string{qrID(r), r.VerificationURIComplete, r.UserCode, strings.ReplaceAll(r.UserCode, "-", "")} {
			for _, grant := range []string{idp.GrantQR, idp.GrantDeviceCode} {
				status, body := s.poll(t, grant, guess, nil)
				if status != 400 || body["error"] != "invalid_grant" {
					t.Fatalf("device_code=%q: %d %v", guess, status, body)
				}
			}
		}
		if status, _ := s.poll(t, idp.GrantQR, r.DeviceCode, nil); status != 200 {
			t.Fatalf("the real device code no longer redeems: %d", status)
		}
	})

	t.Run("F2: a redeemed QR never redeems or scans again", func(t *testing.T) {
		r := confirmed(t, s, alice)
		if status, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); status != 200 {
			t.Fatalf("redeem: %d %v", status, body)
		}
		for _, grant := range []string{idp.GrantQR, idp.GrantDeviceCode} {
			if status, body := s.poll(t, grant, r.DeviceCode, nil); status != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("second redeem: %d %v", status, body)
			}
		}
		for _, tok := range []string{alice, bob} {
			if status, body := s.phone(t, tok, "/qr/scan", map[string]string{"qr": r.VerificationURIComplete}); status != 404 || body["error"] != "qr_not_found" {
				t.Fatalf("scan after redeem: %d %v", status, body)
			}
		}
	})

	t.Run("F3: identifiers are at least 128-bit random", func(t *testing.T) {
		seen := map[string]bool{}
		for range 50 {
			r := s.start(t, nil)
			id := qrID(r)
			rawID, err := base64.RawURLEncoding.DecodeString(id)
			if err != nil || len(rawID) < 16 {
				t.Fatalf("qr_id %q: %d bytes, %v", id, len(rawID), err)
			}
			rawDC, err := base64.RawURLEncoding.DecodeString(r.DeviceCode)
			if err != nil || len(rawDC) < 32 {
				t.Fatalf("device_code: %d bytes, %v", len(rawDC), err)
			}
			if seen[id] || seen[r.DeviceCode] {
				t.Fatal("an identifier repeated")
			}
			seen[id], seen[r.DeviceCode] = true, true
		}
	})

	t.Run("F4: clients cannot choose identifiers", func(t *testing.T) {
		for _, k := range []string{"qr_id", "device_code", "user_code"} {
			form := url.Values{"scope": {"openid"}, k: {"BCDFGHJK"}}
			status, raw := s.form(t, "/qr/authorize", rpID, rpSecret, form)
			body := decode(t, raw)
			if status != 400 || body["error"] != "invalid_request" {
				t.Fatalf("%s: %d %v", k, status, body)
			}
		}
		// Nothing was created under the chosen user code.
		if _, err := s.store.QRLoginByUserCode(context.Background(), "BCDFGHJK", time.Now()); err == nil {
			t.Fatal("a login was created with the client's user code")
		}
	})

	t.Run("F5: confirm trusts only the bearer token's subject", func(t *testing.T) {
		r := s.start(t, nil)
		ticket := s.scan(t, alice, r.VerificationURIComplete)
		// Bob holds alice's ticket and claims to be her in the body.
		status, body := s.phone(t, bob, "/qr/confirm", map[string]string{"ticket": ticket, "sub": s.users["alice"], "user_id": s.users["alice"]})
		if status != 403 || body["error"] != "forbidden" {
			t.Fatalf("stolen ticket: %d %v", status, body)
		}
		// Alice, claiming to be bob in the body, confirms as alice.
		if status, body := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket, "sub": s.users["bob"]}); status != 200 {
			t.Fatalf("confirm: %d %v", status, body)
		}
		status, tok := s.poll(t, idp.GrantQR, r.DeviceCode, nil)
		if status != 200 {
			t.Fatalf("redeem: %d %v", status, tok)
		}
		claims := verifyIDToken(t, s, rpID, rpSecret, tok["id_token"].(string), "")
		if claims.Subject != s.users["alice"] {
			t.Fatalf("tokens for %q, want alice", claims.Subject)
		}
	})

	t.Run("F6: the PC learns nothing about the user before confirmation", func(t *testing.T) {
		r := s.start(t, nil)
		s.scan(t, alice, r.VerificationURIComplete)
		status, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil)
		if status != 400 || body["qr_status"] != "scanned" {
			t.Fatalf("poll: %d %v", status, body)
		}
		for k := range body {
			if k != "error" && k != "error_description" && k != "qr_status" {
				t.Fatalf("the scanned answer carries %q: %v", k, body)
			}
		}
		for _, v := range body {
			if s, _ := v.(string); strings.Contains(strings.ToLower(s), "alice") {
				t.Fatalf("the scanned answer names the user: %v", body)
			}
		}
	})
}

// Acceptance 4: each misuse gets the SPEC's answer.
func TestMisuseAnswers(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	bob := s.phoneToken(t, "bob")

	t.Run("another client polling the device code gets invalid_grant", func(t *testing.T) {
		r := confirmed(t, s, alice)
		form := url.Values{"grant_type": {idp.GrantQR}, "device_code": {r.DeviceCode}}
		status, raw := s.form(t, "/oauth/token", otherID, otherSec, form)
		if body := decode(t, raw); status != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("%d %v", status, body)
		}
		if status, _ := s.poll(t, idp.GrantQR, r.DeviceCode, nil); status != 200 {
			t.Fatal("the owner can no longer redeem after another client tried")
		}
	})

	t.Run("a wrong secret gets 401 invalid_client", func(t *testing.T) {
		r := s.start(t, nil)
		for path, form := range map[string]url.Values{
			"/oauth/token":  {"grant_type": {idp.GrantQR}, "device_code": {r.DeviceCode}},
			"/qr/authorize": {"scope": {"openid"}},
		} {
			status, raw := s.form(t, path, rpID, "wrong", form)
			if body := decode(t, raw); status != 401 || body["error"] != "invalid_client" {
				t.Fatalf("%s: %d %v", path, status, body)
			}
		}
		// Also through zitadel's own grants.
		status, raw := s.form(t, "/oauth/token", rpID, "wrong", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}})
		if body := decode(t, raw); status != 401 || body["error"] != "invalid_client" {
			t.Fatalf("refresh_token grant: %d %v", status, body)
		}
	})

	t.Run("a second phone scanning a scanned QR gets 409 qr_already_scanned", func(t *testing.T) {
		r := s.start(t, nil)
		s.scan(t, alice, r.VerificationURIComplete)
		status, body := s.phone(t, bob, "/qr/scan", map[string]string{"qr": r.VerificationURIComplete})
		if status != 409 || body["error"] != "qr_already_scanned" {
			t.Fatalf("%d %v", status, body)
		}
	})

	t.Run("a rescan by the same user voids the old ticket", func(t *testing.T) {
		r := s.start(t, nil)
		old := s.scan(t, alice, r.VerificationURIComplete)
		fresh := s.scan(t, alice, r.VerificationURIComplete)
		if status, body := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": old}); status != 404 || body["error"] != "qr_not_found" {
			t.Fatalf("old ticket: %d %v", status, body)
		}
		if status, _ := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": fresh}); status != 200 {
			t.Fatal("fresh ticket does not confirm")
		}
	})

	t.Run("a stolen ticket gets 403 forbidden", func(t *testing.T) {
		r := s.start(t, nil)
		ticket := s.scan(t, alice, r.VerificationURIComplete)
		for _, path := range []string{"/qr/confirm", "/qr/deny"} {
			if status, body := s.phone(t, bob, path, map[string]string{"ticket": ticket}); status != 403 || body["error"] != "forbidden" {
				t.Fatalf("%s: %d %v", path, status, body)
			}
		}
	})

	t.Run("deny then confirm gets 409 and the PC access_denied", func(t *testing.T) {
		r := s.start(t, nil)
		ticket := s.scan(t, alice, r.VerificationURIComplete)
		if status, body := s.phone(t, alice, "/qr/deny", map[string]string{"ticket": ticket}); status != 200 || body["status"] != "denied" {
			t.Fatalf("deny: %d %v", status, body)
		}
		if status, body := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket}); status != 409 || body["error"] != "qr_already_decided" {
			t.Fatalf("confirm after deny: %d %v", status, body)
		}
		if status, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); status != 400 || body["error"] != "access_denied" {
			t.Fatalf("poll: %d %v", status, body)
		}
	})

	t.Run("a second confirm gets 409 qr_already_decided", func(t *testing.T) {
		r := s.start(t, nil)
		ticket := s.scan(t, alice, r.VerificationURIComplete)
		s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket})
		if status, body := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket}); status != 409 || body["error"] != "qr_already_decided" {
			t.Fatalf("%d %v", status, body)
		}
	})

	t.Run("polling too fast gets slow_down with the interval raised by 5", func(t *testing.T) {
		r := s.start(t, nil)
		if status, body := s.poll(t, idp.GrantDeviceCode, r.DeviceCode, nil); body["error"] != "authorization_pending" {
			t.Fatalf("first poll: %d %v", status, body)
		}
		status, body := s.poll(t, idp.GrantDeviceCode, r.DeviceCode, nil)
		if status != 400 || body["error"] != "slow_down" || body["interval"] != float64(6) {
			t.Fatalf("second poll: %d %v", status, body)
		}
		status, body = s.poll(t, idp.GrantDeviceCode, r.DeviceCode, nil)
		if body["error"] != "slow_down" || body["interval"] != float64(11) {
			t.Fatalf("third poll: %d %v", status, body)
		}
		// A state change resets nothing but makes the next poll welcome.
		s.scan(t, alice, r.VerificationURIComplete)
		if status, body := s.poll(t, idp.GrantDeviceCode, r.DeviceCode, nil); body["qr_status"] != "scanned" {
			t.Fatalf("poll after the scan: %d %v", status, body)
		}
	})

	t.Run("unknown, expired and finished QR ids give one identical 404 body", func(t *testing.T) {
		redeemed := confirmed(t, s, alice)
		s.poll(t, idp.GrantQR, redeemed.DeviceCode, nil)
		denied := s.start(t, nil)
		tk := s.scan(t, alice, denied.VerificationURIComplete)
		s.phone(t, alice, "/qr/deny", map[string]string{"ticket": tk})
		bodies := map[string]bool{}
		for _, qr := range []string{s.URL + "/q/AAAAAAAAAAAAAAAAAAAAAA", "not a qr", "https://evil.example/q/" + qrID(s.start(t, nil)),
			redeemed.VerificationURIComplete, denied.VerificationURIComplete} {
			b, _ := jsonBytes(t, s, alice, "/qr/scan", map[string]string{"qr": qr})
			bodies[string(b)] = true
		}
		if len(bodies) != 1 {
			t.Fatalf("different bodies: %v", bodies)
		}
	})

	t.Run("phone API without a token, with a foreign token, or without qr:approve", func(t *testing.T) {
		for _, tok := range []string{"", "garbage", base64.RawURLEncoding.EncodeToString([]byte("x:y"))} {
			status, body := s.phone(t, tok, "/qr/scan", map[string]string{"qr": "x"})
			if status != 401 || body["error"] != "invalid_token" {
				t.Fatalf("token %q: %d %v", tok, status, body)
			}
		}
		// A relying party's own access token (not first party) is refused.
		// (It cannot even ask for qr:approve: TestOneScopePolicy.)
		rpTok := s.codeFlowToken(t, rpID, rpSecret, "https://shop.example/cb", "alice", []string{"openid"})
		status, body := s.phone(t, rpTok.AccessToken, "/qr/scan", map[string]string{"qr": "x"})
		if status != 403 || body["error"] != "insufficient_scope" {
			t.Fatalf("relying party token: %d %v", status, body)
		}
		// The phone app without qr:approve.
		noScope := s.codeFlowToken(t, phoneID, "", phoneRedir, "alice", []string{"openid"})
		status, body = s.phone(t, noScope.AccessToken, "/qr/scan", map[string]string{"qr": "x"})
		if status != 403 || body["error"] != "insufficient_scope" {
			t.Fatalf("token without qr:approve: %d %v", status, body)
		}
	})
}

func jsonBytes(t *testing.T, s *testServer, token, path string, body map[string]string) ([]byte, int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("{")
	first := true
	for k, v := range body {
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteString(`"` + k + `":"` + v + `"`)
	}
	b.WriteString("}")
	req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(b.String()))
	req.Header.Set("Authorization", "Bearer "+token)
	status, raw := do(t, req)
	return raw, status
}

// Expiry uses the injected clock: no sleeping for two minutes.
func TestExpiry(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")

	r := s.start(t, nil)
	ticket := s.scan(t, alice, r.VerificationURIComplete)
	s.clock.Advance(61 * time.Second) // past the ticket's 60 s
	if status, body := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket}); status != 404 || body["error"] != "qr_not_found" {
		t.Fatalf("expired ticket: %d %v", status, body)
	}
	s.clock.Advance(60 * time.Second) // past the QR's 2 min
	if status, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); status != 400 || body["error"] != "expired_token" {
		t.Fatalf("poll: %d %v", status, body)
	}
	if status, body := s.phone(t, alice, "/qr/scan", map[string]string{"qr": r.VerificationURIComplete}); status != 404 || body["error"] != "qr_not_found" {
		t.Fatalf("scan: %d %v", status, body)
	}

	// A confirmed but unredeemed login expires too.
	s2 := newServer(t)
	alice2 := s2.phoneToken(t, "alice")
	c := confirmed(t, s2, alice2)
	s2.clock.Advance(2*time.Minute + time.Second)
	if status, body := s2.poll(t, idp.GrantQR, c.DeviceCode, nil); status != 400 || body["error"] != "expired_token" {
		t.Fatalf("confirmed then expired: %d %v", status, body)
	}
}

// 50 concurrent redeems of one confirmed login over HTTP: exactly one gets
// tokens, and the losers' minted tokens do not work.
func TestConcurrentRedeemsOverHTTP(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	r := confirmed(t, s, alice)
	var mu sync.Mutex
	var wins int
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case status == 200:
				wins++
			case body["error"] == "invalid_grant" || body["error"] == "slow_down":
			default:
				t.Errorf("unexpected answer %d %v", status, body)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d redeems won, want exactly 1", wins)
	}
}

// Bad input: a clear error, nothing changed, never a 500.
func TestBadInput(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	big := strings.Repeat("a", idp.MaxBody+1)
	cases := []struct {
		name   string
		path   string
		body   string
		ctype  string
		status int
		code   string
	}{
		{"a body over 64 KiB is refused with 413", "/oauth/token", "grant_type=x&pad=" + big, "application/x-www-form-urlencoded", 413, "request_too_large"},
		{"a repeated parameter is invalid_request", "/oauth/token", "grant_type=" + url.QueryEscape(idp.GrantQR) + "&device_code=a&device_code=b", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"a parameter in query and body is repeated", "/qr/authorize?scope=openid", "scope=openid", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"an unknown grant is unsupported_grant_type", "/oauth/token", "grant_type=urn:example:nope", "application/x-www-form-urlencoded", 400, "unsupported_grant_type"},
		{"a missing grant is invalid_request", "/oauth/token", "device_code=x", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"wait out of range is invalid_request", "/oauth/token", "grant_type=" + url.QueryEscape(idp.GrantQR) + "&device_code=a&wait=31", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"wait not a number is invalid_request", "/oauth/token", "grant_type=" + url.QueryEscape(idp.GrantQR) + "&device_code=a&wait=1e3", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"an unknown scope is invalid_scope", "/qr/authorize", "scope=openid+admin", "application/x-www-form-urlencoded", 400, "invalid_scope"},
		{"a malformed form is invalid_request", "/qr/authorize", "scope=%zz", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"requester_ip must be an IP", "/qr/authorize", "requester_ip=not-an-ip", "application/x-www-form-urlencoded", 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.URL+c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", c.ctype)
			req.SetBasicAuth(rpID, rpSecret)
			status, raw := do(t, req)
			body := decode(t, raw)
			if status != c.status || body["error"] != c.code {
				t.Fatalf("%d %v, want %d %s", status, body, c.status, c.code)
			}
		})
	}
	t.Run("public clients may not report a requester", func(t *testing.T) {
		status, raw := s.form(t, "/qr/authorize", "", "", url.Values{"client_id": {publicRPID}, "requester_ip": {"192.0.2.1"}})
		if body := decode(t, raw); status != 400 || body["error"] != "invalid_request" {
			t.Fatalf("%d %v", status, body)
		}
	})
	for _, b := range []string{"", "{", `{"qr": 5}`, `[]`, `{"qr":"a"} {"qr":"b"}`, "\x00"} {
		t.Run("malformed JSON "+strings.TrimSpace(b)+" is 400", func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.URL+"/qr/scan", strings.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+alice)
			status, raw := do(t, req)
			if body := decode(t, raw); status != 400 || body["error"] != "invalid_request" {
				t.Fatalf("%d %v", status, body)
			}
		})
	}
}

// Discovery advertises both grant names and the QR endpoint.
func TestDiscovery(t *testing.T) {
	s := newServer(t)
	req, _ := http.NewRequest("GET", s.URL+"/.well-known/openid-configuration", nil)
	status, raw := do(t, req)
	d := decode(t, raw)
	if status != 200 || d["qr_authorization_endpoint"] != s.URL+"/qr/authorize" || d["device_authorization_endpoint"] != s.URL+"/qr/authorize" {
		t.Fatalf("%d %v", status, d)
	}
	grantsSupported := map[string]bool{}
	for _, g := range d["grant_types_supported"].([]any) {
		grantsSupported[g.(string)] = true
	}
	for _, g := range []string{idp.GrantQR, idp.GrantDeviceCode, "authorization_code", "refresh_token"} {
		if !grantsSupported[g] {
			t.Fatalf("grant %s not advertised: %v", g, d["grant_types_supported"])
		}
	}
}

// Refresh tokens rotate on every use; reusing a rotated one revokes the
// whole family, including the access tokens (RFC 9700 §4.14.2).
func TestRefreshRotationAndReuse(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	r := confirmed(t, s, alice)
	status, tok := s.poll(t, idp.GrantQR, r.DeviceCode, nil)
	if status != 200 {
		t.Fatal(tok)
	}
	rt1 := tok["refresh_token"].(string)
	refresh := func(rt string) (int, map[string]any) {
		st, raw := s.form(t, "/oauth/token", rpID, rpSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		return st, decode(t, raw)
	}
	status, t2 := refresh(rt1)
	if status != 200 || t2["refresh_token"] == rt1 || t2["refresh_token"] == nil {
		t.Fatalf("first refresh: %d %v", status, t2)
	}
	rt2 := t2["refresh_token"].(string)
	if status, body := refresh(rt1); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v", status, body)
	}
	if status, body := refresh(rt2); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("the family survived reuse: %d %v", status, body)
	}
	req, _ := http.NewRequest("GET", s.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+t2["access_token"].(string))
	if status, raw := do(t, req); status == 200 {
		t.Fatalf("access token of the revoked family still works: %s", raw)
	}
}

// The notification recorded at confirm, and "this wasn't me".
func TestNotificationsAndSessionRevocation(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	r := s.start(t, url.Values{"requester_ip": {"203.0.113.9"}, "requester_user_agent": {"Firefox/140"}})
	ticket := s.scan(t, alice, r.VerificationURIComplete)
	s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket})
	_, tok := s.poll(t, idp.GrantQR, r.DeviceCode, nil)

	req, _ := http.NewRequest("GET", s.URL+"/account/notifications", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	status, raw := do(t, req)
	list := decode(t, raw)["notifications"].([]any)
	if status != 200 || len(list) != 1 {
		t.Fatalf("%d %s", status, raw)
	}
	n := list[0].(map[string]any)
	rq := n["requester"].(map[string]any)
	if n["client_id"] != rpID || n["client_name"] != "Example Shop" || rq["ip"] != "203.0.113.9" || rq["reported_by_client"] != true {
		t.Fatalf("notification: %v", n)
	}
	// Bob cannot revoke alice's session.
	bob := s.phoneToken(t, "bob")
	if status, _ := s.phone(t, bob, "/account/notifications/"+n["id"].(string)+"/revoke", nil); status != 404 {
		t.Fatalf("bob revoked alice's session: %d", status)
	}
	if status, body := s.phone(t, alice, "/account/notifications/"+n["id"].(string)+"/revoke", nil); status != 200 {
		t.Fatalf("revoke: %d %v", status, body)
	}
	st, raw2 := s.form(t, "/oauth/token", rpID, rpSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
	if st != 400 {
		t.Fatalf("refresh after revocation: %d %s", st, raw2)
	}
}

// The user code shown beside the QR leads to the same login.
func TestUserCodeNormalisation(t *testing.T) {
	s := newServer(t)
	r := s.start(t, nil)
	code, ok := grants.NormalizeUserCode(strings.ToLower(r.UserCode))
	if !ok {
		t.Fatalf("user code %q does not normalise", r.UserCode)
	}
	l, err := s.store.QRLoginByUserCode(context.Background(), code, time.Now())
	if err != nil || l.Status != storage.StatusPending {
		t.Fatalf("lookup by user code: %v", err)
	}
}

// RFC 7009: revoking a refresh token ends its whole grant; revoking an
// access token ends that token; another client's token is not ours to
// revoke.
func TestRevocation(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	redeem := func() map[string]any {
		r := confirmed(t, s, alice)
		status, tok := s.poll(t, idp.GrantQR, r.DeviceCode, nil)
		if status != 200 {
			t.Fatal(tok)
		}
		return tok
	}
	userinfo := func(at string) int {
		req, _ := http.NewRequest("GET", s.URL+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+at)
		status, _ := do(t, req)
		return status
	}
	refresh := func(rt string) int {
		status, _ := s.form(t, "/oauth/token", rpID, rpSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		return status
	}

	tok := redeem()
	if status, raw := s.form(t, "/revoke", otherID, otherSec, url.Values{"token": {tok["refresh_token"].(string)}}); status == 200 && refresh(tok["refresh_token"].(string)) != 200 {
		t.Fatalf("another client revoked the token: %d %s", status, raw)
	}
	if status, raw := s.form(t, "/revoke", rpID, rpSecret, url.Values{"token": {tok["refresh_token"].(string)}, "token_type_hint": {"refresh_token"}}); status != 200 {
		t.Fatalf("revoke: %d %s", status, raw)
	}
	if refresh(tok["refresh_token"].(string)) == 200 {
		t.Fatal("a revoked refresh token still refreshes")
	}
	if userinfo(tok["access_token"].(string)) == 200 {
		t.Fatal("the access token of a revoked grant still works")
	}

	tok = redeem()
	if userinfo(tok["access_token"].(string)) != 200 {
		t.Fatal("a fresh access token does not work")
	}
	if status, raw := s.form(t, "/revoke", rpID, rpSecret, url.Values{"token": {tok["access_token"].(string)}}); status != 200 {
		t.Fatalf("revoke access token: %d %s", status, raw)
	}
	if userinfo(tok["access_token"].(string)) == 200 {
		t.Fatal("a revoked access token still works")
	}
}

// "This wasn't me" pressed after the confirmation but before the PC
// redeemed: the PC gets no tokens, then or later.
func TestRevokeBeforeRedeemLeavesNoTokens(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	r := confirmed(t, s, alice)
	req, _ := http.NewRequest("GET", s.URL+"/account/notifications", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	_, raw := do(t, req)
	n := decode(t, raw)["notifications"].([]any)[0].(map[string]any)
	if status, _ := s.phone(t, alice, "/account/notifications/"+n["id"].(string)+"/revoke", nil); status != 200 {
		t.Fatal("revoke failed")
	}
	status, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil)
	if status == 200 || body["error"] != "invalid_grant" {
		t.Fatalf("redeem after revocation: %d %v", status, body)
	}
}

// "This wasn't me" for a QR login made on the hosted page revokes the
// tokens the relying party got from the code flow.
func TestRevokeHostedPageQRLogin(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	cfg, verifier := codeConfig(s)
	cfg.Scopes = append(cfg.Scopes, "offline_access")
	b := newBrowser(t, s)
	loginURL, qr := openLoginPage(t, s, b, cfg, verifier)
	ticket := s.scan(t, alice, qr)
	s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket})
	resp, _ := b.get(loginURL)
	tok, err := cfg.Exchange(context.Background(), codeFrom(t, resp), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", s.URL+"/account/notifications", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	_, raw := do(t, req)
	n := decode(t, raw)["notifications"].([]any)[0].(map[string]any)
	if status, _ := s.phone(t, alice, "/account/notifications/"+n["id"].(string)+"/revoke", nil); status != 200 {
		t.Fatal("revoke failed")
	}
	ui, _ := http.NewRequest("GET", s.URL+"/userinfo", nil)
	ui.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if status, _ := do(t, ui); status == 200 {
		t.Fatal("the relying party's access token survived \"this wasn't me\"")
	}
	if status, _ := s.form(t, "/oauth/token", rpID, rpSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); status == 200 {
		t.Fatal("the relying party's refresh token survived \"this wasn't me\"")
	}
}

// Inputs that used to reach a 500: an unknown client at /end_session, and
// a user deleted while a login of theirs was confirmed.
func TestNoServerErrorForStaleReferences(t *testing.T) {
	s := newServer(t)
	req, _ := http.NewRequest("GET", s.URL+"/end_session?client_id=nobody", nil)
	if status, raw := do(t, req); status != 400 {
		t.Fatalf("/end_session with an unknown client: %d %s", status, raw)
	}
	alice := s.phoneToken(t, "alice")
	r := confirmed(t, s, alice)
	if err := s.store.DeleteUser(context.Background(), s.users["alice"]); err != nil {
		t.Fatal(err)
	}
	if status, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("redeem for a deleted user: %d %v", status, body)
	}
}
