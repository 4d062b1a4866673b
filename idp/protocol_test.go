package idp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/client/rs"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage"
)

// jwtRPID is a confidential relying party that gets JWT access tokens.
const jwtRPID = "jwt-rp"

// addJWTClient registers jwtRPID (secret rpSecret) on s.
func addJWTClient(t *testing.T, s *testServer) {
	t.Helper()
	err := s.store.CreateClient(context.Background(), &storage.Client{ID: jwtRPID, Name: "JWT Shop",
		SecretHash: storage.Hash(rpSecret), Type: storage.ClientConfidential, RedirectURIs: []string{"https://shop.example/cb"},
		GrantTypes: allGrants, AccessTokenType: "jwt", CreatedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
}

// call sends a request and returns status, headers and the body as JSON.
func call(t *testing.T, method, u string, hdr http.Header, body url.Values) (int, http.Header, map[string]any) {
	t.Helper()
	var req *http.Request
	if body != nil {
		req, _ = http.NewRequest(method, u, strings.NewReader(body.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest(method, u, nil)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		m = decode(t, raw)
	}
	return resp.StatusCode, resp.Header, m
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

func basic(id, secret string) http.Header {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return req.Header
}

// RFC 6750 §3.1: /userinfo answers a token that is unknown, expired or
// revoked with 401 invalid_token and a Bearer challenge naming the error,
// so a client refreshes instead of failing; a request with no token gets a
// bare challenge. Both access token formats, and go-oidc as the client.
func TestUserinfoRefusesDeadTokensWith401InvalidToken(t *testing.T) {
	for _, client := range []string{rpID, jwtRPID} {
		t.Run(client, func(t *testing.T) {
			s := newServer(t)
			addJWTClient(t, s)
			ctx := context.Background()
			provider, err := gooidc.NewProvider(ctx, s.URL)
			if err != nil {
				t.Fatal(err)
			}
			newToken := func() *oauth2.Token {
				return s.codeFlowToken(t, client, rpSecret, "https://shop.example/cb", "alice", []string{"openid", "email", "offline_access"})
			}
			refused := func(t *testing.T, token string) {
				t.Helper()
				status, hdr, body := call(t, "GET", s.URL+"/userinfo", bearer(token), nil)
				challenge := hdr.Get("WWW-Authenticate")
				if status != 401 || body["error"] != "invalid_token" || !strings.HasPrefix(challenge, "Bearer ") ||
					!strings.Contains(challenge, `error="invalid_token"`) || !strings.Contains(challenge, `error_description="`) {
					t.Fatalf("%d %q %v", status, challenge, body)
				}
				if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})); err == nil || !strings.HasPrefix(err.Error(), "401") {
					t.Fatalf("go-oidc UserInfo: %v, want a 401", err)
				}
			}

			live := newToken()
			info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(live))
			if err != nil || info.Subject != s.users["alice"] || info.Email != "alice@example.com" {
				t.Fatalf("live token: %v %+v", err, info)
			}
			t.Run("an unknown token", func(t *testing.T) { refused(t, "not-a-token") })
			t.Run("a revoked token", func(t *testing.T) {
				tok := newToken()
				if err := revoke(t, s, client, tok.AccessToken, "access_token"); err != nil {
					t.Fatal(err)
				}
				refused(t, tok.AccessToken)
			})
			t.Run("no token: a bare challenge", func(t *testing.T) {
				for _, method := range []string{"GET", "POST"} {
					var form url.Values
					if method == "POST" {
						form = url.Values{}
					}
					status, hdr, _ := call(t, method, s.URL+"/userinfo", nil, form)
					if status != 401 || hdr.Get("WWW-Authenticate") != `Bearer realm="qrlogin"` {
						t.Fatalf("%s: %d %q", method, status, hdr.Get("WWW-Authenticate"))
					}
				}
			})
			t.Run("the token in a POST body works too", func(t *testing.T) {
				tok := newToken()
				status, _, body := call(t, "POST", s.URL+"/userinfo", nil, url.Values{"access_token": {tok.AccessToken}})
				if status != 200 || body["sub"] != s.users["alice"] {
					t.Fatalf("%d %v", status, body)
				}
			})
			t.Run("an expired token", func(t *testing.T) {
				tok := newToken()
				s.clock.Advance(16 * time.Minute)
				refused(t, tok.AccessToken)
			})
		})
	}
}

// revoke revokes a token at /revoke as client (secret rpSecret), with
// zitadel's rp.
func revoke(t *testing.T, s *testServer, client, token, hint string) error {
	t.Helper()
	party, err := rp.NewRelyingPartyOIDC(context.Background(), s.URL, client, rpSecret, "https://shop.example/cb", []string{"openid"})
	if err != nil {
		t.Fatal(err)
	}
	return rp.RevokeToken(context.Background(), party, token, hint)
}

// RFC 7662 §2.1, RFC 7009 §2.1 and RFC 6749 §5.2: a wrong, missing or
// unknown client credential at introspection and revocation is 401
// invalid_client with a challenge, whichever way the secret was sent.
func TestIntrospectionAndRevocationRefuseBadClientsWith401(t *testing.T) {
	s := newServer(t)
	tok := s.codeFlowToken(t, rpID, rpSecret, "https://shop.example/cb", "alice", []string{"openid", "offline_access"})
	for _, path := range []string{"/oauth/introspect", "/revoke"} {
		for _, tc := range []struct {
			name string
			hdr  http.Header
			form url.Values
		}{
			{"a wrong secret in Basic", basic(rpID, "wrong"), nil},
			{"a wrong secret in the form", nil, url.Values{"client_id": {rpID}, "client_secret": {"wrong"}}},
			{"no secret for a confidential client", nil, url.Values{"client_id": {rpID}}},
			{"an unknown client", basic("nobody", "x"), nil},
			{"no client at all", nil, nil},
		} {
			t.Run(path+": "+tc.name, func(t *testing.T) {
				form := url.Values{"token": {tok.AccessToken}}
				for k, v := range tc.form {
					form[k] = v
				}
				status, hdr, body := call(t, "POST", s.URL+path, tc.hdr, form)
				if status != 401 || body["error"] != "invalid_client" || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic ") {
					t.Fatalf("%d %q %v", status, hdr.Get("WWW-Authenticate"), body)
				}
			})
		}
	}
	t.Run("a public client may not introspect", func(t *testing.T) {
		status, hdr, body := call(t, "POST", s.URL+"/oauth/introspect", nil, url.Values{"client_id": {publicRPID}, "token": {tok.AccessToken}})
		if status != 401 || body["error"] != "invalid_client" || hdr.Get("WWW-Authenticate") == "" {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("zitadel's resource server client with a wrong secret is refused", func(t *testing.T) {
		res, err := rs.NewResourceServerClientCredentials(context.Background(), s.URL, rpID, "wrong")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rs.Introspect[*oidc.IntrospectionResponse](context.Background(), res, tok.AccessToken); err == nil {
			t.Fatal("introspection with a wrong secret succeeded")
		}
	})
	t.Run("client_secret_post is advertised and accepted at introspection", func(t *testing.T) {
		_, _, d := call(t, "GET", s.URL+"/.well-known/openid-configuration", nil, nil)
		if !containsAny(d["introspection_endpoint_auth_methods_supported"], "client_secret_post") {
			t.Fatalf("introspection auth methods: %v", d["introspection_endpoint_auth_methods_supported"])
		}
		status, _, body := call(t, "POST", s.URL+"/oauth/introspect", nil,
			url.Values{"client_id": {rpID}, "client_secret": {rpSecret}, "token": {tok.AccessToken}})
		if status != 200 || body["active"] != true || body["sub"] != s.users["alice"] || body["client_id"] != rpID {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("zitadel's resource server client introspects with Basic", func(t *testing.T) {
		res, err := rs.NewResourceServerClientCredentials(context.Background(), s.URL, rpID, rpSecret)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rs.Introspect[*oidc.IntrospectionResponse](context.Background(), res, tok.AccessToken)
		if err != nil || !resp.Active || resp.Subject != s.users["alice"] {
			t.Fatalf("%v %+v", err, resp)
		}
	})
	t.Run("another client's token is not revoked, and that is not a credential failure", func(t *testing.T) {
		status, _, body := call(t, "POST", s.URL+"/revoke", basic(otherID, otherSec), url.Values{"token": {tok.RefreshToken}})
		if status != 400 || body["error"] != "unauthorized_client" {
			t.Fatalf("%d %v", status, body)
		}
		if status, _, body := call(t, "GET", s.URL+"/userinfo", bearer(tok.AccessToken), nil); status != 200 {
			t.Fatalf("the token died: %d %v", status, body)
		}
	})
	t.Run("another client's refresh token is refused every time, not one time in seventeen", func(t *testing.T) {
		// zitadel tried a declined refresh token as an opaque access
		// token; its unauthenticated decryption makes "id:subject" of about
		// one random string in seventeen, which read as a successful
		// revocation of nothing.
		for i := range 200 {
			raw := storage.NewSecret(32)
			err := s.store.CreateRefreshToken(context.Background(), &storage.RefreshToken{ID: storage.NewSecret(16),
				TokenHash: storage.Hash(raw), SessionID: storage.NewSecret(16), ClientID: rpID, Subject: s.users["alice"],
				Audience: []string{rpID}, CreatedAt: time.Now().UTC(), ExpiresAt: time.Now().UTC().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if status, _, body := call(t, "POST", s.URL+"/revoke", basic(otherID, otherSec), url.Values{"token": {raw}}); status != 400 {
				t.Fatalf("token %d: %d %v", i, status, body)
			}
		}
	})
	t.Run("client_secret_post works at revocation", func(t *testing.T) {
		status, _, body := call(t, "POST", s.URL+"/revoke", nil,
			url.Values{"client_id": {rpID}, "client_secret": {rpSecret}, "token": {tok.RefreshToken}})
		if status != 200 {
			t.Fatalf("%d %v", status, body)
		}
		if status, _, _ := call(t, "GET", s.URL+"/userinfo", bearer(tok.AccessToken), nil); status != 401 {
			t.Fatalf("revoking the refresh token left its access token alive: %d", status)
		}
	})
}

func containsAny(list any, want string) bool {
	l, _ := list.([]any)
	for _, v := range l {
		if v == want {
			return true
		}
	}
	return false
}

// A request without any token is told a token is needed by a bare
// challenge (RFC 6750 §3.1: no error code when the request lacks any
// authentication information), at /userinfo and at every route of the
// phone and account APIs alike; a token that is there and bad is
// invalid_token in the challenge. The phone API's scan and decision used
// to put error="invalid_token" in the challenge of a request with no token.
func TestNoTokenIsABareChallengeEverywhere(t *testing.T) {
	s := newServer(t)
	for _, r := range []struct{ method, path string }{
		{"GET", "/userinfo"}, {"POST", "/userinfo"},
		{"POST", "/qr/scan"}, {"POST", "/qr/confirm"}, {"POST", "/qr/deny"},
		{"GET", "/account/notifications"}, {"GET", "/account/sessions"},
		{"POST", "/account/notifications/some-id/revoke"}, {"DELETE", "/account/sessions/some-id"},
		{"POST", "/account/password"},
	} {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			for _, tc := range []struct {
				name      string
				hdr       http.Header
				wantError bool
			}{
				{"no Authorization header", nil, false},
				{"another scheme", http.Header{"Authorization": {"Basic Zm9vOmJhcg=="}}, false},
				{"a bad bearer token", bearer("not-a-token"), true},
			} {
				status, hdr, body := call(t, r.method, s.URL+r.path, tc.hdr, nil)
				challenge := hdr.Get("WWW-Authenticate")
				if status != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer ") ||
					strings.Contains(challenge, "error=") != tc.wantError {
					t.Errorf("%s: %d %q %v; want 401 and a Bearer challenge %s", tc.name, status, challenge, body,
						map[bool]string{false: "without error", true: `with error="invalid_token"`}[tc.wantError])
				}
			}
		})
	}
}

// RFC 6749 §3.2: the token endpoint takes POST only — zitadel's catch-all
// route issued tokens for GET — and §5.1: every answer of it, success or
// error, of every grant, says Cache-Control: no-store and Pragma: no-cache.
func TestTokenEndpointIsPostOnlyAndNeverCached(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	cfg := &oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, RedirectURL: "https://shop.example/cb",
		Scopes: []string{"openid", "offline_access"}, Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/authorize",
			TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	code := s.authorize(t, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "alice")
	codeForm := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cfg.RedirectURL},
		"code_verifier": {verifier}}

	for _, method := range []string{"GET", "PUT", "DELETE", "PATCH"} {
		t.Run(method+" is 405 and issues nothing", func(t *testing.T) {
			u := s.URL + "/oauth/token?" + codeForm.Encode()
			status, hdr, body := call(t, method, u, basic(rpID, rpSecret), nil)
			if status != 405 || hdr.Get("Allow") != "POST" || body["access_token"] != nil || hdr.Get("Cache-Control") != "no-store" {
				t.Fatalf("%d Allow=%q %v", status, hdr.Get("Allow"), body)
			}
		})
	}
	noStore := func(t *testing.T, what string, hdr http.Header) {
		t.Helper()
		if hdr.Get("Cache-Control") != "no-store" || hdr.Get("Pragma") != "no-cache" {
			t.Errorf("%s: Cache-Control %q, Pragma %q", what, hdr.Get("Cache-Control"), hdr.Get("Pragma"))
		}
	}
	// The code survived the GET: it is redeemed once, here.
	status, hdr, tok := call(t, "POST", s.URL+"/oauth/token", basic(rpID, rpSecret), codeForm)
	if status != 200 || tok["access_token"] == nil {
		t.Fatalf("code exchange after the refused GET: %d %v", status, tok)
	}
	noStore(t, "authorization_code", hdr)
	status, hdr, body := call(t, "POST", s.URL+"/oauth/token", basic(rpID, rpSecret),
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
	if status != 200 {
		t.Errorf("refresh: %d %v", status, body)
	}
	noStore(t, "refresh_token", hdr)
	status, hdr, body = call(t, "POST", s.URL+"/oauth/token", basic(rpID, rpSecret), codeForm)
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("second redemption: %d %v", status, body)
	}
	noStore(t, "authorization_code replayed", hdr)
	status, hdr, body = call(t, "POST", s.URL+"/oauth/token", basic(rpID, rpSecret),
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}})
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("unknown refresh token: %d %v", status, body)
	}
	noStore(t, "refresh_token refused", hdr)

	for _, grant := range []string{idp.GrantQR, idp.GrantDeviceCode} {
		r := s.start(t, nil)
		status, hdr, body = call(t, "POST", s.URL+"/oauth/token", basic(rpID, rpSecret), url.Values{"grant_type": {grant}, "device_code": {r.DeviceCode}})
		if status != 400 || body["error"] != "authorization_pending" {
			t.Errorf("%s pending: %d %v", grant, status, body)
		}
		noStore(t, grant+" pending", hdr)
		ticket := s.scan(t, alice, r.VerificationURIComplete)
		s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket})
		status, hdr, body = call(t, "POST", s.URL+"/oauth/token", basic(rpID, rpSecret), url.Values{"grant_type": {grant}, "device_code": {r.DeviceCode}})
		if status != 200 || body["access_token"] == nil {
			t.Errorf("%s: %d %v", grant, status, body)
		}
		noStore(t, grant, hdr)
	}
	for _, tc := range []struct {
		name string
		hdr  http.Header
		form url.Values
		want string
		code int
	}{
		{"a wrong secret", basic(rpID, "wrong"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, "invalid_client", 401},
		{"an unsupported grant", basic(rpID, rpSecret), url.Values{"grant_type": {"client_credentials"}}, "unsupported_grant_type", 400},
		{"jwt-bearer, which zitadel would try", nil, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"x.y.z"}}, "unsupported_grant_type", 400},
		{"no grant", basic(rpID, rpSecret), url.Values{}, "invalid_request", 400},
	} {
		status, hdr, body := call(t, "POST", s.URL+"/oauth/token", tc.hdr, tc.form)
		if status != tc.code || body["error"] != tc.want {
			t.Errorf("%s: %d %v, want %d %s", tc.name, status, body, tc.code, tc.want)
		}
		noStore(t, tc.name, hdr)
	}
}

// RFC 6749 §4.1.2: a second redemption of an authorization code is
// refused, and every token the first one obtained — the access token and
// the refresh token's whole family, also one refreshed meanwhile — is
// revoked. x/oauth2 as the client.
func TestCodeReplayRevokesTheTokensIssuedFromIt(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	cfg := &oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, RedirectURL: "https://shop.example/cb",
		Scopes: []string{"openid", "offline_access"}, Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/authorize",
			TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	code := s.authorize(t, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "alice")
	first, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	// Another sign-in of the same user and client is not touched.
	other := s.codeFlowToken(t, rpID, rpSecret, "https://shop.example/cb", "alice", []string{"openid", "offline_access"})

	_, err = cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("replay: %v, want invalid_grant", err)
	}
	for _, tok := range []string{first.AccessToken, refreshed.AccessToken} {
		if status, _, body := call(t, "GET", s.URL+"/userinfo", bearer(tok), nil); status != 401 {
			t.Fatalf("an access token of the replayed code still works: %d %v", status, body)
		}
		status, _, body := call(t, "POST", s.URL+"/oauth/introspect", basic(rpID, rpSecret), url.Values{"token": {tok}})
		if status != 200 || body["active"] != false {
			t.Fatalf("introspection of a revoked token: %d %v", status, body)
		}
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err == nil {
		t.Fatal("the refresh token of the replayed code still refreshes")
	}
	if status, _, body := call(t, "GET", s.URL+"/userinfo", bearer(other.AccessToken), nil); status != 200 {
		t.Fatalf("another sign-in was revoked too: %d %v", status, body)
	}
}

// golang.org/x/oauth2's Config.DeviceAuth sends only client_id to the
// device authorization endpoint (golang/oauth2#685). RFC 8628 §3.1 wants a
// confidential client authenticated there, and qrlogin keeps it so: the
// plain call is refused with 401 invalid_client; with
// oauth2.SetAuthURLParam("client_secret", …) the stock client completes a
// QR login; a public client's plain call works.
func TestStockXOAuth2DeviceAuthNeedsTheSecretForAConfidentialClient(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	phone := s.phoneToken(t, "alice")
	cfg := s.rpConfig(rpID, rpSecret)

	_, err := cfg.DeviceAuth(ctx)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != http.StatusUnauthorized || re.ErrorCode != "invalid_client" ||
		re.Response.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("plain DeviceAuth of a confidential client: %v, want 401 invalid_client with a challenge", err)
	}

	complete := func(t *testing.T, cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) {
		t.Helper()
		da, err := cfg.DeviceAuth(ctx, opts...)
		if err != nil {
			t.Fatalf("DeviceAuth: %v", err)
		}
		ticket := s.scan(t, phone, da.VerificationURIComplete)
		if status, body := s.phone(t, phone, "/qr/confirm", map[string]string{"ticket": ticket}); status != 200 {
			t.Fatalf("confirm: %d %v", status, body)
		}
		tok, err := cfg.DeviceAccessToken(ctx, da)
		if err != nil || tok.Extra("id_token") == nil {
			t.Fatalf("DeviceAccessToken: %v", err)
		}
	}
	t.Run("the workaround completes", func(t *testing.T) {
		complete(t, cfg, oauth2.SetAuthURLParam("client_secret", rpSecret))
	})
	t.Run("a public client needs none", func(t *testing.T) {
		pub := &oauth2.Config{ClientID: publicRPID, Scopes: []string{"openid"}, Endpoint: oauth2.Endpoint{
			DeviceAuthURL: s.URL + "/qr/authorize", TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
		complete(t, pub)
	})
}
