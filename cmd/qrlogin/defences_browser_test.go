package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Browser tests of number matching (README "Defences against QR relay",
// issue 11 item 1), run by TestBrowser: the hosted login page shows the
// number once the QR is scanned, and the phone's browser offers three and
// confirms with the one picked; a wrong pick cancels the login.
// The session choice on the confirm screen, too. Screenshots of each new
// screen.

// scanChoices is the phone app's scan answer with number matching.
type scanChoices struct {
	Ticket       string `json:"ticket"`
	MatchChoices []int  `json:"match_choices"`
}

func numberOnHostedPage(t *testing.T, p *provider, deadline context.Context, phone string) {
	dir := screenshotDir(t)
	c := newRelyingPartyWith(t, p, "browser-number", map[string]any{"qr_number_matching": true})
	tab := newTab(t, deadline)
	browse(t, tab, chromedp.Navigate(c.authURL()))
	qr := qrOnPage(t, tab)
	browse(t, tab, waitText("qr-status", "Waiting"))
	if visible := read(t, tab, chromedp.Evaluate[bool](`!document.getElementById("match").hidden`)); visible {
		t.Fatal("the number is shown before the scan")
	}

	var scan scanChoices
	if st := p.post(t, p.issuer+"/qr/scan", map[string]string{"qr": qr}, bearer(phone), &scan); st != 200 || len(scan.MatchChoices) != 3 {
		t.Fatalf("scan: %d %+v", st, scan)
	}
	browse(t, tab, waitText("qr-status", "Scanned"), chromedp.WaitVisible(chromedp.ID("match-number")))
	shown, err := strconv.Atoi(strings.TrimSpace(read(t, tab, chromedp.TextContent(chromedp.ID("match-number")))))
	if err != nil || !slices.Contains(scan.MatchChoices, shown) {
		t.Fatalf("the page shows %d (%v), the phone offers %v", shown, err, scan.MatchChoices)
	}
	screenshot(t, tab, dir, "login-number-matching.png", 1280)

	var a struct {
		Status string `json:"status"`
	}
	if st := p.post(t, p.issuer+"/qr/confirm", map[string]any{"ticket": scan.Ticket, "match_number": shown}, bearer(phone), &a); st != 200 || a.Status != "confirmed" {
		t.Fatalf("confirm with the page's number: %d %q", st, a.Status)
	}
	claims := c.exchange(t, p, c.code(t, tab))
	if !slices.Contains(claims.AuthenticationMethodsReferences, "qr") {
		t.Errorf("amr = %v, want qr", claims.AuthenticationMethodsReferences)
	}
}

func numberInPhoneBrowser(t *testing.T, p *provider, deadline context.Context, _ string) {
	dir := screenshotDir(t)
	const id = "browser-number-qr"
	secret := p.registerClientWith(t, map[string]any{"client_id": id, "name": "Number Shop",
		"grant_types": []string{"urn:qrlogin:params:oauth:grant-type:qr"}, "qr_number_matching": true})
	start := func() qrStarted {
		var s qrStarted
		if st := p.post(t, p.issuer+"/qr/authorize", url.Values{"scope": {"openid"}}, basic(id, secret), &s); st != 200 {
			t.Fatalf("/qr/authorize: %d", st)
		}
		return s
	}
	poll := func(s qrStarted) (int, map[string]any) {
		var a map[string]any
		st := p.post(t, p.issuer+"/oauth/token", url.Values{"grant_type": {"urn:qrlogin:params:oauth:grant-type:qr"},
			"device_code": {s.DeviceCode}}, basic(id, secret), &a)
		return st, a
	}
	tab := phoneTab(t, deadline)
	signedIn := false
	open := func(s qrStarted) int {
		browse(t, tab, chromedp.Navigate(s.VerificationURIComplete))
		if !signedIn {
			browse(t, tab,
				chromedp.WaitVisible(chromedp.ID("password-form")),
				chromedp.SendKeys(chromedp.ID("username"), demoUser),
				chromedp.SendKeys(chromedp.ID("password"), demoPassword),
				chromedp.Click(chromedp.ID("signin")),
			)
			signedIn = true
		}
		browse(t, tab, chromedp.WaitVisible(chromedp.ID("match-choices")))
		if n := read(t, tab, chromedp.Evaluate[int](`document.querySelectorAll("#confirm-button").length`)); n != 0 {
			t.Fatal("a plain Confirm button is offered with number matching")
		}
		st, a := poll(s)
		if st != http.StatusBadRequest || a["qr_status"] != "scanned" || a["match_number"] == nil {
			t.Fatalf("PC poll after the phone opened the QR: %d %v", st, a)
		}
		return int(a["match_number"].(float64))
	}

	// The right number.
	s := start()
	number := open(s)
	screenshot(t, tab, dir, "phone-number-matching.png", 390)
	browse(t, tab,
		chromedp.Click(chromedp.ID("match-"+strconv.Itoa(number))),
		chromedp.WaitVisible(chromedp.ID("done-message")),
		waitText("done-message", "Confirmed"),
	)
	if st, a := poll(s); st != 200 || a["id_token"] == nil {
		t.Fatalf("PC poll after the right number: %d %v", st, a)
	}

	// A wrong number cancels the login for good.
	s = start()
	number = open(s)
	choices := read(t, tab, chromedp.Evaluate[[]int](`[...document.querySelectorAll(".match-choice")].map(b => +b.value)`))
	wrong := -1
	for _, n := range choices {
		if n != number {
			wrong = n
		}
	}
	if len(choices) != 3 || wrong < 0 {
		t.Fatalf("choices %v for %d", choices, number)
	}
	browse(t, tab, chromedp.Click(chromedp.ID("match-"+strconv.Itoa(wrong))), chromedp.WaitVisible(chromedp.ID("error-detail")))
	if msg := read(t, tab, chromedp.TextContent(chromedp.ID("error-detail"))); !strings.Contains(msg, "not the number") {
		t.Fatalf("after a wrong number the phone says %q", msg)
	}
	screenshot(t, tab, dir, "phone-wrong-number.png", 390)
	if st, a := poll(s); st != http.StatusBadRequest || a["error"] != "access_denied" {
		t.Fatalf("PC poll after a wrong number: %d %v, want access_denied", st, a)
	}
}

// sessionChoiceInPhoneBrowser: the confirm screen of a client with
// qr_session=ask offers "Keep me signed in" (preselected) and "Only this
// session"; picking the second one, the PC's tokens come without a
// refresh token and the ID token's acr says so (issue 11 item 4).
func sessionChoiceInPhoneBrowser(t *testing.T, p *provider, deadline context.Context, _ string) {
	dir := screenshotDir(t)
	const id = "browser-session-choice"
	secret := p.registerClientWith(t, map[string]any{"client_id": id, "name": "Session Shop",
		"grant_types": []string{"urn:qrlogin:params:oauth:grant-type:qr", "refresh_token"}, "qr_session": "ask"})
	var s qrStarted
	const nonce = "nonce-session-choice"
	if st := p.post(t, p.issuer+"/qr/authorize", url.Values{"scope": {"openid offline_access"}, "nonce": {nonce}},
		basic(id, secret), &s); st != 200 {
		t.Fatalf("/qr/authorize: %d", st)
	}
	tab := phoneTab(t, deadline)
	browse(t, tab,
		chromedp.Navigate(s.VerificationURIComplete),
		chromedp.WaitVisible(chromedp.ID("password-form")),
		chromedp.SendKeys(chromedp.ID("username"), demoUser),
		chromedp.SendKeys(chromedp.ID("password"), demoPassword),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("session-choice")),
	)
	if keep := read(t, tab, chromedp.Evaluate[bool](`document.getElementById("session-keep").checked`)); !keep {
		t.Fatal("keep me signed in is not preselected")
	}
	browse(t, tab, chromedp.Click(chromedp.ID("session-this")))
	screenshot(t, tab, dir, "phone-session-choice.png", 390)
	browse(t, tab,
		chromedp.Click(chromedp.ID("confirm-button")),
		chromedp.WaitVisible(chromedp.ID("done-message")),
		waitText("done-message", "Confirmed"),
	)
	var a struct {
		IDToken      string `json:"id_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
	}
	if st := p.post(t, p.issuer+"/oauth/token", url.Values{"grant_type": {"urn:qrlogin:params:oauth:grant-type:qr"},
		"device_code": {s.DeviceCode}}, basic(id, secret), &a); st != 200 || a.IDToken == "" {
		t.Fatalf("PC poll after confirming: %d %+v", st, a)
	}
	if a.RefreshToken != "" || a.ExpiresIn > 600 {
		t.Fatalf("only this session: refresh token %q, access token for %ds", a.RefreshToken, a.ExpiresIn)
	}
	if claims := p.verifyIDToken(t, id, secret, a.IDToken, nonce); claims.AuthenticationContextClassReference != "urn:qrlogin:session:this_session" {
		t.Errorf("acr = %q", claims.AuthenticationContextClassReference)
	}
}
