package idp_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage"
)

// authz is one relying party's authorization request, made by a stock
// x/oauth2 client with PKCE.
type authz struct {
	s        *testServer
	cfg      *oauth2.Config
	verifier string
	state    string
	nonce    string
}

func newAuthz(s *testServer, clientID string) *authz {
	secret, redirect := rpSecret, "https://shop.example/cb"
	if clientID == otherID {
		secret, redirect = otherSec, "https://other.example/cb"
	}
	cfg := s.rpConfig(clientID, secret)
	cfg.RedirectURL = redirect
	cfg.Scopes = []string{"openid", "profile", "email"}
	return &authz{s: s, cfg: cfg, verifier: oauth2.GenerateVerifier(), state: "st-" + clientID, nonce: "n-" + clientID}
}

func (a *authz) url(extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.verifier), oauth2.SetAuthURLParam("nonce", a.nonce)}, extra...)
	return a.cfg.AuthCodeURL(a.state, opts...)
}

func param(k, v string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam(k, v) }

// clientAnswer is what the client received at its redirect URI: the query or,
// failing that, the fragment of the redirect.
func clientAnswer(t *testing.T, resp *http.Response) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("want a redirect to the client, got %d at %s", resp.StatusCode, resp.Request.URL)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Host == "" || loc.Host == resp.Request.URL.Host {
		t.Fatalf("redirect to %q, not to the client", resp.Header.Get("Location"))
	}
	if loc.RawQuery != "" {
		return loc.Query()
	}
	v, _ := url.ParseQuery(loc.EscapedFragment())
	return v
}

// code checks the answer carries a code and the request's state.
func (a *authz) code(t *testing.T, resp *http.Response) string {
	t.Helper()
	v := clientAnswer(t, resp)
	if v.Get("code") == "" || v.Get("state") != a.state {
		t.Fatalf("want a code and state %q, got %v", a.state, v)
	}
	return v.Get("code")
}

// wantError checks the answer is error code with the request's state and
// no code.
func (a *authz) wantError(t *testing.T, resp *http.Response, code string) {
	t.Helper()
	v := clientAnswer(t, resp)
	if v.Get("error") != code || v.Get("state") != a.state || v.Has("code") {
		t.Fatalf("want error %q with state %q, got %v", code, a.state, v)
	}
	if v.Get("error_description") == "" {
		t.Fatalf("error %q has no error_description", code)
	}
}

// idToken exchanges the code with the stock client and verifies the ID
// token with zitadel's relying party.
func (a *authz) idToken(t *testing.T, code string) *oidc.IDTokenClaims {
	t.Helper()
	tok, err := a.cfg.Exchange(context.Background(), code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	return verifyIDToken(t, a.s, a.cfg.ClientID, a.cfg.ClientSecret, raw, a.nonce)
}

// wantLoginPage checks the browser was shown the password form.
func wantLoginPage(t *testing.T, resp *http.Response, page string) {
	t.Helper()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/login" || !strings.Contains(page, `id="password-form"`) {
		t.Fatalf("want the login form, got %d at %s", resp.StatusCode, resp.Request.URL)
	}
}

// wantSSO checks the browser went from /authorize straight to the client,
// through the callback that issues the code, without a page.
func wantSSO(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusFound || resp.Request.URL.Path != "/authorize/callback" {
		t.Fatalf("want single sign-on (callback → client), got %d at %s", resp.StatusCode, resp.Request.URL)
	}
}

// signIn posts the password form of the login page the browser is on.
func (b *browser) signIn(loginResp *http.Response, page, user string) *http.Response {
	b.t.Helper()
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s", loginResp.Request.URL)
	}
	form := url.Values{"csrf": {m[1]}, "username": {user}, "password": {user + "-password"}}
	if id := loginResp.Request.URL.Query().Get("id"); id != "" {
		form.Set("id", id)
	}
	if ret := loginResp.Request.URL.Query().Get("return"); ret != "" {
		form.Set("return", ret)
	}
	resp, _ := b.post("/login", form)
	return resp
}

// signedIn signs the browser in with a password at relying party rp and
// returns the ID token's claims.
func signedIn(t *testing.T, s *testServer, b *browser, user string) *oidc.IDTokenClaims {
	t.Helper()
	a := newAuthz(s, rpID)
	resp, page := b.get(a.url())
	wantLoginPage(t, resp, page)
	return a.idToken(t, a.code(t, b.signIn(resp, page, user)))
}

// sessionCookie is the browser's session cookie value, "" without one.
func (b *browser) sessionCookie() string {
	u, _ := url.Parse(b.s.URL)
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == "qrlogin_sid" {
			return c.Value
		}
	}
	return ""
}

// withSessionCookie is a fresh browser holding only the given session
// cookie value.
func withSessionCookie(t *testing.T, s *testServer, value string) *browser {
	b := newBrowser(t, s)
	u, _ := url.Parse(s.URL)
	b.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "qrlogin_sid", Value: value, Path: "/"}})
	return b
}

// OIDC Core §3.1.2.1: a password sign-in at one relying party signs the
// browser in at the provider; another relying party then gets its code
// without the form, and its ID token carries the sign-in's auth_time, amr
// and subject. A browser without the cookie still gets the form.
func TestSingleSignOnAcrossRelyingParties(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		b := newBrowser(t, s)
		first := signedIn(t, s, b, "alice")

		s.clock.Advance(5 * time.Minute)
		other := newAuthz(s, otherID)
		resp, _ := b.get(other.url())
		wantSSO(t, resp)
		claims := other.idToken(t, other.code(t, resp))
		if claims.Subject != s.users["alice"] || !slices.Contains(claims.Audience, otherID) {
			t.Fatalf("single sign-on ID token: sub %q aud %v", claims.Subject, claims.Audience)
		}
		if !claims.AuthTime.AsTime().Equal(first.AuthTime.AsTime()) || first.AuthTime == 0 {
			t.Fatalf("auth_time %v, want the sign-in's %v", claims.AuthTime.AsTime(), first.AuthTime.AsTime())
		}
		if !slices.Equal(claims.AuthenticationMethodsReferences, []string{"pwd"}) {
			t.Fatalf("amr %v, want [pwd]", claims.AuthenticationMethodsReferences)
		}

		stranger := newBrowser(t, s)
		resp, page := stranger.get(newAuthz(s, otherID).url())
		wantLoginPage(t, resp, page)
	})
}

// prompt=none (OIDC Core §3.1.2.1): never a page. Without a session the
// error login_required goes back to the client with its state — as a
// form_post when asked; with one, the code does.
func TestPromptNone(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		b := newBrowser(t, s)
		a := newAuthz(s, otherID)
		resp, _ := b.get(a.url(param("prompt", "none")))
		a.wantError(t, resp, "login_required")

		resp, page := b.get(a.url(param("prompt", "none"), param("response_mode", "form_post")))
		if resp.StatusCode != 200 || !strings.Contains(page, `action="https://other.example/cb"`) ||
			!strings.Contains(page, `name="error" value="login_required"`) || !strings.Contains(page, `name="state" value="`+a.state+`"`) {
			t.Fatalf("form_post error: %d\n%s", resp.StatusCode, page)
		}

		signedIn(t, s, b, "alice")
		resp, _ = b.get(a.url(param("prompt", "none")))
		a.idToken(t, a.code(t, resp))
	})
}

// prompt=login forces a new sign-in even with a live session; the new
// sign-in's time is the ID token's auth_time, and the session is renewed.
func TestPromptLoginForcesReauthentication(t *testing.T) {
	s := newServer(t)
	b := newBrowser(t, s)
	first := signedIn(t, s, b, "alice")
	oldCookie := b.sessionCookie()

	s.clock.Advance(2 * time.Minute)
	a := newAuthz(s, otherID)
	resp, page := b.get(a.url(param("prompt", "login")))
	wantLoginPage(t, resp, page)
	claims := a.idToken(t, a.code(t, b.signIn(resp, page, "alice")))
	if got, want := claims.AuthTime.AsTime(), first.AuthTime.AsTime().Add(2*time.Minute); !got.Equal(want) {
		t.Fatalf("auth_time %v, want the new sign-in's %v", got, want)
	}
	if b.sessionCookie() == oldCookie || b.sessionCookie() == "" {
		t.Fatal("the session cookie was not renewed at sign-in")
	}
	old := withSessionCookie(t, s, oldCookie)
	resp, _ = old.get(a.url(param("prompt", "none")))
	a.wantError(t, resp, "login_required")
}

// max_age (OIDC Core §3.1.2.1): a sign-in older than max_age is not
// enough; a younger one is, with its own auth_time in the ID token.
func TestMaxAge(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		b := newBrowser(t, s)
		first := signedIn(t, s, b, "alice")
		s.clock.Advance(10 * time.Minute)

		a := newAuthz(s, otherID)
		resp, _ := b.get(a.url(param("prompt", "none"), param("max_age", "300")))
		a.wantError(t, resp, "login_required")
		resp, page := b.get(a.url(param("max_age", "300")))
		wantLoginPage(t, resp, page)

		resp, _ = b.get(a.url(param("max_age", "3600")))
		wantSSO(t, resp)
		claims := a.idToken(t, a.code(t, resp))
		if !claims.AuthTime.AsTime().Equal(first.AuthTime.AsTime()) {
			t.Fatalf("auth_time %v, want the sign-in's %v", claims.AuthTime.AsTime(), first.AuthTime.AsTime())
		}
	})
}

// id_token_hint (OIDC Core §3.1.2.1): a hint naming another user than the
// session's is login_required with prompt=none and the form without it; a
// hint we did not sign is login_required.
func TestIDTokenHint(t *testing.T) {
	s := newServer(t)
	b := newBrowser(t, s)
	signedIn(t, s, b, "alice")
	aliceHint := newAuthz(s, rpID)
	resp, _ := b.get(aliceHint.url())
	tok, err := aliceHint.cfg.Exchange(context.Background(), aliceHint.code(t, resp), oauth2.VerifierOption(aliceHint.verifier))
	if err != nil {
		t.Fatal(err)
	}
	aliceIDToken := tok.Extra("id_token").(string)
	bobIDToken := s.codeFlowToken(t, rpID, rpSecret, "https://shop.example/cb", "bob", []string{"openid"}).Extra("id_token").(string)
	foreign := newServer(t) // another provider: other issuer, other keys
	foreignIDToken := foreign.codeFlowToken(t, rpID, rpSecret, "https://shop.example/cb", "alice", []string{"openid"}).Extra("id_token").(string)

	a := newAuthz(s, otherID)
	resp, _ = b.get(a.url(param("prompt", "none"), param("id_token_hint", bobIDToken)))
	a.wantError(t, resp, "login_required")
	resp, page := b.get(a.url(param("id_token_hint", bobIDToken)))
	wantLoginPage(t, resp, page)
	for name, hint := range map[string]string{"another provider's": foreignIDToken, "a malformed": "not.a.jwt"} {
		resp, _ = b.get(a.url(param("prompt", "none"), param("id_token_hint", hint)))
		v := clientAnswer(t, resp)
		if v.Get("error") != "login_required" || v.Has("code") {
			t.Fatalf("%s id_token_hint: %v", name, v)
		}
	}
	resp, _ = b.get(a.url(param("prompt", "none"), param("id_token_hint", aliceIDToken)))
	a.idToken(t, a.code(t, resp))
}

// login_hint pre-fills the username (OIDC Core §3.1.2.1), escaped.
func TestLoginHintPrefillsTheUsername(t *testing.T) {
	s := newServer(t)
	b := newBrowser(t, s)
	resp, page := b.get(newAuthz(s, rpID).url(param("login_hint", "alice")))
	wantLoginPage(t, resp, page)
	if !regexp.MustCompile(`<input id="username" name="username"[^>]* value="alice">`).MatchString(page) {
		t.Fatalf("username not pre-filled:\n%s", page)
	}
	_, page = b.get(newAuthz(s, rpID).url(param("login_hint", `"><script>x</script>`)))
	if strings.Contains(page, "<script>x") {
		t.Fatal("login_hint is not escaped")
	}
}

// A request that can approve QR logins (the first-party app, qr:approve)
// is answered only from a session made on the phone-browser path: a
// password sign-in for a relying party on a PC never becomes a phone
// token. prompt=none then gets interaction_required.
func TestPhoneAppNeedsAnApproverSession(t *testing.T) {
	s := newServer(t)
	phone := func() string {
		return s.URL + "/authorize?client_id=" + phoneID + "&response_type=code&scope=" + url.QueryEscape("openid qr:approve") +
			"&redirect_uri=" + url.QueryEscape("http://127.0.0.1:4321/callback") + "&code_challenge=" + s256("v") +
			"&code_challenge_method=S256&state=ph"
	}
	pc := newBrowser(t, s)
	signedIn(t, s, pc, "alice")
	resp, _ := pc.get(phone() + "&prompt=none")
	if v := clientAnswer(t, resp); v.Get("error") != "interaction_required" || v.Get("state") != "ph" {
		t.Fatalf("phone app from a PC session: %v", v)
	}
	resp, page := pc.get(phone())
	wantLoginPage(t, resp, page)

	handset := newBrowser(t, s)
	resp, page = handset.get("/login?return=%2Fdevice")
	handset.signIn(resp, page, "alice")
	resp, _ = handset.get(phone() + "&prompt=none")
	if v := clientAnswer(t, resp); v.Get("code") == "" {
		t.Fatalf("phone app from the phone browser's session: %v", v)
	}
}

// A QR login on a PC leaves no session there: the next relying party
// asks again, and the browser cannot approve QR logins.
func TestQRLoginOnAPCLeavesNoSession(t *testing.T) {
	s := newServer(t)
	phone := s.phoneToken(t, "alice")
	b := newBrowser(t, s)
	a := newAuthz(s, rpID)
	resp, page := b.get(a.url())
	wantLoginPage(t, resp, page)
	m := qrImgRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no QR on the login page")
	}
	ticket := s.scan(t, phone, decodeQR(t, html.UnescapeString(m[1])))
	if status, body := s.phone(t, phone, "/qr/confirm", map[string]string{"ticket": ticket}); status != 200 {
		t.Fatalf("confirm: %d %v", status, body)
	}
	resp, _ = b.get(resp.Request.URL.String()) // reload: continues to the client
	a.idToken(t, a.code(t, resp))
	if b.sessionCookie() != "" {
		t.Fatal("a QR login set a session cookie on the PC")
	}
	other := newAuthz(s, otherID)
	resp, _ = b.get(other.url(param("prompt", "none")))
	other.wantError(t, resp, "login_required")
	if resp, _ := b.get(s.start(t, nil).VerificationURIComplete); resp.Request.URL.Path != "/login" {
		t.Fatalf("after a QR login the PC's browser can scan: at %s", resp.Request.URL)
	}
}

// The session cookie's Max-Age is the session's lifetime in the store:
// one second before it the session signs in, at it nothing does.
func TestSessionLifetimeIsTheCookiesMaxAge(t *testing.T) {
	s := newServer(t, func(c *idp.Config) { c.SessionTTL = time.Hour })
	b := newBrowser(t, s)
	a := newAuthz(s, rpID)
	resp, page := b.get(a.url())
	wantLoginPage(t, resp, page)
	csrf := csrfRe.FindStringSubmatch(page)
	noFollow := *b.hc
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.PostForm(s.URL+"/login", url.Values{"id": {resp.Request.URL.Query().Get("id")}, "csrf": {csrf[1]},
		"username": {"alice"}, "password": {"alice-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "qrlogin_sid" {
			cookie = c
		}
	}
	if cookie == nil || cookie.MaxAge != 3600 || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" {
		t.Fatalf("session cookie %+v, want Max-Age 3600, HttpOnly, SameSite=Lax, Path=/", cookie)
	}
	s.clock.Advance(time.Hour - time.Second)
	resp, _ = b.get(a.url(param("prompt", "none")))
	a.code(t, resp)
	s.clock.Advance(time.Second)
	resp, _ = b.get(a.url(param("prompt", "none")))
	a.wantError(t, resp, "login_required")
}

// Each user keeps at most MaxSessionsPerUser sessions: a new sign-in ends
// the oldest, whose browser is asked again.
func TestSessionsPerUserAreCapped(t *testing.T) {
	s := newServer(t, func(c *idp.Config) { c.MaxSessionsPerUser = 3 })
	var browsers []*browser
	for range 4 {
		b := newBrowser(t, s)
		signedIn(t, s, b, "alice")
		browsers = append(browsers, b)
		s.clock.Advance(time.Second)
	}
	list, err := s.store.BrowserSessions(context.Background(), s.users["alice"], s.clock.Now())
	if err != nil || len(list) != 3 {
		t.Fatalf("%d sessions stored (%v), want 3", len(list), err)
	}
	a := newAuthz(s, otherID)
	resp, _ := browsers[0].get(a.url(param("prompt", "none")))
	a.wantError(t, resp, "login_required")
	resp, _ = browsers[3].get(a.url(param("prompt", "none")))
	a.code(t, resp)
}

// The hosted pages' own cookie (CSRF token, QR bindings) is refused by the
// server once older than it told the browser to keep it: gorilla's codec
// kept accepting it for 30 days while its Max-Age said 12 hours. The test
// re-signs the browser's real cookie with a timestamp 13 hours old, as a
// copy taken then would be.
func TestPageCookieIsRefusedPastItsMaxAge(t *testing.T) {
	s := newServer(t)
	hashKey, err := s.store.Secret(context.Background(), "cookie-hash-key", nil)
	if err != nil {
		t.Fatal(err)
	}
	login := func(b *browser, csrf string) int {
		resp, _ := b.post("/login", url.Values{"return": {"/device"}, "csrf": {csrf}, "username": {"alice"}, "password": {"alice-password"}})
		return resp.StatusCode
	}
	b := newBrowser(t, s)
	_, page := b.get("/login?return=%2Fdevice")
	csrf := csrfRe.FindStringSubmatch(page)[1]
	u, _ := url.Parse(s.URL)
	var value string
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == "qrlogin_session" {
			value = c.Value
		}
	}
	raw, err := base64.URLEncoding.DecodeString(value)
	parts := bytes.SplitN(raw, []byte("|"), 3)
	if err != nil || len(parts) != 3 {
		t.Fatalf("page cookie %q is not securecookie's date|value|mac", value)
	}
	resign := func(age time.Duration) string {
		signed := fmt.Appendf(nil, "%d|%s", time.Now().Add(-age).Unix(), parts[1])
		mac := hmac.New(sha256.New, hashKey)
		mac.Write(append([]byte("qrlogin_session|"), signed...))
		return base64.URLEncoding.EncodeToString(append(append(signed, '|'), mac.Sum(nil)...))
	}
	withPageCookie := func(v string) *browser {
		nb := newBrowser(t, s)
		nb.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "qrlogin_session", Value: v, Path: "/"}})
		return nb
	}
	if st := login(withPageCookie(resign(11*time.Hour)), csrf); st != 200 {
		t.Fatalf("an 11-hour-old page cookie was refused: %d (the re-signing is wrong)", st)
	}
	if st := login(withPageCookie(resign(13*time.Hour)), csrf); st != http.StatusForbidden {
		t.Fatalf("a 13-hour-old page cookie (Max-Age 12h) was accepted: %d", st)
	}
}

// A session whose user was disabled or deleted signs nobody in, even if
// the session itself is still in the store (the disable that normally
// deletes it raced, or the user was deleted directly in the store).
func TestSessionOfADisabledOrDeletedUserSignsNobodyIn(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	alice, bob := newBrowser(t, s), newBrowser(t, s)
	signedIn(t, s, alice, "alice")
	signedIn(t, s, bob, "bob")
	disabled := true
	if _, err := s.store.UpdateUser(ctx, s.users["alice"], storage.UserUpdate{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	if err := s.store.DeleteUser(ctx, s.users["bob"]); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*browser{alice, bob} {
		a := newAuthz(s, otherID)
		resp, _ := b.get(a.url(param("prompt", "none")))
		a.wantError(t, resp, "login_required")
	}
}
