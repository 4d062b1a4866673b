package idp_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/idp"
)

// browser is a cookie-keeping HTTP client that stops at redirects to the
// relying party.
type browser struct {
	t  *testing.T
	hc *http.Client
	s  *testServer
}

func newBrowser(t *testing.T, s *testServer) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, s: s, hc: &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != strings.TrimPrefix(s.URL, "http://") {
			return http.ErrUseLastResponse // the relying party: not ours to follow
		}
		return nil
	}}}
}

func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.s.URL + u
	}
	resp, err := b.hc.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func (b *browser) post(path string, form url.Values, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.s.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

var (
	qrImgRe  = regexp.MustCompile(`id="qr-image" class="qr" src="(data:image/png;base64,[^"]+)"`)
	ticketRe = regexp.MustCompile(`name="ticket" value="([^"]+)"`)
)

func codeConfig(s *testServer) (*oauth2.Config, string) {
	cfg := s.rpConfig(rpID, rpSecret)
	cfg.RedirectURL = "https://shop.example/cb"
	cfg.Scopes = []string{"openid", "profile", "email"}
	return cfg, oauth2.GenerateVerifier()
}

// openLoginPage follows a stock client's /authorize to the hosted page and
// returns the page and the QR text decoded from its image.
func openLoginPage(t *testing.T, s *testServer, b *browser, cfg *oauth2.Config, verifier string) (loginURL, qr string) {
	t.Helper()
	resp, page := b.get(cfg.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nn")))
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/login" {
		t.Fatalf("authorize → %d %s", resp.StatusCode, resp.Request.URL)
	}
	m := qrImgRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no QR image on the login page:\n%s", page)
	}
	return resp.Request.URL.String(), decodeQR(t, html.UnescapeString(m[1]))
}

func codeFrom(t *testing.T, resp *http.Response) string {
	t.Helper()
	if resp.StatusCode/100 != 3 {
		t.Fatalf("want a redirect to the client, got %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Host != "shop.example" || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st-1" {
		t.Fatalf("redirect to %s", loc)
	}
	return loc.Query().Get("code")
}

// SPEC §2.5: a stock code-flow client gets QR login through the hosted
// page; the page's status endpoint (bound to the cookie) reports scanned,
// then confirmed with where to continue.
func TestHostedPageQRLoginInCodeFlow(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	cfg, verifier := codeConfig(s)
	b := newBrowser(t, s)
	loginURL, qr := openLoginPage(t, s, b, cfg, verifier)
	id := mustQuery(t, loginURL, "id")

	// Without the cookie, the status endpoint knows nothing of this page.
	if status, _ := do(t, mustReq("GET", s.URL+"/login/status?id="+id)); status != 404 {
		t.Fatalf("status without the session cookie: %d", status)
	}

	ticket := s.scan(t, alice, qr)
	_, body := b.get("/login/status?id=" + id + "&since=pending")
	if st := decodeStatus(t, body); st["status"] != "scanned" {
		t.Fatalf("status after scan: %s", body)
	}
	s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket})
	_, body = b.get("/login/status?id=" + id + "&since=scanned")
	st := decodeStatus(t, body)
	if st["status"] != "confirmed" || !strings.Contains(st["redirect"], "/authorize/callback") {
		t.Fatalf("status after confirm: %s", body)
	}
	resp, _ := b.get(st["redirect"])
	tok, err := cfg.Exchange(context.Background(), codeFrom(t, resp), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	claims := verifyIDToken(t, s, rpID, rpSecret, tok.Extra("id_token").(string), "nn")
	if claims.Subject != s.users["alice"] || !slices.Contains(claims.AuthenticationMethodsReferences, "qr") {
		t.Fatalf("sub %q amr %v", claims.Subject, claims.AuthenticationMethodsReferences)
	}
	// The PC's browser (perhaps a shared one) cannot now approve sign-ins
	// to alice's account: /device asks it to sign in.
	if resp, _ := b.get("/device"); resp.Request.URL.Path != "/login" {
		t.Fatalf("after a QR login the PC's browser may approve sign-ins: at %s", resp.Request.URL)
	}
}

// A password login made for a relying party does not make the browser an
// approver either; only the phone-browser login does.
func TestPasswordLoginForARelyingPartyIsNoApprover(t *testing.T) {
	s := newServer(t)
	b := newBrowser(t, s)
	cfg, verifier := codeConfig(s)
	loginURL, _ := openLoginPage(t, s, b, cfg, verifier)
	_, page := b.get(loginURL)
	csrf := csrfRe.FindStringSubmatch(page)
	resp, _ := b.post("/login", url.Values{"id": {mustQuery(t, loginURL, "id")}, "csrf": {csrf[1]}, "username": {"alice"}, "password": {"alice-password"}})
	codeFrom(t, resp)
	r := s.start(t, nil)
	if resp, _ := b.get(r.VerificationURIComplete); resp.Request.URL.Path != "/login" {
		t.Fatalf("a relying party's password login lets the browser scan: at %s", resp.Request.URL)
	}
}

// Reloading the page after the phone confirmed continues the flow: no
// JavaScript needed.
func TestHostedPageReloadAfterConfirmContinues(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	cfg, verifier := codeConfig(s)
	b := newBrowser(t, s)
	loginURL, qr := openLoginPage(t, s, b, cfg, verifier)

	// Reloading while pending shows the same QR.
	_, page := b.get(loginURL)
	if m := qrImgRe.FindStringSubmatch(page); m == nil || decodeQR(t, html.UnescapeString(m[1])) != qr {
		t.Fatal("reload while pending shows another QR")
	}
	ticket := s.scan(t, alice, qr)
	if _, page = b.get(loginURL); !strings.Contains(page, "Scanned — confirm on your phone") {
		t.Fatal("reload after the scan does not say scanned")
	}
	s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket})
	resp, _ := b.get(loginURL)
	if _, err := cfg.Exchange(context.Background(), codeFrom(t, resp), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}
}

// A denied QR says so; a fresh QR replaces an expired one without a
// reload; the old one no longer scans.
func TestHostedPageDeniedAndExpired(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	cfg, verifier := codeConfig(s)
	b := newBrowser(t, s)
	loginURL, qr := openLoginPage(t, s, b, cfg, verifier)
	id := mustQuery(t, loginURL, "id")
	ticket := s.scan(t, alice, qr)
	s.phone(t, alice, "/qr/deny", map[string]string{"ticket": ticket})
	if _, body := b.get("/login/status?id=" + id + "&since=scanned"); decodeStatus(t, body)["status"] != "denied" {
		t.Fatalf("status after deny: %s", body)
	}
	// Reloaded, the denied QR is rendered hidden (with its URL and code)
	// and a new code offered: nothing dead is left to scan.
	if _, page := b.get(loginURL); !strings.Contains(page, `<div id="qr-live" hidden>`) || strings.Contains(page, `id="qr-renew" class="center" hidden`) {
		t.Fatalf("the denied page shows its QR or offers no new code:\n%s", page)
	}

	s.clock.Advance(3 * time.Minute)
	_, page := b.get(loginURL)
	csrf := regexp.MustCompile(`data-csrf="([^"]+)"`).FindStringSubmatch(page)
	if csrf == nil {
		t.Fatal("no CSRF token for the page's script")
	}
	if resp, _ := b.post("/login/qr?id="+id, nil); resp.StatusCode != 403 {
		t.Fatalf("new QR without the CSRF header: %d", resp.StatusCode)
	}
	resp, body := b.post("/login/qr?id="+id, nil, "X-CSRF-Token", csrf[1])
	var fresh struct {
		QRImage   string `json:"qr_image"`
		QRURL     string `json:"qr_url"`
		UserCode  string `json:"user_code"`
		ExpiresIn int    `json:"expires_in"`
	}
	_ = json.Unmarshal([]byte(body), &fresh)
	if resp.StatusCode != 200 || fresh.QRImage == "" {
		t.Fatalf("new QR: %d %s", resp.StatusCode, body)
	}
	newQR := decodeQR(t, fresh.QRImage)
	if newQR == qr {
		t.Fatal("the new QR is the old one")
	}
	if fresh.QRURL != newQR || fresh.ExpiresIn != 120 {
		t.Fatalf("new QR: the URL under it %q (the image reads %q), expires_in %d", fresh.QRURL, newQR, fresh.ExpiresIn)
	}
	if status, _ := s.phone(t, alice, "/qr/scan", map[string]string{"qr": qr}); status != 404 {
		t.Fatalf("the denied QR scans again: %d", status)
	}
	s.scan(t, alice, newQR)
}

// SPEC §2.4: the phone's browser opens /q/{qr_id}, signs in, sees the
// confirm screen and confirms with a CSRF-protected POST.
func TestPhoneBrowserPathConfirms(t *testing.T) {
	s := newServer(t)
	r := s.start(t, url.Values{"requester_ip": {"198.51.100.7"}, "requester_user_agent": {"Edge/140"}})
	phone := newBrowser(t, s)
	resp, page := phone.get(r.VerificationURIComplete)
	if resp.Request.URL.Path != "/login" || resp.Request.URL.Query().Get("return") != "/q/"+qrID(r) {
		t.Fatalf("no session: landed on %s", resp.Request.URL)
	}
	csrf := csrfRe.FindStringSubmatch(page)
	resp, page = phone.post("/login", url.Values{"return": {"/q/" + qrID(r)}, "csrf": {csrf[1]}, "username": {"alice"}, "password": {"alice-password"}})
	if resp.Request.URL.Path != "/q/"+qrID(r) || resp.StatusCode != 200 {
		t.Fatalf("after login: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	for _, want := range []string{r.UserCode, "Example Shop", "198.51.100.7", "Edge/140", "reported by Example Shop", "Confirm sign-in", "Deny"} {
		if !strings.Contains(page, want) {
			t.Errorf("confirm screen lacks %q", want)
		}
	}
	if status, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); body["qr_status"] != "scanned" {
		t.Fatalf("the PC does not see the scan: %d %v", status, body)
	}
	ticket := ticketRe.FindStringSubmatch(page)[1]
	csrf = csrfRe.FindStringSubmatch(page)

	// A cross-site POST carries no valid token: refused, nothing decided.
	if resp, _ := phone.post("/q/decide", url.Values{"ticket": {ticket}, "action": {"confirm"}}); resp.StatusCode != 403 {
		t.Fatalf("decide without CSRF token: %d", resp.StatusCode)
	}
	if resp, _ := phone.post("/q/decide", url.Values{"ticket": {ticket}, "action": {"confirm"}, "csrf": {"forged"}}); resp.StatusCode != 403 {
		t.Fatalf("decide with a forged CSRF token: %d", resp.StatusCode)
	}
	resp, page = phone.post("/q/decide", url.Values{"ticket": {ticket}, "action": {"confirm"}, "csrf": {csrf[1]}})
	if resp.StatusCode != 200 || !strings.Contains(page, "Confirmed") {
		t.Fatalf("decide: %d %s", resp.StatusCode, page)
	}
	s.clock.Advance(2 * time.Second)
	if status, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); status != 200 {
		t.Fatalf("the PC gets no tokens: %d %v", status, body)
	}
}

// /device takes a typed code in any case and with or without the dash, and
// limits guesses.
func TestDeviceCodeEntry(t *testing.T) {
	s := newServer(t, func(c *idp.Config) { c.RateLimit = 1000 })
	r := s.start(t, nil)
	phone := newBrowser(t, s)
	resp, page := phone.get("/device")
	if resp.Request.URL.Query().Get("return") != "/device" {
		t.Fatalf("no session: landed on %s", resp.Request.URL)
	}
	csrf := csrfRe.FindStringSubmatch(page)
	_, page = phone.post("/login", url.Values{"return": {"/device"}, "csrf": {csrf[1]}, "username": {"bob"}, "password": {"bob-password"}})
	csrf = csrfRe.FindStringSubmatch(page)
	typed := strings.ToLower(strings.ReplaceAll(r.UserCode, "-", " "))
	resp, page = phone.post("/device", url.Values{"csrf": {csrf[1]}, "user_code": {typed}})
	if resp.StatusCode != 200 || !strings.Contains(page, r.UserCode) || !strings.Contains(page, "Confirm sign-in") {
		t.Fatalf("typed code: %d\n%s", resp.StatusCode, page)
	}
	// Wrong guesses: a few are answered, then the limit applies.
	limited := false
	for i := range 10 {
		resp, _ = phone.post("/device", url.Values{"csrf": {csrf[1]}, "user_code": {"BCDF-GHJ" + string("BCDFGHJKLM"[i])}})
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("ten wrong guesses in a row were all answered")
	}
}

// Open redirect, CSRF and framing (issue 4, acceptance 3).
func TestPagesRefuseOpenRedirectCSRFAndFraming(t *testing.T) {
	s := newServer(t)
	b := newBrowser(t, s)
	t.Run("an unregistered redirect_uri gets an error page, never a redirect", func(t *testing.T) {
		for _, ru := range []string{"https://evil.example/cb", "https://shop.example/cb/../evil", "https://shop.example.evil.example/cb"} {
			u := s.URL + "/authorize?client_id=" + rpID + "&response_type=code&scope=openid&redirect_uri=" + url.QueryEscape(ru)
			resp, _ := b.get(u)
			if resp.StatusCode/100 == 3 || resp.Request.URL.Host != strings.TrimPrefix(s.URL, "http://") {
				t.Fatalf("%s: redirected (%d to %s)", ru, resp.StatusCode, resp.Header.Get("Location"))
			}
			if resp.StatusCode < 400 {
				t.Fatalf("%s: %d", ru, resp.StatusCode)
			}
		}
	})
	t.Run("an unknown client_id gets a 400 error page, not a 500", func(t *testing.T) {
		resp, page := b.get("/authorize?client_id=nobody&response_type=code&scope=openid&redirect_uri=" + url.QueryEscape("https://evil.example/cb"))
		if resp.StatusCode != 400 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(page, "unknown client_id") {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
	t.Run("the login page's return goes only to this site's confirm pages", func(t *testing.T) {
		for _, ret := range []string{"https://evil.example/", "//evil.example/q/AAAAAAAAAAAAAAAAAAAAAA", "/q/../../evil", "/authorize"} {
			resp, _ := b.get("/login?return=" + url.QueryEscape(ret))
			if resp.StatusCode != 400 {
				t.Fatalf("return=%s: %d", ret, resp.StatusCode)
			}
		}
	})
	t.Run("a login POST without the session's CSRF token fails", func(t *testing.T) {
		resp, _ := b.post("/login", url.Values{"return": {"/device"}, "username": {"alice"}, "password": {"alice-password"}, "csrf": {"x"}})
		if resp.StatusCode != 403 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("every page refuses framing", func(t *testing.T) {
		for _, p := range []string{"/login?return=%2Fdevice", "/device", "/q/AAAAAAAAAAAAAAAAAAAAAA", "/login?id=nope", "/.well-known/openid-configuration", "/static/style.css"} {
			resp, _ := b.get(p)
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
				t.Fatalf("%s: CSP %q, XFO %q", p, csp, resp.Header.Get("X-Frame-Options"))
			}
		}
	})
}

func mustReq(method, u string) *http.Request {
	r, _ := http.NewRequest(method, u, nil)
	return r
}

func mustQuery(t *testing.T, u, k string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil || p.Query().Get(k) == "" {
		t.Fatalf("no %s in %s", k, u)
	}
	return p.Query().Get(k)
}

func decodeStatus(t *testing.T, body string) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("status answer %q: %v", body, err)
	}
	return m
}

// QRLJacking into account takeover: a QR must never yield a token that can
// approve sign-ins. The phone app's own authorization request gets no QR,
// and qr:approve is never granted through the QR grant.
func TestQRNeverGrantsAPhoneToken(t *testing.T) {
	s := newServer(t)
	b := newBrowser(t, s)
	u := s.URL + "/authorize?client_id=" + phoneID + "&response_type=code&scope=" + url.QueryEscape("openid qr:approve offline_access") +
		"&redirect_uri=" + url.QueryEscape("http://127.0.0.1:4321/callback") + "&code_challenge=" + s256("v") + "&code_challenge_method=S256"
	resp, page := b.get(u)
	if resp.Request.URL.Path != "/login" || strings.Contains(page, `id="qr-image"`) {
		t.Fatalf("the phone app's login page offers a QR (at %s)", resp.Request.URL)
	}
	// Even if a binding were forged, the status endpoint has nothing to finish.
	if status, _ := do(t, mustReq("GET", s.URL+"/login/status?id="+mustQuery(t, resp.Request.URL.String(), "id"))); status != 404 {
		t.Fatalf("status endpoint for a QR-less page: %d", status)
	}
	for _, c := range []struct{ id, secret string }{{rpID, rpSecret}, {"", ""}} {
		form := url.Values{"scope": {"openid qr:approve"}}
		if c.id == "" {
			form.Set("client_id", publicRPID)
		}
		status, raw := s.form(t, "/qr/authorize", c.id, c.secret, form)
		if body := decode(t, raw); status != 400 || body["error"] != "invalid_scope" {
			t.Fatalf("qr:approve at /qr/authorize: %d %v", status, body)
		}
	}
}

// PKCE: a public client without a code_challenge, or any method but S256,
// is invalid_request (RFC 7636 §4.4.1, RFC 9700 §2.1.1), sent back to the
// client's registered redirect URI with its state (RFC 6749 §4.1.2.1).
func TestAuthorizeRequiresPKCEWithS256(t *testing.T) {
	s := newServer(t)
	b := newBrowser(t, s)
	base := s.URL + "/authorize?response_type=code&scope=openid&state=s"
	for name, q := range map[string]string{
		"public client without PKCE": "&client_id=" + publicRPID + "&redirect_uri=" + url.QueryEscape("http://127.0.0.1/cb"),
		"plain method":               "&client_id=" + rpID + "&redirect_uri=" + url.QueryEscape("https://shop.example/cb") + "&code_challenge=abcdefghijabcdefghijabcdefghijabcdefghijabc&code_challenge_method=plain",
		"no method (plain)":          "&client_id=" + rpID + "&redirect_uri=" + url.QueryEscape("https://shop.example/cb") + "&code_challenge=abcdefghijabcdefghijabcdefghijabcdefghijabc",
		"unknown method":             "&client_id=" + rpID + "&redirect_uri=" + url.QueryEscape("https://shop.example/cb") + "&code_challenge=abc&code_challenge_method=foo",
	} {
		resp, _ := b.get(base + q)
		v := clientAnswer(t, resp)
		if v.Get("error") != "invalid_request" || v.Get("state") != "s" ||
			!strings.Contains(v.Get("error_description"), "PKCE") && !strings.Contains(v.Get("error_description"), "S256") {
			t.Errorf("%s: %v", name, v)
		}
	}
	// A confidential client without PKCE is still accepted (stock relying parties).
	resp, _ := b.get(base + "&client_id=" + rpID + "&redirect_uri=" + url.QueryEscape("https://shop.example/cb"))
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("confidential client without PKCE: %d at %s", resp.StatusCode, resp.Request.URL)
	}
}

// Wrong passwords for one account are limited whatever address they come
// from; successes do not count.
func TestPasswordGuessesAreLimitedPerAccount(t *testing.T) {
	s := newServer(t, func(c *idp.Config) { c.RateLimit = 1000 })
	b := newBrowser(t, s)
	login := func(pw string) int {
		_, page := b.get("/login?return=%2Fdevice")
		csrf := csrfRe.FindStringSubmatch(page)
		resp, _ := b.post("/login", url.Values{"return": {"/device"}, "csrf": {csrf[1]}, "username": {"alice"}, "password": {pw}})
		return resp.StatusCode
	}
	for range 6 {
		if st := login("alice-password"); st != 200 {
			t.Fatalf("a correct password was refused: %d", st)
		}
	}
	limited := false
	for range 8 {
		if login("wrong") == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("eight wrong passwords in a row were all checked")
	}
	if st := login("alice-password"); st != http.StatusTooManyRequests {
		t.Fatalf("after the limit, a password login answered %d", st)
	}
}

// The pages' cookie binds one QR login per login page (SPEC §2.5). A
// sign-in in another tab of the same browser (here the phone-browser path,
// as README "Try it in a browser" suggests) renews the cookie but keeps
// every page's binding, so the first page still completes; with many
// pages, the oldest bindings go first.
func TestLoginPagesOfOneBrowserKeepTheirQRs(t *testing.T) {
	s := newServer(t, func(c *idp.Config) { c.RateLimit = 1000 })
	alice := s.phoneToken(t, "alice")
	cfg, verifier := codeConfig(s)
	b := newBrowser(t, s)
	loginURL, qr := openLoginPage(t, s, b, cfg, verifier)
	id := mustQuery(t, loginURL, "id")

	// A second tab: the phone-browser path signs in with a password.
	_, page := b.get(qr)
	csrf := csrfRe.FindStringSubmatch(page)
	resp, page := b.post("/login", url.Values{"return": {strings.TrimPrefix(qr, s.URL)}, "csrf": {csrf[1]}, "username": {"alice"}, "password": {"alice-password"}})
	if resp.StatusCode != 200 || !strings.Contains(page, "confirm-button") {
		t.Fatalf("second tab after sign-in: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	resp, page = b.post("/q/decide", url.Values{"ticket": {ticketRe.FindStringSubmatch(page)[1]}, "action": {"confirm"}, "csrf": {csrfRe.FindStringSubmatch(page)[1]}})
	if resp.StatusCode != 200 || !strings.Contains(page, "Confirmed") {
		t.Fatalf("second tab's confirm: %d", resp.StatusCode)
	}
	// The first tab's status request finds its login and continues.
	resp, body := b.get("/login/status?id=" + id + "&since=scanned")
	if st := decodeStatus(t, body); resp.StatusCode != 200 || st["status"] != "confirmed" {
		t.Fatalf("first tab after the second tab's sign-in: %d %s", resp.StatusCode, body)
	}
	resp, _ = b.get(decodeStatus(t, body)["redirect"])
	if _, err := cfg.Exchange(context.Background(), codeFrom(t, resp), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}

	// Ten pages in another browser (this one is signed in now): the
	// newest eight keep their QR.
	b = newBrowser(t, s)
	var ids []string
	for range 10 {
		u, qr := openLoginPage(t, s, b, cfg, oauth2.GenerateVerifier())
		ids = append(ids, mustQuery(t, u, "id"))
		s.scan(t, alice, qr)
	}
	for i, id := range ids {
		resp, body := b.get("/login/status?id=" + id + "&since=pending")
		if kept := resp.StatusCode == 200 && decodeStatus(t, body)["status"] == "scanned"; kept != (i >= 2) {
			t.Errorf("page %d of 10: %d %s", i+1, resp.StatusCode, body)
		}
	}
}
