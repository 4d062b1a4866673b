package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Browser tests: the hosted pages and the demo site in a real chromium
// (Debian's, headless), against `qrlogin serve` with its demo data. The
// phone app's part is played over HTTP with the phone API, or by a second,
// phone-sized browser for the phone-browser path (SPEC §2.4).
//
// One provider and one chromium serve every subtest; each subtest opens
// its own browser contexts (separate cookie jars) and is bounded by
// browserTestTimeout. Screenshots go to testout/screenshots (see
// screenshotDir) for a person to look at.
//
//	go test -race -run Browser -count=1 -v ./cmd/qrlogin/
func TestBrowser(t *testing.T) {
	chromiumPath(t) // skip before starting anything
	p := startProvider(t)
	browser := startBrowser(t)
	phone := p.phoneToken(t)

	for _, tc := range []struct {
		name string
		test func(t *testing.T, p *provider, deadline context.Context, phone string)
	}{
		{"a stock code-flow client signs in through the hosted QR page, which shows scanned and completes without a reload", qrPageLive},
		{"with JavaScript disabled the hosted QR page completes when reloaded after the phone confirmed", qrPageNoScript},
		{"a phone's browser opens the QR, signs in on the hosted form and confirms on the confirm screen", phoneBrowserConfirms},
		{"the demo site's QR button signs in once the phone confirms", demoQRButton},
		{"the demo site's code-flow button signs in through the hosted password form", demoCodeButton},
		{"prompt=none with response_mode=form_post posts login_required to the client from a page the CSP allows", formPostError},
		{"a password sign-in signs the browser in at the provider; end_session asks, then signs it out", singleSignOnAndLogout},
		{"response_mode=form_post posts the code to the client under the site's CSP, with JavaScript and without", formPost},
		{"a script on a registered origin reads discovery, one on another origin does not, and none reaches the phone API", corsInBrowser},
		{"a denied QR is hidden with its URL and code, with and without JavaScript, and cannot be read off the screen; a new code is live", deadQRDenied},
		{"an expired QR is replaced in place, and hidden while no new one can be had", deadQRExpired},
		{"the QR's URL is shown under the image and its button copies it", qrURLCopied},
		{"a wrong password's message is in view without scrolling at 1280×900 and on a phone", wrongPasswordInView},
		{"error pages say what happened and what to do, in the site's layout: an unknown page, a broken sign-in link, a dead QR on the phone", errorPages},
		{"a second tab of the same browser opens the QR's URL and confirms: the first tab signs in, and another login page's QR still works", sameBrowserSecondTab},
		{"the confirm screen says plainly that the screen that asked is on another network, and under require offers only Deny", proximityWarning},
		{"screenshots of the QR, scanned, phone confirm and signed-in pages, all in browsers", screenshots},
		{"number matching: the hosted QR page shows the number once scanned; the phone app confirms with it", numberOnHostedPage},
		{"number matching: the phone's browser offers three numbers; the right one confirms, a wrong one cancels", numberInPhoneBrowser},
		{"session choice: the phone's browser offers only this session; the PC gets no refresh token", sessionChoiceInPhoneBrowser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deadline, cancel := context.WithTimeout(browser, browserTestTimeout)
			t.Cleanup(cancel)
			tc.test(t, p, deadline, phone)
		})
	}
}

// qrPageLive: SPEC §2.5 with a stock golang.org/x/oauth2 code-flow client.
// The page's script follows the status: it shows "Scanned" in the same
// document (a marker set on window survives) and then navigates to the
// client by itself.
func qrPageLive(t *testing.T, p *provider, deadline context.Context, phone string) {
	c, tab, qr := loginPageWithQR(t, p, deadline, "browser-shop")
	if !strings.HasPrefix(qr, p.issuer+"/q/") {
		t.Fatalf("QR text %q is not the provider's /q/ URL", qr)
	}
	browse(t, tab, chromedp.Evaluate[chromedp.Void](`window.qrloginSameDocument = true`))

	scan := p.scan(t, phone, qr)
	if shown := read(t, tab, chromedp.TextContent(chromedp.ID("user-code"))); strings.TrimSpace(shown) != scan.UserCode {
		t.Errorf("page shows user code %q, the phone %q", shown, scan.UserCode)
	}
	browse(t, tab, waitText("qr-status", "Scanned"))
	if same := read(t, tab, chromedp.Evaluate[bool](`window.qrloginSameDocument === true`)); !same {
		t.Fatal("the page was reloaded to show the scanned state")
	}

	p.confirm(t, phone, scan.Ticket)
	claims := c.exchange(t, p, c.code(t, tab))
	if !slices.Contains(claims.AuthenticationMethodsReferences, "qr") {
		t.Errorf("amr = %v, want qr", claims.AuthenticationMethodsReferences)
	}
}

// qrPageNoScript: without JavaScript the page cannot follow the status;
// its <noscript> link says to continue, and a reload after the phone
// confirmed finishes the authorization request (SPEC §2.5).
func qrPageNoScript(t *testing.T, p *provider, deadline context.Context, phone string) {
	c := newRelyingParty(t, p, "browser-shop-noscript")
	tab := noScriptTab(t, deadline)
	browse(t, tab, chromedp.Navigate(c.authURL()))
	qr := qrOnPage(t, tab)
	// <noscript> content renders only when scripts are off: this proves
	// the reload below, not login.js, completes the sign-in.
	browse(t, tab, chromedp.WaitVisible(chromedp.ID("qr-continue")))

	scan := p.scan(t, phone, qr)
	p.confirm(t, phone, scan.Ticket)
	browse(t, tab, chromedp.Reload())
	claims := c.exchange(t, p, c.code(t, tab))
	if !slices.Contains(claims.AuthenticationMethodsReferences, "qr") {
		t.Errorf("amr = %v, want qr", claims.AuthenticationMethodsReferences)
	}
}

// formPostError: an error for a form_post request is posted to the
// client's redirect URI by the page's own script (no inline script: the
// pages' CSP forbids it), with the request's state.
func formPostError(t *testing.T, p *provider, deadline context.Context, _ string) {
	c := newRelyingParty(t, p, "browser-form-post")
	tab := newTab(t, deadline)
	browse(t, tab, chromedp.Navigate(c.authURL()+"&prompt=none&response_mode=form_post"))
	q := c.arrival(t, tab)
	if q.Get("_path") != "/cb" || q.Get("error") != "login_required" || q.Get("state") != c.state || q.Has("code") {
		t.Fatalf("the client received %v", q)
	}
}

// singleSignOnAndLogout: after a password sign-in on the hosted form,
// prompt=none answers with a code (single sign-on); end_session shows the
// confirmation, "Sign out" returns to the client's post-logout page with
// state, and prompt=none then answers login_required.
func singleSignOnAndLogout(t *testing.T, p *provider, deadline context.Context, _ string) {
	c := newRelyingParty(t, p, "browser-sso")
	tab := newTab(t, deadline)
	browse(t, tab,
		chromedp.Navigate(c.authURL()),
		chromedp.WaitVisible(chromedp.ID("password-form")),
		chromedp.SendKeys(chromedp.ID("username"), demoUser),
		chromedp.SendKeys(chromedp.ID("password"), demoPassword),
		chromedp.Click(chromedp.ID("signin")),
	)
	c.exchange(t, p, c.code(t, tab))
	browse(t, tab, chromedp.WaitVisible(chromedp.ID("client-callback")))

	browse(t, tab, chromedp.Navigate(c.authURL()+"&prompt=none"))
	claims := c.exchange(t, p, c.code(t, tab))
	browse(t, tab, chromedp.WaitVisible(chromedp.ID("client-callback")))
	if !slices.Contains(claims.AuthenticationMethodsReferences, "pwd") {
		t.Errorf("single sign-on amr = %v, want pwd", claims.AuthenticationMethodsReferences)
	}

	browse(t, tab,
		chromedp.Navigate(p.issuer+"/end_session?"+url.Values{"client_id": {c.cfg.ClientID},
			"post_logout_redirect_uri": {c.logout}, "state": {"bye-state"}}.Encode()),
		chromedp.WaitVisible(chromedp.ID("logout-form")),
	)
	if who := read(t, tab, chromedp.TextContent(chromedp.ID("signed-in-as"))); who != demoUser {
		t.Errorf("the confirmation names %q, want %q", who, demoUser)
	}
	browse(t, tab, chromedp.Click(chromedp.ID("logout")))
	if q := c.arrival(t, tab); q.Get("_path") != "/bye" || q.Get("state") != "bye-state" {
		t.Fatalf("after signing out the client received %v", q)
	}
	// The client's page must finish loading before the next navigation,
	// or chromium reports that load as aborted.
	browse(t, tab, chromedp.WaitVisible(chromedp.ID("client-callback")))
	browse(t, tab, chromedp.Navigate(c.authURL()+"&prompt=none"))
	if q := c.arrival(t, tab); q.Get("error") != "login_required" || q.Get("state") != c.state {
		t.Fatalf("prompt=none after logout: %v", q)
	}
}

// qrStarted is the part of POST /qr/authorize's answer the tests read.
type qrStarted struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURIComplete string `json:"verification_uri_complete"`
}

// tokenAnswer is the token endpoint's answer, success or error.
type tokenAnswer struct {
	IDToken  string `json:"id_token"`
	Error    string `json:"error"`
	QRStatus string `json:"qr_status"`
}

// phoneBrowserConfirms: SPEC §2.4. The QR's URL opened in a phone's
// browser asks for a login (the hosted form), scans on arrival (the PC's
// poll says scanned) and shows the confirm screen with the user code;
// confirming there lets the PC's poll redeem.
func phoneBrowserConfirms(t *testing.T, p *provider, deadline context.Context, _ string) {
	var start qrStarted
	const nonce = "nonce-phone-browser"
	if st := p.post(t, p.issuer+"/qr/authorize", url.Values{"scope": {"openid profile"}, "nonce": {nonce}},
		basic(demoSiteID, demoSiteSecret), &start); st != 200 || start.VerificationURIComplete == "" {
		t.Fatalf("/qr/authorize: %d", st)
	}
	pollPC := func() (int, tokenAnswer) {
		var a tokenAnswer
		st := p.post(t, p.issuer+"/oauth/token", url.Values{"grant_type": {"urn:qrlogin:params:oauth:grant-type:qr"},
			"device_code": {start.DeviceCode}}, basic(demoSiteID, demoSiteSecret), &a)
		return st, a
	}

	tab := phoneTab(t, deadline)
	browse(t, tab,
		chromedp.Navigate(start.VerificationURIComplete),
		chromedp.WaitVisible(chromedp.ID("password-form")),
		chromedp.SendKeys(chromedp.ID("username"), demoUser),
		chromedp.SendKeys(chromedp.ID("password"), demoPassword),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("confirm-button")),
	)
	if shown := read(t, tab, chromedp.TextContent(chromedp.ID("user-code"))); strings.TrimSpace(shown) != start.UserCode {
		t.Errorf("confirm screen shows user code %q, the PC %q", shown, start.UserCode)
	}
	if st, a := pollPC(); st != http.StatusBadRequest || a.Error != "authorization_pending" || a.QRStatus != "scanned" {
		t.Fatalf("PC poll after the phone opened the QR: %d %+v, want authorization_pending, scanned", st, a)
	}

	browse(t, tab,
		chromedp.Click(chromedp.ID("confirm-button")),
		chromedp.WaitVisible(chromedp.ID("done-message")),
		waitText("done-message", "Confirmed"),
	)
	st, a := pollPC()
	if st != 200 || a.IDToken == "" {
		t.Fatalf("PC poll after confirm: %d %+v", st, a)
	}
	claims := p.verifyIDToken(t, demoSiteID, demoSiteSecret, a.IDToken, nonce)
	if !slices.Contains(claims.AuthenticationMethodsReferences, "qr") {
		t.Errorf("amr = %v, want qr", claims.AuthenticationMethodsReferences)
	}
}

// demoQRButton: the demo relying party's QR grant button (SPEC §2.1 from
// a website's backend), approved with the phone API.
func demoQRButton(t *testing.T, p *provider, deadline context.Context, phone string) {
	tab := newTab(t, deadline)
	browse(t, tab,
		chromedp.Navigate(p.issuer+"/demo"),
		chromedp.Click(chromedp.ID("qr-signin")),
	)
	qr := qrOnPage(t, tab)
	scan := p.scan(t, phone, qr)
	if shown := read(t, tab, chromedp.TextContent(chromedp.ID("user-code"))); strings.TrimSpace(shown) != scan.UserCode {
		t.Errorf("demo shows user code %q, the phone %q", shown, scan.UserCode)
	}
	browse(t, tab, waitText("qr-status", "Scanned"))
	p.confirm(t, phone, scan.Ticket)
	browse(t, tab, chromedp.WaitVisible(chromedp.ID("claims")))
	checkDemoClaims(t, p, tab, "qr")
}

// demoCodeButton: the demo relying party's code-flow button, signed in
// with the password form on the hosted login page.
func demoCodeButton(t *testing.T, p *provider, deadline context.Context, _ string) {
	tab := newTab(t, deadline)
	browse(t, tab,
		chromedp.Navigate(p.issuer+"/demo"),
		chromedp.Click(chromedp.ID("code-signin")),
		chromedp.WaitVisible(chromedp.ID("password-form")),
	)
	if loc := location(tab); !strings.HasPrefix(loc, p.issuer+"/login?") {
		t.Fatalf("code-flow button led to %s, want the hosted login page", loc)
	}
	browse(t, tab,
		chromedp.SendKeys(chromedp.ID("username"), demoUser),
		chromedp.SendKeys(chromedp.ID("password"), demoPassword),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("claims")),
	)
	checkDemoClaims(t, p, tab, "pwd")
}

// checkDemoClaims checks the demo's signed-in page: back at /demo, with
// the demo user's verified claims and the expected sign-in method.
func checkDemoClaims(t *testing.T, p *provider, tab context.Context, amr string) {
	t.Helper()
	if loc := location(tab); loc != p.issuer+"/demo" {
		t.Errorf("signed in at %s, want %s/demo", loc, p.issuer)
	}
	for id, want := range map[string]string{"claim-name": "Demo User", "claim-iss": p.issuer, "claim-aud": demoSiteID} {
		if got := strings.TrimSpace(read(t, tab, chromedp.TextContent(chromedp.ID(id)))); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
	if got := strings.Fields(read(t, tab, chromedp.TextContent(chromedp.ID("claim-amr")))); !slices.Contains(got, amr) {
		t.Errorf("#claim-amr = %v, want %s", got, amr)
	}
	browse(t, tab, chromedp.WaitVisible(chromedp.ID("signout")))
}

// screenshots: the whole journey with no API in between, saved as PNGs
// for a person to look at. The PC signs in to the demo with the code flow
// and picks the QR on the hosted page; a phone-sized browser opens the
// QR's URL, signs in, and confirms. The QR in the screenshot itself is
// decoded, so a page that hides or crops it fails.
func screenshots(t *testing.T, p *provider, deadline context.Context, _ string) {
	dir := screenshotDir(t)
	pc := newTab(t, deadline)
	phone := phoneTab(t, deadline)

	browse(t, pc,
		chromedp.Navigate(p.issuer+"/demo"),
		chromedp.Click(chromedp.ID("code-signin")),
	)
	qr := qrOnPage(t, pc)
	browse(t, pc, waitText("qr-status", "Waiting"))
	shot := screenshot(t, pc, dir, "login-qr.png", 1280)
	seen, err := findQR(shot)
	if err != nil { // the whole page can mislead gozxing's detector: frame the QR as a camera would
		seen, err = findQR(cropTo(t, pc, shot, "qr-image"))
	}
	if err != nil || seen != qr {
		t.Errorf("the QR in the screenshot reads %q (%v), the image %q", seen, err, qr)
	}

	// The phone's sign-in says it approves a sign-in on another screen,
	// and which site asks.
	browse(t, phone, chromedp.Navigate(qr), chromedp.WaitVisible(chromedp.ID("password-form")))
	if intro := read(t, phone, chromedp.TextContent(chromedp.ID("approve-intro"))); !strings.HasPrefix(intro, "qrlogin demo site is asking to sign you in on another screen.") {
		t.Errorf("the phone's sign-in page says %q", intro)
	}
	screenshot(t, phone, dir, "phone-sign-in.png", 390)
	browse(t, phone,
		chromedp.SendKeys(chromedp.ID("username"), demoUser),
		chromedp.SendKeys(chromedp.ID("password"), demoPassword),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("confirm-button")),
	)
	// The requester summed up ("Chrome on Linux · this network": the PC and
	// the phone are one machine), its address and user agent behind a tap.
	if sum := read(t, phone, chromedp.TextContent(chromedp.ID("requester-summary"))); !strings.HasSuffix(sum, " on Linux · this network") {
		t.Errorf("the confirm screen sums the requester up as %q", sum)
	}
	if visible := read(t, phone, chromedp.Evaluate[bool](`document.getElementById("requester-ip").checkVisibility()`)); visible {
		t.Error("the requester's address shows without a tap")
	}
	screenshot(t, phone, dir, "phone-confirm.png", 390)

	browse(t, pc, waitText("qr-status", "Scanned"))
	screenshot(t, pc, dir, "login-scanned.png", 1280)

	browse(t, phone,
		chromedp.Click(chromedp.ID("confirm-button")),
		chromedp.WaitVisible(chromedp.ID("done-message")),
	)
	browse(t, pc, chromedp.WaitVisible(chromedp.ID("claims")))
	checkDemoClaims(t, p, pc, "qr")
	screenshot(t, pc, dir, "demo-signed-in.png", 1280)
}

// formPost: OAuth 2.0 Form Post Response Mode. After the password sign-in
// the browser posts the code to the client by itself: the page's script
// is same-origin, so the site's CSP (script-src 'self') lets it run —
// zitadel's page submitted from an inline onload handler, which the CSP
// blocks, and the browser stalled on a page holding the code. Without
// JavaScript the page's visible Continue button posts it.
func formPost(t *testing.T, p *provider, deadline context.Context, _ string) {
	for _, tc := range []struct {
		name     string
		tab      func(*testing.T, context.Context) context.Context
		noScript bool
	}{{"with JavaScript", newTab, false}, {"without JavaScript", noScriptTab, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRelyingParty(t, p, "browser-form-post-"+map[bool]string{false: "js", true: "nojs"}[tc.noScript])
			tab := tc.tab(t, deadline)
			browse(t, tab,
				chromedp.Navigate(c.authURL()+"&response_mode=form_post"),
				chromedp.WaitVisible(chromedp.ID("password-form")),
				chromedp.SendKeys(chromedp.ID("username"), demoUser),
				chromedp.SendKeys(chromedp.ID("password"), demoPassword),
				chromedp.Click(chromedp.ID("signin")),
			)
			if tc.noScript {
				browse(t, tab, chromedp.WaitVisible("#form-post button"), chromedp.Click("#form-post button"))
			}
			claims := c.exchange(t, p, c.code(t, tab))
			if method := <-c.methods; method != http.MethodPost {
				t.Errorf("the code arrived by %s, want POST", method)
			}
			if !slices.Contains(claims.AuthenticationMethodsReferences, "pwd") {
				t.Errorf("amr = %v, want pwd", claims.AuthenticationMethodsReferences)
			}
		})
	}
}

// corsInBrowser: CORS as chromium enforces it. A page on an origin
// registered on a client (allowed_origins, through the admin API) reads
// discovery and gets the RFC 6750 challenge of /userinfo; a page on any
// other origin reads nothing; and no page, registered or not, gets a
// preflight through to the phone API — zitadel answered every preflight.
func corsInBrowser(t *testing.T, p *provider, deadline context.Context, phone string) {
	page := func() *httptest.Server {
		site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><title>site</title><p>a site</p>`)
		}))
		t.Cleanup(site.Close)
		return site
	}
	registered, other := page(), page()
	p.registerClientWith(t, map[string]any{"client_id": "browser-spa", "name": "Browser SPA", "type": "public",
		"redirect_uris": []string{registered.URL + "/cb"}, "allowed_origins": []string{registered.URL}})

	// fetchFrom runs fetch(url, init) in a page of site and returns
	// what the script could read: "status issuer-or-challenge", or the
	// error a CORS refusal gives a script.
	fetchFrom := func(tab context.Context, url, init string) string {
		return read(t, tab, chromedp.Evaluate[string](`fetch(`+strconv.Quote(url)+`, `+init+`)
			.then(r => r.status + " " + (r.headers.get("WWW-Authenticate") || "") + r.statusText)
			.catch(e => "refused: " + e.name)`, chromedp.EvalAwaitPromise))
	}
	tab := newTab(t, deadline)
	browse(t, tab, chromedp.Navigate(registered.URL))
	// The provider reads registered origins at most every 5 s
	// (ClientCacheTTL): wait for the new one to be seen.
	for got := ""; !strings.HasPrefix(got, "200"); {
		got = fetchFrom(tab, p.issuer+"/.well-known/openid-configuration", "{}")
		if deadline.Err() != nil {
			t.Fatalf("discovery from the registered origin: %s", got)
		}
		if !strings.HasPrefix(got, "200") {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if got := fetchFrom(tab, p.issuer+"/userinfo", `{headers: {"Authorization": "Bearer not-a-token"}}`); !strings.HasPrefix(got, `401 Bearer`) ||
		!strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("/userinfo from the registered origin: %q, want 401 with its challenge readable", got)
	}
	for _, path := range []string{"/qr/confirm", "/qr/scan"} {
		init := `{method: "POST", headers: {"Authorization": "Bearer ` + phone + `", "Content-Type": "application/json"}, body: "{}"}`
		if got := fetchFrom(tab, p.issuer+path, init); got != "refused: TypeError" {
			t.Errorf("%s from the registered origin: %q, want the preflight to fail", path, got)
		}
	}

	elsewhere := newTab(t, deadline)
	browse(t, elsewhere, chromedp.Navigate(other.URL))
	if got := fetchFrom(elsewhere, p.issuer+"/.well-known/openid-configuration", "{}"); got != "refused: TypeError" {
		t.Errorf("discovery from an unregistered origin: %q, want refused", got)
	}
}

// sameBrowserSecondTab: README "Try it in a browser" suggests being the
// phone in a second tab of the same browser. That tab signs in on the
// hosted form, which renews the pages' cookie; the first tab's QR is bound
// to its page through that cookie (SPEC §2.5) and must survive it: the
// first tab follows the confirmation to the client. Before, the sign-in
// dropped every binding, the first tab stayed on "Scanned" and a reload
// showed a new code: the confirmed login was lost. A third tab's login
// page, opened in between, keeps its own QR too.
func sameBrowserSecondTab(t *testing.T, p *provider, deadline context.Context, phone string) {
	c1, first, qr1 := loginPageWithQR(t, p, deadline, "browser-two-tabs-1")
	c2 := newRelyingParty(t, p, "browser-two-tabs-2")
	other := sameBrowserTab(t, first)
	browse(t, other, chromedp.Navigate(c2.authURL()))
	qr2 := qrOnPage(t, other)

	second := sameBrowserTab(t, first)
	browse(t, second, chromedp.Navigate(qr1))
	signInOnForm(t, second)
	browse(t, second, chromedp.WaitVisible(chromedp.ID("confirm-button")))
	browse(t, first, waitText("qr-status", "Scanned"))
	browse(t, second,
		chromedp.Click(chromedp.ID("confirm-button")),
		chromedp.WaitVisible(chromedp.ID("done-message")),
		waitText("done-message", "Confirmed"),
	)
	claims := c1.exchange(t, p, c1.code(t, first))
	if !slices.Contains(claims.AuthenticationMethodsReferences, "qr") {
		t.Errorf("amr = %v, want qr", claims.AuthenticationMethodsReferences)
	}

	scan := p.scan(t, phone, qr2)
	browse(t, other, waitText("qr-status", "Scanned"))
	p.confirm(t, phone, scan.Ticket)
	c2.exchange(t, p, c2.code(t, other))
}

// deadQRDenied: after a denial the QR, its URL and its code are hidden
// (computed by chromium: the hidden attribute must beat .qr's
// display:block), no QR can be read off a screenshot, and "Get a new
// code" shows a live QR that scans. A reload with scripts off renders the
// page dead from the server.
func deadQRDenied(t *testing.T, p *provider, deadline context.Context, phone string) {
	dir := screenshotDir(t)
	c, tab, qr := loginPageWithQR(t, p, deadline, "browser-dead-denied")
	p.deny(t, phone, p.scan(t, phone, qr).Ticket)
	browse(t, tab, waitText("qr-status", "Denied"))
	wantDead := func(when string) {
		t.Helper()
		want := map[string]bool{"qr-image": false, "qr-url": false, "user-code": false, "qr-new": true, "qr-status": true}
		if got := visible(t, tab, "qr-image", "qr-url", "user-code", "qr-new", "qr-status"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: visible %v, want %v", when, got, want)
		}
	}
	wantDead("denied, live")
	if text, err := findQR(screenshot(t, tab, dir, "login-denied.png", 1280)); err == nil {
		t.Errorf("a QR can be read off the denied page: %q", text)
	}

	if _, err := chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	browse(t, tab, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("qr-continue")))
	wantDead("denied, reloaded without JavaScript")
	if _, err := chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false}); err != nil {
		t.Fatal(err)
	}
	browse(t, tab, chromedp.Reload(), waitText("qr-status", "Denied"))
	wantDead("denied, reloaded")

	browse(t, tab, chromedp.Click(chromedp.ID("qr-new")), waitText("qr-status", "Waiting"))
	fresh := qrOnPage(t, tab)
	if fresh == qr {
		t.Fatal("the new code is the denied one")
	}
	if v := visible(t, tab, "qr-url", "user-code", "qr-new"); !v["qr-url"] || !v["user-code"] || v["qr-new"] {
		t.Errorf("after a new code: visible %v", v)
	}
	scan := p.scan(t, phone, fresh)
	browse(t, tab, waitText("qr-status", "Scanned"))
	p.confirm(t, phone, scan.Ticket)
	c.exchange(t, p, c.code(t, tab))
}

// deadQRExpired: on a provider whose QR codes live 3 s, an expired QR is
// replaced in place (a new one, live). While the new code cannot be had
// (the request is blocked), the expired one is hidden and the page offers
// to try again.
func deadQRExpired(t *testing.T, _ *provider, deadline context.Context, _ string) {
	p := startProvider(t, "--qr-ttl", "3s")
	dir := screenshotDir(t)
	_, tab, first := loginPageWithQR(t, p, deadline, "browser-dead-expired")
	browse(t, tab, waitText("qr-status", "here is a new code"))
	second := qrOnPage(t, tab)
	if second == first {
		t.Fatal("the expired QR was not replaced")
	}

	if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	block := func(on bool) {
		var pats []*network.BlockPattern
		if on {
			pats = []*network.BlockPattern{{URLPattern: p.issuer + "/login/qr*", Block: true}}
		}
		if _, err := chromedp.Call(tab, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: pats}); err != nil {
			t.Fatal(err)
		}
	}
	block(true)
	browse(t, tab, waitText("qr-status", "This code expired."))
	want := map[string]bool{"qr-image": false, "qr-url": false, "user-code": false, "qr-new": true}
	if got := visible(t, tab, "qr-image", "qr-url", "user-code", "qr-new"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("expired without a replacement: visible %v, want %v", got, want)
	}
	if text, err := findQR(screenshot(t, tab, dir, "login-expired.png", 1280)); err == nil {
		t.Errorf("a QR can be read off the expired page: %q", text)
	}
	block(false)
	browse(t, tab, chromedp.Click(chromedp.ID("qr-new")), waitText("qr-status", "Waiting"))
	if third := qrOnPage(t, tab); third == second || third == first {
		t.Fatal("the new code is an old one")
	}
}

// qrURLCopied: README "Try it in a browser" says the QR's URL is under
// the image; it is, as text, and the Copy button puts it on the
// clipboard (a static script: the CSP allows no inline one).
func qrURLCopied(t *testing.T, p *provider, deadline context.Context, _ string) {
	_, tab, qr := loginPageWithQR(t, p, deadline, "browser-qr-url")
	if shown := strings.TrimSpace(read(t, tab, chromedp.TextContent(chromedp.ID("qr-url")))); shown != qr {
		t.Fatalf("the page shows the URL %q, the QR reads %q", shown, qr)
	}
	for _, perm := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(tab, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: perm}, Setting: browser.PermissionSettingGranted,
			Origin: p.issuer, BrowserContextID: chromedp.FromContext(tab).BrowserContextID}); err != nil {
			t.Fatalf("granting %s: %v", perm, err)
		}
	}
	browse(t, tab, chromedp.Click(chromedp.ID("qr-copy")), waitText("qr-copy", "Copied"))
	if got := read(t, tab, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); got != qr {
		t.Errorf("the clipboard holds %q, want %q", got, qr)
	}
}

// wrongPasswordInView: after a wrong password the message is inside the
// viewport without scrolling: at 1280×900 (QR and form side by side), in
// a 900-pixel-high screen's browser window (about 650 px of page once the
// browser's bars and the task bar are drawn: the single column put the
// message at 655–679 px) and on a phone (the form first).
func wrongPasswordInView(t *testing.T, p *provider, deadline context.Context, _ string) {
	dir := screenshotDir(t)
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"login-wrong-password.png", 1280, 900, false}, {"login-wrong-password-short.png", 1280, 650, false}, {"phone-wrong-password.png", 390, 844, true}} {
		c := newRelyingParty(t, p, fmt.Sprintf("browser-wrong-password-%dx%d", size.width, size.height))
		tab := newTab(t, deadline)
		opts := []chromedp.EmulateViewportOption{}
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		browse(t, tab, chromedp.EmulateViewport(size.width, size.height, opts...),
			chromedp.Navigate(c.authURL()),
			chromedp.WaitVisible(chromedp.ID("qr-image")),
			chromedp.SendKeys(chromedp.ID("username"), demoUser),
			chromedp.SendKeys(chromedp.ID("password"), "not-the-password"),
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("login-error")),
		)
		box := read(t, tab, chromedp.Evaluate[map[string]float64](`(() => {
			const r = document.getElementById("login-error").getBoundingClientRect();
			return {top: r.top, bottom: r.bottom, innerHeight: window.innerHeight, scrollY: window.scrollY};
		})()`))
		if box["innerHeight"] != float64(size.height) || box["scrollY"] != 0 || box["top"] < 0 || box["bottom"] > box["innerHeight"] {
			t.Errorf("%d×%d: the message's box %v is not in view", size.width, size.height, box)
		}
		if msg := read(t, tab, chromedp.TextContent(chromedp.ID("login-error"))); !strings.Contains(msg, "Wrong username or password") {
			t.Errorf("message %q", msg)
		}
		screenshot(t, tab, dir, size.name, int(size.width))
	}
}

// errorPages: each error page in chromium, in the site's layout (its
// stylesheet applied: the card's border), with its own title and next
// step; the phone's page for a dead QR links to typing the code instead.
func errorPages(t *testing.T, p *provider, deadline context.Context, _ string) {
	dir := screenshotDir(t)
	pc := newTab(t, deadline)
	check := func(tab context.Context, title, shot string, width int) {
		t.Helper()
		// The page after a form post may still be loading its stylesheet
		// when its text is visible: wait for the load event, which waits
		// for the stylesheet.
		browse(t, tab, chromedp.WaitVisible(chromedp.ID("error-next")),
			chromedp.PollFunction[chromedp.Void](`() => document.readyState === "complete" && !!document.getElementById("error-next")`,
				chromedp.WithPollingTimeout(browserTestTimeout)))
		if h1 := read(t, tab, chromedp.TextContent(chromedp.CSS("h1"))); h1 != title {
			t.Errorf("title %q, want %q", h1, title)
		}
		if next := read(t, tab, chromedp.TextContent(chromedp.ID("error-next"))); !strings.HasPrefix(next, "What now? ") || len(next) < 30 {
			t.Errorf("next step %q", next)
		}
		if radius := read(t, tab, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("main.card")).borderTopLeftRadius`)); radius != "12px" {
			t.Errorf("the page is not styled: the card's radius is %q", radius)
		}
		screenshot(t, tab, dir, shot, width)
	}
	browse(t, pc, chromedp.Navigate(p.issuer+"/no/such/page"))
	check(pc, "Page not found", "error-not-found.png", 1280)
	browse(t, pc, chromedp.Navigate(p.issuer+"/authorize?response_type=code&client_id=nobody"))
	check(pc, "The application's sign-in request is invalid", "error-bad-sign-in.png", 1280)

	phone := phoneTab(t, deadline)
	browse(t, phone, chromedp.Navigate(p.issuer+"/q/AAAAAAAAAAAAAAAAAAAAAA"))
	signInOnForm(t, phone)
	check(phone, "This QR code is no longer valid", "phone-qr-invalid.png", 390)
	browse(t, phone, chromedp.Click(chromedp.ID("error-link")), chromedp.WaitVisible(chromedp.ID("user_code")))
}

// proximityWarning: RFC 10027 §6.1.1 in chromium. A confidential client
// reports a requester on another network than the phone's (the test's
// loopback): under warn the confirm screen says so above the code and
// still offers Confirm; under require it offers only Deny.
func proximityWarning(t *testing.T, p *provider, deadline context.Context, _ string) {
	dir := screenshotDir(t)
	for _, tc := range []struct{ policy, shot string }{
		{"warn", "phone-confirm-other-network.png"},
		{"require", "phone-confirm-other-network-require.png"},
	} {
		id := "browser-proximity-" + tc.policy
		secret := p.registerClientWith(t, map[string]any{"client_id": id, "name": "Far Shop", "proximity_policy": tc.policy,
			"grant_types": []string{"urn:qrlogin:params:oauth:grant-type:qr"}})
		var start struct {
			VerificationURIComplete string `json:"verification_uri_complete"`
		}
		if st := p.post(t, p.issuer+"/qr/authorize", url.Values{"scope": {"openid"}, "requester_ip": {"203.0.113.9"},
			"requester_user_agent": {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"}},
			basic(id, secret), &start); st != 200 {
			t.Fatalf("/qr/authorize: %d", st)
		}
		phone := phoneTab(t, deadline)
		browse(t, phone, chromedp.Navigate(start.VerificationURIComplete))
		signInOnForm(t, phone)
		browse(t, phone, chromedp.WaitVisible(chromedp.ID("proximity-warning")))
		if sum := read(t, phone, chromedp.TextContent(chromedp.ID("requester-summary"))); sum != "Chrome on Windows · another network" {
			t.Errorf("%s: the requester is summed up as %q", tc.policy, sum)
		}
		warning := read(t, phone, chromedp.TextContent(chromedp.ID("proximity-warning")))
		confirmable := read(t, phone, chromedp.Evaluate[bool](`!!document.getElementById("confirm-button")`))
		switch tc.policy {
		case "warn":
			if !strings.Contains(warning, "another network than this phone") || !confirmable {
				t.Errorf("warn: %q, Confirm offered %v", warning, confirmable)
			}
		case "require":
			if !strings.Contains(warning, "cannot be confirmed from here") || confirmable {
				t.Errorf("require: %q, Confirm offered %v", warning, confirmable)
			}
		}
		screenshot(t, phone, dir, tc.shot, 390)
	}
}
