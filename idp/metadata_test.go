package idp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/idp/oauth"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// metadataDoc fetches a metadata document as raw JSON and as a map.
func metadataDoc(t *testing.T, s *testServer, path string) ([]byte, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	status, raw := do(t, req)
	if status != 200 {
		t.Fatalf("%s: %d %s", path, status, raw)
	}
	return raw, decode(t, raw)
}

func strs(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// OpenID Connect Discovery §3 and RFC 8414 §2: the metadata lists what a
// client can use and nothing else. The document is golden (run with
// -update after a deliberate change); the checks below say why each
// entry is what it is. RFC 8414's path serves the same document. The
// server's default signing algorithm does not change it: a key of every
// algorithm a client may register is published whatever the default.
func TestMetadataIsTruthful(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			s := newServer(t, func(c *idp.Config) { c.SigningAlg = alg })
			raw, d := metadataDoc(t, s, "/.well-known/openid-configuration")
			raw8414, _ := metadataDoc(t, s, "/.well-known/oauth-authorization-server")
			if !bytes.Equal(raw, raw8414) {
				t.Fatalf("RFC 8414 metadata differs:\n%s\n%s", raw, raw8414)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, bytes.ReplaceAll(raw, []byte(s.URL), []byte("https://issuer.example")), "", "  "); err != nil {
				t.Fatal(err)
			}
			golden := "testdata/metadata.golden"
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestMetadataIsTruthful -update)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("metadata differs from %s:\n%s", golden, pretty.Bytes())
			}

			for _, tc := range []struct{ key, absent string }{
				{"response_types_supported", "id_token"}, {"response_types_supported", "id_token token"},
				{"response_types_supported", "token"}, {"grant_types_supported", "implicit"},
				{"grant_types_supported", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
				{"grant_types_supported", "client_credentials"}, {"scopes_supported", idp.ScopeQRApprove},
				{"scopes_supported", "address"}, {"scopes_supported", "phone"},
			} {
				if slices.Contains(strs(d[tc.key]), tc.absent) {
					t.Errorf("%s lists %q, which no client can use", tc.key, tc.absent)
				}
			}
			for _, tc := range []struct{ key, present string }{
				{"response_modes_supported", "form_post"}, {"response_modes_supported", "query"},
				{"introspection_endpoint_auth_methods_supported", "client_secret_post"},
				{"revocation_endpoint_auth_methods_supported", "client_secret_post"},
				{"grant_types_supported", idp.GrantQR}, {"grant_types_supported", idp.GrantDeviceCode},
			} {
				if !slices.Contains(strs(d[tc.key]), tc.present) {
					t.Errorf("%s lacks %q", tc.key, tc.present)
				}
			}
			if got := strs(d["code_challenge_methods_supported"]); !slices.Equal(got, []string{"S256"}) {
				t.Errorf("code_challenge_methods_supported %v", got)
			}
			// Every algorithm a client may register for its ID tokens
			// (id_token_signed_response_alg), whatever the default.
			if got := strs(d["id_token_signing_alg_values_supported"]); !slices.Equal(got, oauth.SigningAlgs) {
				t.Errorf("id_token_signing_alg_values_supported %v, want %v", got, oauth.SigningAlgs)
			}
			// No JWT client authentication is offered, so no signing
			// algorithm for it is advertised (RFC 8414 §2).
			for k := range d {
				if strings.HasSuffix(k, "_auth_signing_alg_values_supported") {
					t.Errorf("%s advertised without a JWT client authentication method", k)
				}
			}
			// The DPoP proof algorithms are the clients' keys', not the
			// server's (RFC 9449 §5.1): every one accepted, in both modes.
			if got := strs(d["dpop_signing_alg_values_supported"]); !slices.Equal(got, []string{"ES256", "EdDSA", "RS256", "PS256"}) {
				t.Errorf("dpop_signing_alg_values_supported %v", got)
			}
			for _, k := range []string{"end_session_endpoint", "device_authorization_endpoint", "introspection_endpoint", "revocation_endpoint"} {
				if v, _ := d[k].(string); !strings.HasPrefix(v, s.URL+"/") {
					t.Errorf("%s = %q", k, v)
				}
			}
			if d["request_uri_parameter_supported"] != false || d["request_parameter_supported"] != false {
				t.Errorf("request objects advertised: %v %v", d["request_parameter_supported"], d["request_uri_parameter_supported"])
			}
			// A stock client reads it.
			p, err := gooidc.NewProvider(context.Background(), s.URL)
			if err != nil {
				t.Fatalf("go-oidc discovery: %v", err)
			}
			if p.Endpoint().TokenURL != s.URL+"/oauth/token" || p.Endpoint().DeviceAuthURL != s.URL+"/qr/authorize" {
				t.Errorf("go-oidc endpoints %+v", p.Endpoint())
			}
		})
	}
}

// authorizeOutcome starts the code flow with scope and reports "ok" when
// it reaches the login page, or the error code it was refused with (as a
// redirect to the client or an error page naming invalid_scope).
func authorizeOutcome(t *testing.T, s *testServer, clientID, redirect, scope string, extra url.Values) (string, *http.Response) {
	t.Helper()
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "state": {"st"},
		"code_challenge": {s256("verifier-verifier-verifier-verifier-verifier")}, "code_challenge_method": {"S256"}}
	if scope != "" {
		q.Set("scope", scope)
	}
	for k, v := range extra {
		q[k] = v
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(s.URL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page bytes.Buffer
	_, _ = page.ReadFrom(resp.Body)
	if resp.StatusCode == http.StatusFound {
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc.Path == "/login" {
			return "ok", resp
		}
		if e := loc.Query().Get("error"); e != "" {
			return e, resp
		}
		return "redirect " + loc.String(), resp
	}
	if resp.StatusCode == http.StatusBadRequest && strings.Contains(page.String(), "scope") {
		return "invalid_scope", resp
	}
	return resp.Status + " " + page.String(), resp
}

// One scope policy decides both flows: the same scope string is granted,
// or refused with invalid_scope, at /authorize and at /qr/authorize
// (before, address and phone were granted at the one and refused at the
// other). address and phone are refused: no such claims are kept.
func TestOneScopePolicy(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct {
		scope string
		want  string
	}{
		{"openid profile email offline_access", "ok"},
		{"openid", "ok"},
		{"", "ok"},
		{"openid address", "invalid_scope"},
		{"openid phone", "invalid_scope"},
		{"openid profile made-up", "invalid_scope"},
		{"openid " + idp.ScopeQRApprove, "invalid_scope"},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			got, _ := authorizeOutcome(t, s, rpID, "https://shop.example/cb", tc.scope, nil)
			status, body := s.form(t, "/qr/authorize", rpID, rpSecret, url.Values{"scope": {tc.scope}})
			qr := "ok"
			if status != 200 {
				qr, _ = decode(t, body)["error"].(string)
			}
			if got != tc.want || qr != tc.want {
				t.Fatalf("/authorize: %s, /qr/authorize: %s (%d %s), want %s for both", got, qr, status, body, tc.want)
			}
		})
	}
	t.Run("the granted scopes are the same too", func(t *testing.T) {
		scopes := []string{"openid", "email", "email", "offline_access"}
		tok := s.codeFlowToken(t, rpID, rpSecret, "https://shop.example/cb", "alice", scopes)
		alice := s.phoneToken(t, "alice")
		r := s.start(t, url.Values{"scope": {strings.Join(scopes, " ")}})
		ticket := s.scan(t, alice, r.VerificationURIComplete)
		s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket})
		_, qr := s.poll(t, idp.GrantQR, r.DeviceCode, nil)
		if got := tok.Extra("scope"); got != qr["scope"] || got != "openid email offline_access" {
			t.Fatalf("code flow granted %v, QR login %v", got, qr["scope"])
		}
	})
	t.Run("the first-party app still gets qr:approve, never by QR", func(t *testing.T) {
		if got, _ := authorizeOutcome(t, s, phoneID, phoneRedir, "openid "+idp.ScopeQRApprove, nil); got != "ok" {
			t.Fatalf("phone app: %s", got)
		}
	})
}

// What discovery advertises works: every response mode, and an unknown
// one is refused rather than answered in the query.
func TestAdvertisedResponseModesWork(t *testing.T) {
	s := newServer(t)
	_, d := metadataDoc(t, s, "/.well-known/openid-configuration")
	for _, mode := range strs(d["response_modes_supported"]) {
		t.Run(mode, func(t *testing.T) {
			cfg := &oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, RedirectURL: "https://shop.example/cb",
				Scopes: []string{"openid"}, Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/authorize",
					TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
			verifier := oauth2.GenerateVerifier()
			code := s.authorizeMode(t, cfg.AuthCodeURL("st-"+mode, oauth2.S256ChallengeOption(verifier),
				oauth2.SetAuthURLParam("response_mode", mode)), "alice", mode)
			if _, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err != nil {
				t.Fatalf("exchange of the %s code: %v", mode, err)
			}
		})
	}
	t.Run("an unknown response_mode is refused", func(t *testing.T) {
		if got, resp := authorizeOutcome(t, s, rpID, "https://shop.example/cb", "openid", url.Values{"response_mode": {"query.jwt"}}); got == "ok" {
			t.Fatalf("response_mode query.jwt accepted: %v", resp.Header.Get("Location"))
		}
	})
}

// RFC 9068: a JWT access token says "typ": "at+jwt" and carries iss, exp,
// aud, sub, client_id, iat, jti and scope, from every grant; it verifies
// against /keys with go-oidc's key set; /userinfo takes it and refuses an
// ID token offered in its place. Opaque stays the default.
func TestJWTAccessTokensFollowRFC9068(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			s := newServer(t, func(c *idp.Config) { c.SigningAlg = alg })
			addJWTClient(t, s)
			ctx := context.Background()
			keys := gooidc.NewRemoteKeySet(ctx, s.URL+"/keys")
			check := func(t *testing.T, grant, raw string) {
				t.Helper()
				parts := strings.Split(raw, ".")
				if len(parts) != 3 {
					t.Fatalf("%s: not a JWS: %q", grant, raw)
				}
				var head map[string]any
				b, _ := base64.RawURLEncoding.DecodeString(parts[0])
				_ = json.Unmarshal(b, &head)
				if head["typ"] != "at+jwt" || head["alg"] != alg || head["kid"] == nil {
					t.Fatalf("%s: header %v", grant, head)
				}
				payload, err := keys.VerifySignature(ctx, raw)
				if err != nil {
					t.Fatalf("%s: go-oidc does not verify it: %v", grant, err)
				}
				var c map[string]any
				_ = json.Unmarshal(payload, &c)
				for _, k := range []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti", "scope"} {
					if c[k] == nil {
						t.Errorf("%s: claim %s missing: %v", grant, k, c)
					}
				}
				if c["iss"] != s.URL || c["client_id"] != jwtRPID || c["sub"] != s.users["alice"] || c["scope"] != "openid email offline_access" {
					t.Errorf("%s: claims %v", grant, c)
				}
				if status, _, body := call(t, "GET", s.URL+"/userinfo", bearer(raw), nil); status != 200 || body["email"] != "alice@example.com" {
					t.Errorf("%s: /userinfo %d %v", grant, status, body)
				}
			}
			scopes := []string{"openid", "email", "offline_access"}
			tok := s.codeFlowToken(t, jwtRPID, rpSecret, "https://shop.example/cb", "alice", scopes)
			check(t, "authorization_code", tok.AccessToken)

			cfg := s.rpConfig(jwtRPID, rpSecret)
			refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err != nil {
				t.Fatal(err)
			}
			check(t, "refresh_token", refreshed.AccessToken)

			alice := s.phoneToken(t, "alice")
			status, body := s.form(t, "/qr/authorize", jwtRPID, rpSecret, url.Values{"scope": {strings.Join(scopes, " ")}})
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			qr := decode(t, body)
			ticket := s.scan(t, alice, qr["verification_uri_complete"].(string))
			s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket})
			status, body = s.form(t, "/oauth/token", jwtRPID, rpSecret, url.Values{"grant_type": {idp.GrantQR}, "device_code": {qr["device_code"].(string)}})
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			check(t, "qr", decode(t, body)["access_token"].(string))

			idToken, _ := tok.Extra("id_token").(string)
			if status, hdr, _ := call(t, "GET", s.URL+"/userinfo", bearer(idToken), nil); status != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("an ID token taken as an access token: %d", status)
			}
			opaque := s.codeFlowToken(t, rpID, rpSecret, "https://shop.example/cb", "alice", scopes)
			if strings.Count(opaque.AccessToken, ".") == 2 {
				t.Errorf("the default access token is a JWS: %q", opaque.AccessToken)
			}
		})
	}
}
