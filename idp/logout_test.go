package idp_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// signedInToken signs the browser in with a password at relying party rp
// and returns the raw tokens, ID token included.
func signedInToken(t *testing.T, s *testServer, b *browser, user string) *oauth2.Token {
	t.Helper()
	a := newAuthz(s, rpID)
	a.cfg.Scopes = []string{"openid", "offline_access"}
	resp, page := b.get(a.url())
	wantLoginPage(t, resp, page)
	code := a.code(t, b.signIn(resp, page, user))
	tok, err := a.cfg.Exchange(context.Background(), code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func idTokenOf(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token")
	}
	return raw
}

// wantSignedIn and wantSignedOut probe the browser's session with
// prompt=none at the other relying party.
func wantSignedIn(t *testing.T, s *testServer, b *browser) {
	t.Helper()
	a := newAuthz(s, otherID)
	resp, _ := b.get(a.url(param("prompt", "none")))
	a.code(t, resp)
}

func wantSignedOut(t *testing.T, s *testServer, b *browser) {
	t.Helper()
	a := newAuthz(s, otherID)
	resp, _ := b.get(a.url(param("prompt", "none")))
	a.wantError(t, resp, "login_required")
}

// wantLeftTo checks a redirect to exactly u.
func wantLeftTo(t *testing.T, resp *http.Response, u string) {
	t.Helper()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != u {
		t.Fatalf("want a redirect to %s, got %d to %q (at %s)", u, resp.StatusCode, resp.Header.Get("Location"), resp.Request.URL)
	}
}

func endSessionURL(s *testServer, params map[string]string) string {
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	return s.URL + "/end_session?" + q.Encode()
}

// RP-Initiated Logout 1.0 §2: an id_token_hint naming the session's user
// ends the session without asking, then the browser goes to the registered
// post_logout_redirect_uri with state; the session is gone on every
// request after, and its cookie is cleared.
func TestEndSessionWithTheSessionsIDTokenSignsOutAtOnce(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		b := newBrowser(t, s)
		tok := signedInToken(t, s, b, "alice")
		wantSignedIn(t, s, b)
		resp, _ := b.get(endSessionURL(s, map[string]string{"id_token_hint": idTokenOf(t, tok),
			"post_logout_redirect_uri": "https://shop.example/bye", "state": "bye-1"}))
		wantLeftTo(t, resp, "https://shop.example/bye?state=bye-1")
		if b.sessionCookie() != "" {
			t.Fatal("the session cookie was not cleared")
		}
		list, err := s.store.BrowserSessions(context.Background(), s.users["alice"], s.clock.Now())
		if err != nil || len(list) != 0 {
			t.Fatalf("sessions left in the store: %d (%v)", len(list), err)
		}
		wantSignedOut(t, s, b)
	})
}

// Without a hint naming the session's user, the user confirms on a
// CSRF-protected page: a link or an image on another site signs nobody
// out. "Stay signed in" keeps the session; "Sign out" ends it.
func TestEndSessionAsksTheUserFirst(t *testing.T) {
	s := newServer(t)
	b := newBrowser(t, s)
	signedIn(t, s, b, "alice")
	bob := s.codeFlowToken(t, rpID, rpSecret, "https://shop.example/cb", "bob", []string{"openid"})
	params := map[string]string{"client_id": rpID, "post_logout_redirect_uri": "https://shop.example/bye", "state": "s-2"}

	for name, u := range map[string]string{
		"no id_token_hint":               endSessionURL(s, params),
		"a hint naming another user":     endSessionURL(s, map[string]string{"id_token_hint": idTokenOf(t, bob), "post_logout_redirect_uri": "https://shop.example/bye"}),
		"nothing but the endpoint (GET)": s.URL + "/end_session",
	} {
		resp, page := b.get(u)
		if resp.StatusCode != 200 || !strings.Contains(page, `action="/end_session/confirm"`) || !strings.Contains(page, `id="signed-in-as">alice<`) {
			t.Fatalf("%s: want the confirmation page, got %d:\n%s", name, resp.StatusCode, page)
		}
		wantSignedIn(t, s, b)
	}

	_, page := b.get(endSessionURL(s, params))
	csrf := csrfRe.FindStringSubmatch(page)[1]
	form := func(csrf, action string) url.Values {
		f := url.Values{"client_id": {rpID}, "post_logout_redirect_uri": {"https://shop.example/bye"}, "state": {"s-2"}, "action": {action}}
		if csrf != "" {
			f.Set("csrf", csrf)
		}
		return f
	}
	// Another site's form: no token, a wrong one, or the token of the
	// attacker's own browser.
	attacker := newBrowser(t, s)
	signedIn(t, s, attacker, "bob")
	_, apage := attacker.get(endSessionURL(s, params))
	for name, f := range map[string]url.Values{
		"no CSRF token":           form("", "logout"),
		"a wrong token":           form("x", "logout"),
		"another browser's token": form(csrfRe.FindStringSubmatch(apage)[1], "logout"),
	} {
		if resp, _ := b.post("/end_session/confirm", f); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: %d", name, resp.StatusCode)
		}
		wantSignedIn(t, s, b)
	}
	tampered := form(csrf, "logout")
	tampered.Set("post_logout_redirect_uri", "https://evil.example/")
	if resp, _ := b.post("/end_session/confirm", tampered); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("a confirmation with an unregistered post_logout_redirect_uri: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	wantSignedIn(t, s, b)

	resp, _ := b.post("/end_session/confirm", form(csrf, "stay"))
	wantLeftTo(t, resp, "https://shop.example/bye?state=s-2")
	wantSignedIn(t, s, b)
	resp, _ = b.post("/end_session/confirm", form(csrf, "logout"))
	wantLeftTo(t, resp, "https://shop.example/bye?state=s-2")
	wantSignedOut(t, s, b)
}

// post_logout_redirect_uri must be registered on the client the request
// names (exactly): anything else is an HTML 400 page, never a redirect,
// and nobody is signed out. Without one, a local "signed out" page.
func TestEndSessionNeverRedirectsToAnUnregisteredURI(t *testing.T) {
	s := newServer(t)
	b := newBrowser(t, s)
	tok := signedInToken(t, s, b, "alice")
	hint := idTokenOf(t, tok)
	foreign := newServer(t)
	foreignHint := idTokenOf(t, foreign.codeFlowToken(t, rpID, rpSecret, "https://shop.example/cb", "alice", []string{"openid"}))
	for name, p := range map[string]map[string]string{
		"an unregistered URI":                 {"client_id": rpID, "post_logout_redirect_uri": "https://evil.example/bye"},
		"a URI registered on another client":  {"client_id": rpID, "post_logout_redirect_uri": "https://other.example/bye"},
		"a registered URI with a query added": {"client_id": rpID, "post_logout_redirect_uri": "https://shop.example/bye?next=https://evil.example"},
		"a URI without any client":            {"post_logout_redirect_uri": "https://shop.example/bye"},
		"an unknown client":                   {"client_id": "nobody", "post_logout_redirect_uri": "https://shop.example/bye"},
		"a hint for another client":           {"client_id": otherID, "id_token_hint": hint, "post_logout_redirect_uri": "https://other.example/bye"},
		"another provider's hint":             {"id_token_hint": foreignHint, "post_logout_redirect_uri": "https://shop.example/bye"},
		"a malformed hint":                    {"id_token_hint": "a.b.c", "post_logout_redirect_uri": "https://shop.example/bye"},
		"a hint's URI registered elsewhere":   {"id_token_hint": hint, "post_logout_redirect_uri": "https://other.example/bye"},
	} {
		resp, page := b.get(endSessionURL(s, p))
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(page, "You were not signed out") {
			t.Fatalf("%s: %d to %q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
		wantSignedIn(t, s, b)
	}
	resp, page := b.get(endSessionURL(s, map[string]string{"id_token_hint": hint}))
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/end_session" || !strings.Contains(page, "You are signed out.") {
		t.Fatalf("without post_logout_redirect_uri: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	wantSignedOut(t, s, b)
}

// Issue 8, finding 10: a bare GET to /end_session with the phone app's
// ID token revoked every token of the user at that client, the phone
// app's included. Logout ends the browser session and revokes no token:
// the phone app keeps approving, the relying party keeps refreshing.
func TestEndSessionRevokesNoTokens(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		phone := s.codeFlowToken(t, phoneID, "", phoneRedir, "alice", []string{"openid", "qr:approve", "offline_access"})
		b := newBrowser(t, s)
		rp := signedInToken(t, s, b, "alice")

		stranger := newBrowser(t, s) // no session: nothing to confirm
		resp, page := stranger.get(endSessionURL(s, map[string]string{"id_token_hint": idTokenOf(t, phone)}))
		if resp.StatusCode != 200 || !strings.Contains(page, "You are signed out.") {
			t.Fatalf("end_session with the phone app's hint: %d", resp.StatusCode)
		}
		resp, _ = b.get(endSessionURL(s, map[string]string{"id_token_hint": idTokenOf(t, rp)}))
		if resp.StatusCode != 200 {
			t.Fatalf("end_session with the relying party's hint: %d", resp.StatusCode)
		}
		wantSignedOut(t, s, b)

		req, _ := http.NewRequest("GET", s.URL+"/account/notifications", nil)
		req.Header.Set("Authorization", "Bearer "+phone.AccessToken)
		if status, raw := do(t, req); status != 200 {
			t.Fatalf("the phone app's token after logout: %d %s", status, raw)
		}
		s.scan(t, phone.AccessToken, s.start(t, nil).VerificationURIComplete)
		cfg := s.rpConfig(rpID, rpSecret)
		if _, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rp.RefreshToken}).Token(); err != nil {
			t.Fatalf("the relying party's refresh token after logout: %v", err)
		}
	})
}
