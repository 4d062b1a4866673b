package idp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage"
)

// setSigningAlg registers alg as the relying party's
// id_token_signed_response_alg ("" for none); before the server's first
// request for it, so no cached copy hides the change.
func (s *testServer) setSigningAlg(t *testing.T, alg string) {
	t.Helper()
	if _, err := s.store.UpdateClient(t.Context(), rpID, storage.ClientUpdate{IDTokenSignedResponseAlg: &alg}); err != nil {
		t.Fatal(err)
	}
}

// qrLoginTokens runs a complete QR login for the relying party and returns
// its token response.
func (s *testServer) qrLoginTokens(t *testing.T, phone string) *oauth2.Token {
	t.Helper()
	r := s.start(t, nil)
	ticket := s.scan(t, phone, r.VerificationURIComplete)
	if status, body := s.phone(t, phone, "/qr/confirm", map[string]string{"ticket": ticket}); status != 200 {
		t.Fatalf("confirm: %d %v", status, body)
	}
	status, body := s.form(t, "/oauth/token", rpID, rpSecret, map[string][]string{
		"grant_type": {idp.GrantQR}, "device_code": {r.DeviceCode}})
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		IDToken      string `json:"id_token"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil || tok.IDToken == "" {
		t.Fatalf("redeem: %d %s", status, body)
	}
	return (&oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}).WithExtra(map[string]any{"id_token": tok.IDToken})
}

// headerAlg is the alg of a JWS's protected header.
func headerAlg(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSigned(raw, idp.SigningAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		t.Fatalf("not a JWS of a known algorithm: %v", err)
	}
	return jws.Signatures[0].Protected.Algorithm
}

// Issue 9, part 3: a client's ID tokens are signed with the algorithm it
// registered (id_token_signed_response_alg, OIDC Dynamic Client
// Registration §2), RS256 when it registered none (OIDC Core §3.1.3.7) or
// the server's --signing-alg; by the QR grant, the code exchange and the
// refresh alike; every algorithm's key is in /keys, and discovery lists
// exactly those. go-oidc verifies each token with the algorithms
// discovery lists, and the access token against at_hash.
func TestIDTokensAreSignedWithTheClientsAlgorithm(t *testing.T) {
	for _, c := range []struct {
		name, registered, serverDefault, want string
	}{
		{"a client that registered none gets RS256", "", "", "RS256"},
		{"a client registered for RS256", "RS256", "", "RS256"},
		{"a client registered for ES256", "ES256", "", "ES256"},
		{"a client registered for EdDSA", "EdDSA", "", "EdDSA"},
		{"a client that registered none gets the server's --signing-alg", "", "ES256", "ES256"},
		{"a client's own algorithm wins over --signing-alg", "RS256", "EdDSA", "RS256"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, signWith(c.serverDefault))
			s.setSigningAlg(t, c.registered)
			phone := s.phoneToken(t, "alice")
			ctx := context.Background()
			provider, err := gooidc.NewProvider(ctx, s.URL)
			if err != nil {
				t.Fatal(err)
			}
			verifier := provider.Verifier(&gooidc.Config{ClientID: rpID, Now: s.clock.Now})
			check := func(how string, tok *oauth2.Token) {
				t.Helper()
				raw, _ := tok.Extra("id_token").(string)
				if got := headerAlg(t, raw); got != c.want {
					t.Errorf("%s: ID token signed with %s, want %s", how, got, c.want)
				}
				idt, err := verifier.Verify(ctx, raw)
				if err != nil {
					t.Fatalf("%s: go-oidc refuses the ID token: %v", how, err)
				}
				if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
					t.Errorf("%s: at_hash: %v", how, err)
				}
			}
			qr := s.qrLoginTokens(t, phone)
			check("QR grant", qr)
			cfg := s.rpConfig(rpID, rpSecret)
			refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: qr.RefreshToken}).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			check("refresh", refreshed)
			code := s.codeFlowToken(t, rpID, rpSecret, "https://shop.example/cb", "bob", []string{"openid", "profile"})
			check("code exchange", code)
		})
	}
}

// Every algorithm has a key in /keys, and discovery's
// id_token_signing_alg_values_supported lists what /keys publishes.
func TestKeysAndDiscoveryPublishEveryAlgorithm(t *testing.T) {
	s := newServer(t)
	var set jose.JSONWebKeySet
	getJSON(t, s.URL+"/keys", &set)
	var algs []string
	for _, k := range set.Keys {
		if k.Use != "sig" || !k.IsPublic() {
			t.Errorf("key %s: use %q, public %v", k.KeyID, k.Use, k.IsPublic())
		}
		algs = append(algs, k.Algorithm)
	}
	slices.Sort(algs)
	if !slices.Equal(algs, []string{"ES256", "EdDSA", "RS256"}) {
		t.Fatalf("/keys publishes %v, want one key each of ES256, EdDSA, RS256", algs)
	}
	var d struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	getJSON(t, s.URL+"/.well-known/openid-configuration", &d)
	if !slices.Equal(d.Algs, []string{"RS256", "ES256", "EdDSA"}) {
		t.Fatalf("id_token_signing_alg_values_supported %v, want [RS256 ES256 EdDSA]", d.Algs)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(v) != nil {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
}
