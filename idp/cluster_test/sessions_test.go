package clustertest

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// browserAt is a browser whose cookies every instance shares (one host, as
// one site behind a load balancer), following no redirect by itself.
type browserAt struct {
	t  *testing.T
	hc *http.Client
}

func newBrowserAt(t *testing.T) *browserAt {
	jar, _ := cookiejar.New(nil)
	return &browserAt{t: t, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browserAt) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browserAt) get(u string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return b.do(req)
}

// codeRequest is the relying party's authorization request at in.
func codeRequest(in *instance, verifier string, extra ...oauth2.AuthCodeOption) (*oauth2.Config, string) {
	cfg := &oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, RedirectURL: rpRedirect, Scopes: rpScopes,
		Endpoint: oauth2.Endpoint{AuthURL: in.url + "/authorize", TokenURL: in.url + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "n-sso")}, extra...)
	return cfg, cfg.AuthCodeURL("st-sso", opts...)
}

// redirect GETs u and returns where the answer redirects to, failing
// unless it is a redirect.
func (b *browserAt) redirect(what, u string) *url.URL {
	b.t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return redirectedTo(b.t, what, req, b)
}

// redirectedTo does req in b and returns the Location of its redirect
// answer, failing otherwise.
func redirectedTo(t *testing.T, what string, req *http.Request, b *browserAt) *url.URL {
	t.Helper()
	resp, body := b.do(req)
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("%s: want a redirect, got %d: %.300s", what, resp.StatusCode, body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// A browser session lives in the database: signed in with a password on
// instance A, the browser is signed in on B (prompt=none answers with a
// code, issued at B's callback), and still after B restarts; signed out on
// A (end_session with its ID token), it is signed out on B too.
func TestBrowserSessionIsSharedByInstances(t *testing.T) {
	t.Parallel()
	c := newCluster(t, nil)
	a, b := c.start("a"), c.start("b")
	br := newBrowserAt(t)

	verifier := oauth2.GenerateVerifier()
	_, authURL := codeRequest(a, verifier)
	login := br.redirect("authorize at a", authURL)
	resp, page := br.get(a.local(login.String()))
	m := csrfRe.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("login page at a: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", a.url+"/login", strings.NewReader(url.Values{"id": {login.Query().Get("id")},
		"csrf": {m[1]}, "username": {user}, "password": {userPass}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	callback := redirectedTo(t, "password sign-in at a", req, br)
	br.redirect("callback at a", a.local(callback.String()))

	var idToken string
	var last *instance
	for _, in := range []*instance{b, nil} {
		if in == nil { // b restarts: a new process on the same database
			b.stop()
			in = c.start("b2")
		}
		verifier := oauth2.GenerateVerifier()
		cfg, authURL := codeRequest(in, verifier, oauth2.SetAuthURLParam("prompt", "none"))
		callback := br.redirect("prompt=none at "+in.name, authURL)
		if callback.Path != "/authorize/callback" {
			t.Fatalf("prompt=none at %s went to %s, not straight to the callback", in.name, callback)
		}
		back := br.redirect("callback at "+in.name, in.local(callback.String()))
		if back.Query().Get("code") == "" || back.Query().Get("state") != "st-sso" {
			t.Fatalf("%s: the client got %s", in.name, back)
		}
		tok, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange at %s: %v", in.name, err)
		}
		idToken, last = tok.Extra("id_token").(string), in
		claims := verifyIDToken(t, in, idToken, "n-sso")
		if claims.Subject != c.userID || claims.AuthTime == 0 {
			t.Fatalf("%s: sub %q auth_time %v", in.name, claims.Subject, claims.AuthTime)
		}
	}

	bye := br.redirect("end_session at a", a.url+"/end_session?"+url.Values{"id_token_hint": {idToken},
		"post_logout_redirect_uri": {rpRedirect}, "state": {"bye"}}.Encode())
	if bye.String() != rpRedirect+"?state=bye" {
		t.Fatalf("end_session at a went to %s", bye)
	}
	_, authURL = codeRequest(last, oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("prompt", "none"))
	back := br.redirect("prompt=none at "+last.name+" after the logout", authURL)
	if back.Query().Get("error") != "login_required" {
		t.Fatalf("after signing out at a, b answered %s", back)
	}
}
