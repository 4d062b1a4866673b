package idp_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage"
)

// verifyIDToken checks an ID token with zitadel's relying party, which
// fetches discovery and /keys over HTTP: an independent verifier.
func verifyIDToken(t *testing.T, s *testServer, clientID, secret, raw, nonce string) *oidc.IDTokenClaims {
	t.Helper()
	ctx := context.Background()
	party, err := rp.NewRelyingPartyOIDC(ctx, s.URL, clientID, secret, "https://shop.example/cb", []string{"openid"},
		rp.WithVerifierOpts(rp.WithNonce(func(context.Context) string { return nonce })))
	if err != nil {
		t.Fatalf("relying party: %v", err)
	}
	claims, err := rp.VerifyIDToken[*oidc.IDTokenClaims](ctx, raw, party.IDTokenVerifier())
	if err != nil {
		t.Fatalf("ID token does not verify: %v", err)
	}
	return claims
}

// Acceptance 1: a stock x/oauth2 device-flow client completes a QR login
// approved through the phone API; the QR image decodes to
// verification_uri_complete; the ID token verifies against /keys.
func TestStockDeviceFlowClientCompletesQRLogin(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			s := newServer(t, func(c *idp.Config) { c.SigningAlg = alg })
			phone := s.phoneToken(t, "alice")
			cfg := s.rpConfig(rpID, rpSecret)
			ctx := context.Background()

			da, err := cfg.DeviceAuth(ctx, oauth2.SetAuthURLParam("client_secret", rpSecret),
				oauth2.SetAuthURLParam("nonce", "nonce-42"))
			if err != nil {
				t.Fatalf("DeviceAuth: %v", err)
			}
			if !strings.HasPrefix(da.VerificationURIComplete, s.URL+"/q/") || da.Interval != 1 || da.UserCode == "" {
				t.Fatalf("unexpected device auth answer: %+v", da)
			}

			done := approveOnPhone(t, s, phone, da.VerificationURIComplete)
			tok, err := cfg.DeviceAccessToken(ctx, da)
			<-done
			if err != nil {
				t.Fatalf("DeviceAccessToken: %v", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			claims := verifyIDToken(t, s, rpID, rpSecret, raw, "nonce-42")
			if claims.Subject != s.users["alice"] || !slices.Contains(claims.AuthenticationMethodsReferences, "qr") {
				t.Fatalf("claims: sub=%q amr=%v", claims.Subject, claims.AuthenticationMethodsReferences)
			}
			if claims.Nonce != "nonce-42" || claims.Email != "alice@example.com" || claims.Name != "Alice" {
				t.Fatalf("claims: nonce=%q email=%q name=%q", claims.Nonce, claims.Email, claims.Name)
			}
			if string(claims.SignatureAlg) != alg {
				t.Fatalf("signed with %s, want %s", claims.SignatureAlg, alg)
			}
			if claims.AuthTime.AsTime().IsZero() || tok.RefreshToken == "" || tok.AccessToken == "" {
				t.Fatalf("auth_time %v, refresh %q, access %q", claims.AuthTime, tok.RefreshToken, tok.AccessToken)
			}
		})
	}
}

// The QR image is decoded with a real QR decoder and carries
// verification_uri_complete.
func TestQRImageDecodesToVerificationURIComplete(t *testing.T) {
	s := newServer(t)
	r := s.start(t, nil)
	if got := decodeQR(t, r.QRImage); got != r.VerificationURIComplete {
		t.Fatalf("QR says %q, want %q", got, r.VerificationURIComplete)
	}
}

// Issue 9: the QR image is rendered only for a client that asks for it.
// qr_image=true or false decides; without it a client registered for the
// QR grant gets the image (SPEC §2.1) and a stock RFC 8628 client,
// registered for device_code only, does not. Anything else is refused
// before a login is created.
func TestQRImageOnlyWhenAsked(t *testing.T) {
	s := newServer(t)
	const deviceID, deviceSecret = "device-only", "device-secret-0123456789"
	if err := s.store.CreateClient(context.Background(), &storage.Client{ID: deviceID, Name: "TV",
		SecretHash: storage.Hash(deviceSecret), Type: storage.ClientConfidential,
		GrantTypes: []string{idp.GrantDeviceCode}, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	start := func(id, secret string, form url.Values) (int, map[string]any) {
		t.Helper()
		status, raw := s.form(t, "/qr/authorize", id, secret, form)
		return status, decode(t, raw)
	}
	for _, tc := range []struct {
		name, id, secret, param string
		image                   bool
	}{
		{"QR-grant client, by default", rpID, rpSecret, "", true},
		{"QR-grant client, qr_image=false", rpID, rpSecret, "false", false},
		{"QR-grant client, qr_image=true", rpID, rpSecret, "true", true},
		{"device_code-only client, by default", deviceID, deviceSecret, "", false},
		{"device_code-only client, qr_image=true", deviceID, deviceSecret, "true", true},
	} {
		form := url.Values{}
		if tc.param != "" {
			form.Set("qr_image", tc.param)
		}
		status, body := start(tc.id, tc.secret, form)
		if status != 200 {
			t.Fatalf("%s: %d %v", tc.name, status, body)
		}
		img, has := body["qr_image"].(string)
		if has != tc.image {
			t.Errorf("%s: qr_image present %v, want %v", tc.name, has, tc.image)
		}
		if has {
			if got := decodeQR(t, img); got != body["verification_uri_complete"] {
				t.Errorf("%s: QR says %q, want %v", tc.name, got, body["verification_uri_complete"])
			}
		}
	}
	started := func() float64 {
		return value(scrape(t, s), "qrlogin_qr_events_total", "event", "started", "client_id", rpID)
	}
	before := started()
	for _, bad := range []string{"yes", "1", "TRUE", ""} {
		status, body := start(rpID, rpSecret, url.Values{"qr_image": {bad}})
		if status != 400 || body["error"] != "invalid_request" {
			t.Errorf("qr_image=%q: %d %v, want 400 invalid_request", bad, status, body)
		}
	}
	if after := started(); after != before {
		t.Errorf("refused requests started %v logins", after-before)
	}
}

// Acceptance 2: the project's grant reports pending, then scanned, then
// tokens; a long-poll returns within 100 ms of the scan and of the confirm.
func TestQRGrantLongPollWakesOnScanAndConfirm(t *testing.T) {
	s := newServer(t)
	phone := s.phoneToken(t, "alice")
	r := s.start(t, nil)
	cfg := s.rpConfig(rpID, rpSecret)
	ctx := context.Background()
	exchange := func(wait string) (*oauth2.Token, error) {
		return cfg.Exchange(ctx, "", oauth2.SetAuthURLParam("grant_type", idp.GrantQR),
			oauth2.SetAuthURLParam("device_code", r.DeviceCode), oauth2.SetAuthURLParam("wait", wait))
	}
	qrStatus := func(err error) string {
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			t.Fatalf("want an OAuth error, got %v", err)
		}
		m := decode(t, re.Body)
		if m["error"] != "authorization_pending" {
			t.Fatalf("want authorization_pending, got %s", re.Body)
		}
		return m["qr_status"].(string)
	}

	if _, err := exchange("0"); qrStatus(err) != "pending" {
		t.Fatal("first poll is not pending")
	}

	type result struct {
		tok *oauth2.Token
		err error
		at  time.Time
	}
	longPoll := func() chan result {
		ch := make(chan result, 1)
		go func() {
			tok, err := exchange("10")
			ch <- result{tok, err, time.Now()}
		}()
		return ch
	}
	waitHeld := func() { // let the long-poll reach the server and subscribe
		time.Sleep(150 * time.Millisecond)
	}

	ch := longPoll()
	waitHeld()
	scannedAt := time.Now() // the phone sends its scan
	ticket := s.scan(t, phone, r.VerificationURIComplete)
	res := <-ch
	if qrStatus(res.err) != "scanned" {
		t.Fatal("long-poll did not report scanned")
	}
	// Not woken, the poll would answer only when its 10 s wait elapses: an
	// answer well before that shows the scan woke it. The latency is a
	// benchmark's figure, logged here, never asserted.
	if d := res.at.Sub(scannedAt); d > 5*time.Second {
		t.Fatalf("long-poll answered %v after the scan: not woken by it", d)
	} else {
		t.Logf("scan → long-poll answer: %v", d)
	}

	ch = longPoll()
	waitHeld()
	confirmedAt := time.Now()
	if status, body := s.phone(t, phone, "/qr/confirm", map[string]string{"ticket": ticket}); status != 200 {
		t.Fatalf("confirm: %d %v", status, body)
	}
	res = <-ch
	if res.err != nil {
		t.Fatalf("long-poll after confirm: %v", res.err)
	}
	if d := res.at.Sub(confirmedAt); d > 5*time.Second {
		t.Fatalf("long-poll answered %v after the confirm: not woken by it", d)
	} else {
		t.Logf("confirm → tokens: %v", d)
	}
	raw, _ := res.tok.Extra("id_token").(string)
	claims := verifyIDToken(t, s, rpID, rpSecret, raw, "")
	if claims.Subject != s.users["alice"] {
		t.Fatalf("sub %q", claims.Subject)
	}
}

// A scan between two long-polls is reported by the next one at once, not
// held until the next change.
func TestLongPollReportsAChangeMadeBetweenPolls(t *testing.T) {
	s := newServer(t)
	phone := s.phoneToken(t, "alice")
	r := s.start(t, nil)
	if _, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); body["qr_status"] != "pending" {
		t.Fatalf("first poll: %v", body)
	}
	s.scan(t, phone, r.VerificationURIComplete)
	start := time.Now()
	_, body := s.poll(t, idp.GrantQR, r.DeviceCode, url.Values{"wait": {"5"}})
	if body["qr_status"] != "scanned" || time.Since(start) > 2*time.Second {
		t.Fatalf("long-poll after an unseen scan: %v after %v", body, time.Since(start))
	}
}

// A first long-poll that arrives after the scan reports it at once: the
// client was told "pending" by /qr/authorize.
func TestFirstLongPollAfterTheScanReportsIt(t *testing.T) {
	s := newServer(t)
	phone := s.phoneToken(t, "alice")
	r := s.start(t, nil)
	s.scan(t, phone, r.VerificationURIComplete)
	start := time.Now()
	_, body := s.poll(t, idp.GrantQR, r.DeviceCode, url.Values{"wait": {"5"}})
	if body["qr_status"] != "scanned" || time.Since(start) > 2*time.Second {
		t.Fatalf("first long-poll after the scan: %v after %v", body, time.Since(start))
	}
}

// One login holds at most three long-polls on an instance; a fourth is
// answered at once, so a change does not fan out to unbounded waiters.
func TestLongPollsPerLoginAreCapped(t *testing.T) {
	s := newServer(t)
	r := s.start(t, nil)
	s.poll(t, idp.GrantQR, r.DeviceCode, nil)
	s.clock.Advance(time.Second)
	done := make(chan struct{})
	for range 3 {
		go func() {
			s.poll(t, idp.GrantQR, r.DeviceCode, url.Values{"wait": {"3"}})
			done <- struct{}{}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	_, body := s.poll(t, idp.GrantQR, r.DeviceCode, url.Values{"wait": {"3"}})
	if d := time.Since(start); d > time.Second || body["qr_status"] != "pending" {
		t.Fatalf("the fourth long-poll: %v after %v", body, d)
	}
	for range 3 {
		<-done
	}
}
