package idp_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/idp/dpop"
	"github.com/qrlogin/qrlogin/storage"
)

// newDPoPKey is a client's DPoP key (ES256).
func newDPoPKey(t testing.TB) *dpop.Key {
	t.Helper()
	k, err := dpop.NewES256Key()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// proof signs a proof with key for method and path at the server's time;
// accessToken, when set, is named by ath.
func (s *testServer) proof(t testing.TB, key *dpop.Key, method, path, accessToken string) string {
	t.Helper()
	p, err := key.Proof(method, s.URL+path, accessToken, s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tokenWithProof POSTs form to the token endpoint with HTTP Basic (id !=
// "") and the DPoP header proof (if not empty).
func (s *testServer) tokenWithProof(t testing.TB, id, secret, proof string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	status, raw := do(t, req)
	return status, decode(t, raw)
}

// userinfoWith calls /userinfo with Authorization: <scheme> <token> and the
// DPoP header proof (if not empty), and returns the status, the
// WWW-Authenticate header and the body.
func (s *testServer) userinfoWith(t testing.TB, scheme, token, proof string) (int, string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/userinfo", nil)
	req.Header.Set("Authorization", scheme+" "+token)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body
}

// wantRefused fails unless status and body are a 400 with code.
func wantRefused(t *testing.T, status int, body map[string]any, code, what string) {
	t.Helper()
	if status != http.StatusBadRequest || body["error"] != code {
		t.Fatalf("%s: %d %v, want 400 %s", what, status, body, code)
	}
}

// wantDPoPChallenge fails unless a resource answered 401 with a DPoP
// challenge naming code (RFC 9449 §7.1).
func wantDPoPChallenge(t *testing.T, status int, challenge, code, what string) {
	t.Helper()
	if status != http.StatusUnauthorized || !strings.HasPrefix(challenge, "DPoP ") ||
		!strings.Contains(challenge, `error="`+code+`"`) || !strings.Contains(challenge, `algs="ES256 EdDSA RS256 PS256"`) {
		t.Fatalf("%s: %d %q, want 401 with a DPoP challenge, error=%q", what, status, challenge, code)
	}
}

// dpopCode runs /authorize with PKCE (and dpop_jkt when jkt != "") for
// client through the login page as alice, and returns the code and its
// verifier.
func (s *testServer) dpopCode(t *testing.T, clientID, redirect, jkt string) (string, string) {
	t.Helper()
	cfg := &oauth2.Config{ClientID: clientID, RedirectURL: redirect, Scopes: []string{"openid", "profile", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/authorize"}}
	verifier := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if jkt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("dpop_jkt", jkt))
	}
	return s.authorize(t, cfg.AuthCodeURL("st", opts...), "alice"), verifier
}

func codeForm(clientID, code, verifier, redirect string) url.Values {
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirect}}
	if clientID != "" {
		v.Set("client_id", clientID)
	}
	return v
}

// A public client binds its code with dpop_jkt (RFC 9449 §10): the code
// is worthless without a proof of that key; with it, the tokens are
// DPoP-bound (token_type DPoP), the access token works at /userinfo only
// with the DPoP scheme and a proof of the key naming it, and the refresh
// token refreshes only with a proof of the same key (RFC 9449 §5).
func TestDPoPCodeFlowPublicClient(t *testing.T) {
	s := newServer(t)
	key, other := newDPoPKey(t), newDPoPKey(t)
	const redirect = "http://127.0.0.1/cb"
	tokenProof := func(k *dpop.Key) string { return s.proof(t, k, "POST", "/oauth/token", "") }

	code, verifier := s.dpopCode(t, publicRPID, redirect, key.JKT())
	status, body := s.tokenWithProof(t, "", "", "", codeForm(publicRPID, code, verifier, redirect))
	wantRefused(t, status, body, "invalid_dpop_proof", "a stolen code without a proof")

	code, verifier = s.dpopCode(t, publicRPID, redirect, key.JKT())
	status, body = s.tokenWithProof(t, "", "", tokenProof(other), codeForm(publicRPID, code, verifier, redirect))
	wantRefused(t, status, body, "invalid_grant", "a stolen code with the thief's own key")

	code, verifier = s.dpopCode(t, publicRPID, redirect, key.JKT())
	status, tok := s.tokenWithProof(t, "", "", tokenProof(key), codeForm(publicRPID, code, verifier, redirect))
	if status != 200 || tok["token_type"] != "DPoP" || tok["refresh_token"] == nil {
		t.Fatalf("exchange with the bound key: %d %v", status, tok)
	}
	at, rt := tok["access_token"].(string), tok["refresh_token"].(string)

	// /userinfo: RFC 9449 §7.
	st, ch, _ := s.userinfoWith(t, "Bearer", at, "")
	wantDPoPChallenge(t, st, ch, "invalid_token", "the bound token as a bearer token")
	st, ch, _ = s.userinfoWith(t, "Bearer", at, s.proof(t, key, "GET", "/userinfo", at))
	wantDPoPChallenge(t, st, ch, "invalid_token", "the bound token as a bearer token, with a proof beside it")
	st, ch, _ = s.userinfoWith(t, "DPoP", at, "")
	wantDPoPChallenge(t, st, ch, "invalid_dpop_proof", "the DPoP scheme without a proof")
	st, ch, _ = s.userinfoWith(t, "DPoP", at, s.proof(t, key, "GET", "/userinfo", ""))
	wantDPoPChallenge(t, st, ch, "invalid_dpop_proof", "a proof without ath")
	st, ch, _ = s.userinfoWith(t, "DPoP", at, s.proof(t, other, "GET", "/userinfo", at))
	wantDPoPChallenge(t, st, ch, "invalid_dpop_proof", "a proof of another key")
	st, ch, _ = s.userinfoWith(t, "DPoP", at, s.proof(t, key, "POST", "/userinfo", at))
	wantDPoPChallenge(t, st, ch, "invalid_dpop_proof", "a proof for POST with a GET")
	good := s.proof(t, key, "GET", "/userinfo", at)
	st, _, info := s.userinfoWith(t, "DPoP", at, good)
	if st != 200 || info["sub"] != s.users["alice"] {
		t.Fatalf("userinfo with the key: %d %v", st, info)
	}
	st, ch, _ = s.userinfoWith(t, "DPoP", at, good)
	wantDPoPChallenge(t, st, ch, "invalid_dpop_proof", "the same proof again")

	// Refresh: the public client's refresh token is bound to the key.
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicRPID}}
	status, body = s.tokenWithProof(t, "", "", "", refresh)
	wantRefused(t, status, body, "invalid_dpop_proof", "refresh without a proof")
	status, body = s.tokenWithProof(t, "", "", tokenProof(other), refresh)
	wantRefused(t, status, body, "invalid_grant", "refresh with another key")
	status, tok = s.tokenWithProof(t, "", "", tokenProof(key), refresh)
	if status != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("refresh with the key: %d %v", status, tok)
	}
	at2 := tok["access_token"].(string)
	if st, _, info := s.userinfoWith(t, "DPoP", at2, s.proof(t, key, "GET", "/userinfo", at2)); st != 200 || info["sub"] != s.users["alice"] {
		t.Fatalf("userinfo with the refreshed token: %d %v", st, info)
	}
	st, ch, _ = s.userinfoWith(t, "Bearer", at2, "")
	wantDPoPChallenge(t, st, ch, "invalid_token", "the refreshed token as a bearer token")
}

// A proof at the token endpoint without dpop_jkt binds the tokens too
// (RFC 9449 §5); a bearer token presented with the DPoP scheme is refused
// (it is bound to nothing); and without any proof nothing changes: Bearer
// tokens, as before.
func TestDPoPProofAtTokenEndpointOnly(t *testing.T) {
	s := newServer(t)
	key := newDPoPKey(t)
	const redirect = "http://127.0.0.1/cb"
	code, verifier := s.dpopCode(t, publicRPID, redirect, "")
	status, tok := s.tokenWithProof(t, "", "", s.proof(t, key, "POST", "/oauth/token", ""), codeForm(publicRPID, code, verifier, redirect))
	if status != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("exchange with a proof: %d %v", status, tok)
	}
	at := tok["access_token"].(string)
	if st, _, _ := s.userinfoWith(t, "DPoP", at, s.proof(t, key, "GET", "/userinfo", at)); st != 200 {
		t.Fatalf("userinfo: %d", st)
	}

	code, verifier = s.dpopCode(t, publicRPID, redirect, "")
	status, tok = s.tokenWithProof(t, "", "", "", codeForm(publicRPID, code, verifier, redirect))
	if status != 200 || tok["token_type"] != "Bearer" {
		t.Fatalf("exchange without a proof: %d %v", status, tok)
	}
	bearer := tok["access_token"].(string)
	if st, ch, _ := s.userinfoWith(t, "DPoP", bearer, s.proof(t, key, "GET", "/userinfo", bearer)); st != 401 || !strings.Contains(ch, `error="invalid_token"`) {
		t.Fatalf("a bearer token with the DPoP scheme: %d %q", st, ch)
	}
	if st, _, info := s.userinfoWith(t, "Bearer", bearer, ""); st != 200 || info["sub"] != s.users["alice"] {
		t.Fatalf("a bearer token as a bearer token: %d %v", st, info)
	}
}

// Bad proofs at the token endpoint are refused before the grant is
// touched (RFC 9449 §4.3): the code survives them and is exchanged
// afterwards with a good proof.
func TestDPoPBadProofsAtTokenEndpoint(t *testing.T) {
	s := newServer(t)
	key := newDPoPKey(t)
	const redirect = "http://127.0.0.1/cb"
	code, verifier := s.dpopCode(t, publicRPID, redirect, key.JKT())
	form := codeForm(publicRPID, code, verifier, redirect)
	sign := func(method, uri string, iat time.Time) string {
		p, err := key.Proof(method, uri, "", iat)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := s.clock.Now()
	for _, c := range []struct{ name, proof string }{
		{"htm GET", sign("GET", s.URL+"/oauth/token", now)},
		{"htu of /userinfo", sign("POST", s.URL+"/userinfo", now)},
		{"htu of another server", sign("POST", "https://evil.example/oauth/token", now)},
		{"iat two minutes old", sign("POST", s.URL+"/oauth/token", now.Add(-2*time.Minute))},
		{"iat a minute ahead", sign("POST", s.URL+"/oauth/token", now.Add(time.Minute))},
		{"not a JWT", "not-a-jwt"},
	} {
		status, body := s.tokenWithProof(t, "", "", c.proof, form)
		wantRefused(t, status, body, "invalid_dpop_proof", c.name)
	}
	status, tok := s.tokenWithProof(t, "", "", s.proof(t, key, "POST", "/oauth/token", ""), form)
	if status != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("the code after the bad proofs: %d %v", status, tok)
	}
}

// A proof is spent once at the token endpoint: the same proof on a second
// request is refused.
func TestDPoPProofReplayAtTokenEndpoint(t *testing.T) {
	s := newServer(t)
	key := newDPoPKey(t)
	const redirect = "http://127.0.0.1/cb"
	p := s.proof(t, key, "POST", "/oauth/token", "")
	code, verifier := s.dpopCode(t, publicRPID, redirect, key.JKT())
	if status, tok := s.tokenWithProof(t, "", "", p, codeForm(publicRPID, code, verifier, redirect)); status != 200 {
		t.Fatalf("first use: %d %v", status, tok)
	}
	code, verifier = s.dpopCode(t, publicRPID, redirect, key.JKT())
	status, body := s.tokenWithProof(t, "", "", p, codeForm(publicRPID, code, verifier, redirect))
	wantRefused(t, status, body, "invalid_dpop_proof", "the proof replayed with another code")
}

// A confidential client's refresh token is not bound to the key (RFC 9449
// §5): it may refresh with a new key, and the new tokens are bound to the
// new key. It still needs a proof: a DPoP grant does not turn into bearer
// tokens. Its JWT access tokens carry cnf.jkt, and introspection reports
// token_type DPoP and cnf.jkt (RFC 9449 §6).
func TestDPoPConfidentialClientJWTAndIntrospection(t *testing.T) {
	s := newServer(t)
	const jwtRP, jwtSecret, redirect = "jwt-rp", "jwt-rp-secret-0123456789", "https://jwt.example/cb"
	if err := s.store.CreateClient(t.Context(), &storage.Client{ID: jwtRP, Name: "JWT RP", SecretHash: storage.Hash(jwtSecret),
		Type: storage.ClientConfidential, RedirectURIs: []string{redirect}, GrantTypes: allGrants, AccessTokenType: "jwt",
		CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	key, next := newDPoPKey(t), newDPoPKey(t)
	code, verifier := s.dpopCode(t, jwtRP, redirect, key.JKT())
	status, tok := s.tokenWithProof(t, jwtRP, jwtSecret, s.proof(t, key, "POST", "/oauth/token", ""), codeForm("", code, verifier, redirect))
	if status != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("exchange: %d %v", status, tok)
	}
	at := tok["access_token"].(string)
	if got := verifiedJWTClaims(t, s, at)["cnf"]; !sameCnf(got, key.JKT()) {
		t.Fatalf("the JWT access token's cnf is %v, want jkt %s", got, key.JKT())
	}
	status, raw := s.form(t, "/oauth/introspect", jwtRP, jwtSecret, url.Values{"token": {at}})
	intro := decode(t, raw)
	if status != 200 || intro["active"] != true || intro["token_type"] != "DPoP" || !sameCnf(intro["cnf"], key.JKT()) {
		t.Fatalf("introspection: %d %v", status, intro)
	}

	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}
	status, body := s.tokenWithProof(t, jwtRP, jwtSecret, "", refresh)
	wantRefused(t, status, body, "invalid_dpop_proof", "refresh without a proof")
	status, tok = s.tokenWithProof(t, jwtRP, jwtSecret, s.proof(t, next, "POST", "/oauth/token", ""), refresh)
	if status != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("refresh with a new key: %d %v", status, tok)
	}
	at2 := tok["access_token"].(string)
	if got := verifiedJWTClaims(t, s, at2)["cnf"]; !sameCnf(got, next.JKT()) {
		t.Fatalf("the refreshed token's cnf is %v, want the new key's %s", got, next.JKT())
	}
	st, ch, _ := s.userinfoWith(t, "DPoP", at2, s.proof(t, key, "GET", "/userinfo", at2))
	wantDPoPChallenge(t, st, ch, "invalid_dpop_proof", "the refreshed token with the old key")
	if st, _, _ := s.userinfoWith(t, "DPoP", at2, s.proof(t, next, "GET", "/userinfo", at2)); st != 200 {
		t.Fatalf("the refreshed token with the new key: %d", st)
	}
}

// A malformed dpop_jkt is the client's error, sent back to its redirect
// URI (RFC 9449 §10, RFC 6749 §4.1.2.1).
func TestDPoPJKTMalformedAtAuthorize(t *testing.T) {
	s := newServer(t)
	cfg := &oauth2.Config{ClientID: publicRPID, RedirectURL: "http://127.0.0.1/cb", Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/authorize"}}
	u := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("dpop_jkt", "not-a-thumbprint"))
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "invalid_request" || !strings.Contains(loc.Query().Get("error_description"), "dpop_jkt") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// verifiedJWTClaims verifies a JWT against the server's /keys and returns
// its claims.
func verifiedJWTClaims(t *testing.T, s *testServer, raw string) map[string]any {
	t.Helper()
	resp, err := http.Get(s.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("no key %q in /keys", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// sameCnf reports whether cnf (a decoded JSON object) is {"jkt": jkt}.
func sameCnf(cnf any, jkt string) bool {
	m, ok := cnf.(map[string]any)
	return ok && len(m) == 1 && m["jkt"] == jkt
}

// startWithProof calls /qr/authorize as the confidential relying party
// with the DPoP header proof (if not empty) and extra parameters.
func (s *testServer) startWithProof(t *testing.T, proof string, extra url.Values) (int, map[string]any) {
	t.Helper()
	return s.startAs(t, rpID, rpSecret, proof, extra)
}

// startAs is startWithProof as the confidential client id.
func (s *testServer) startAs(t *testing.T, id, secret, proof string, extra url.Values) (int, map[string]any) {
	t.Helper()
	form := url.Values{"scope": {"openid profile email offline_access"}}
	for k, v := range extra {
		form[k] = v
	}
	req, _ := http.NewRequest("POST", s.URL+"/qr/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	status, raw := do(t, req)
	return status, decode(t, raw)
}

// A QR login started with a DPoP proof (or dpop_jkt) is bound to the PC's
// key: a leaked device code is worthless — without the key it neither
// redeems nor learns the login's state, before or after the confirmation,
// and a proof the PC sent cannot be replayed — while the PC redeems it
// with a proof of its key and gets DPoP-bound tokens.
func TestDPoPQRLoginStolenDeviceCode(t *testing.T) {
	for _, how := range []string{"a proof", "dpop_jkt", "both"} {
		t.Run("bound by "+how, func(t *testing.T) {
			s := newServer(t)
			alice := s.phoneToken(t, "alice")
			pc, thief := newDPoPKey(t), newDPoPKey(t)
			var proof string
			extra := url.Values{}
			if how != "dpop_jkt" {
				proof = s.proof(t, pc, "POST", "/qr/authorize", "")
			}
			if how != "a proof" {
				extra.Set("dpop_jkt", pc.JKT())
			}
			status, started := s.startWithProof(t, proof, extra)
			if status != 200 {
				t.Fatalf("/qr/authorize: %d %v", status, started)
			}
			deviceCode, qr := started["device_code"].(string), started["verification_uri_complete"].(string)
			poll := func(proof string) (int, map[string]any) {
				return s.tokenWithProof(t, rpID, rpSecret, proof, url.Values{"grant_type": {idp.GrantQR}, "device_code": {deviceCode}})
			}
			stolen := func(when string) {
				t.Helper()
				status, body := poll("")
				wantRefused(t, status, body, "invalid_dpop_proof", "the stolen device code without a proof, "+when)
				status, body = poll(s.proof(t, thief, "POST", "/oauth/token", ""))
				wantRefused(t, status, body, "invalid_grant", "the stolen device code with the thief's key, "+when)
			}
			stolen("pending")
			if status, body := poll(s.proof(t, pc, "POST", "/oauth/token", "")); status != 400 || body["error"] != "authorization_pending" {
				t.Fatalf("the PC's poll while pending: %d %v", status, body)
			}
			ticket := s.scan(t, alice, qr)
			if status, body := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket}); status != 200 {
				t.Fatalf("confirm: %d %v", status, body)
			}
			stolen("confirmed")

			good := s.proof(t, pc, "POST", "/oauth/token", "")
			status, tok := poll(good)
			if status != 200 || tok["token_type"] != "DPoP" || tok["id_token"] == nil {
				t.Fatalf("the PC's redeem: %d %v", status, tok)
			}
			status, body := poll(good)
			wantRefused(t, status, body, "invalid_dpop_proof", "the PC's proof replayed")

			at := tok["access_token"].(string)
			if st, _, info := s.userinfoWith(t, "DPoP", at, s.proof(t, pc, "GET", "/userinfo", at)); st != 200 || info["sub"] != s.users["alice"] {
				t.Fatalf("userinfo with the PC's key: %d %v", st, info)
			}
			st, ch, _ := s.userinfoWith(t, "Bearer", at, "")
			wantDPoPChallenge(t, st, ch, "invalid_token", "the QR login's token as a bearer token")
			status, raw := s.form(t, "/oauth/introspect", rpID, rpSecret, url.Values{"token": {at}})
			if intro := decode(t, raw); status != 200 || intro["token_type"] != "DPoP" || !sameCnf(intro["cnf"], pc.JKT()) {
				t.Fatalf("introspection: %d %v", status, intro)
			}
		})
	}
}

// /qr/authorize refuses a malformed dpop_jkt, a dpop_jkt that is not the
// proof's key, and a bad proof; nothing is started.
func TestDPoPQRAuthorizeRefusals(t *testing.T) {
	s := newServer(t)
	pc, other := newDPoPKey(t), newDPoPKey(t)
	status, body := s.startWithProof(t, "", url.Values{"dpop_jkt": {"short"}})
	wantRefused(t, status, body, "invalid_request", "a malformed dpop_jkt")
	status, body = s.startWithProof(t, s.proof(t, pc, "POST", "/qr/authorize", ""), url.Values{"dpop_jkt": {other.JKT()}})
	wantRefused(t, status, body, "invalid_dpop_proof", "dpop_jkt of another key than the proof's")
	status, body = s.startWithProof(t, s.proof(t, pc, "POST", "/oauth/token", ""), nil)
	wantRefused(t, status, body, "invalid_dpop_proof", "a proof for the token endpoint")
}

// A QR login started without a key may still be redeemed with a proof:
// the tokens are bound to that key (RFC 9449 §5). Without one, they are
// bearer tokens, as before.
func TestDPoPQRLoginUnboundRedeemedWithAProof(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	key := newDPoPKey(t)
	r := confirmed(t, s, alice)
	status, tok := s.tokenWithProof(t, rpID, rpSecret, s.proof(t, key, "POST", "/oauth/token", ""),
		url.Values{"grant_type": {idp.GrantDeviceCode}, "device_code": {r.DeviceCode}})
	if status != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("redeem with a proof: %d %v", status, tok)
	}
	at := tok["access_token"].(string)
	if st, _, _ := s.userinfoWith(t, "DPoP", at, s.proof(t, key, "GET", "/userinfo", at)); st != 200 {
		t.Fatalf("userinfo: %d", st)
	}
	r = confirmed(t, s, alice)
	status, tok = s.poll(t, idp.GrantQR, r.DeviceCode, nil)
	if status != 200 || tok["token_type"] != "Bearer" {
		t.Fatalf("redeem without a proof: %d %v", status, tok)
	}
}

// A client registered with dpop_bound_access_tokens (RFC 9449 §5.2) gets
// nothing without its key: a QR login started without a proof or
// dpop_jkt, and any token request without a proof, is refused with
// invalid_dpop_proof — a code so refused is not spent — while with the
// key it works as for any client, and its tokens are DPoP-bound.
func TestDPoPBoundClientPolicy(t *testing.T) {
	s := newServer(t)
	const id, secret, redirect = "bound-rp", "bound-secret-0123456789", "https://bound.example/cb"
	if err := s.store.CreateClient(t.Context(), &storage.Client{ID: id, Name: "Bound", SecretHash: storage.Hash(secret),
		Type: storage.ClientConfidential, RedirectURIs: []string{redirect}, GrantTypes: allGrants,
		DPoPBoundAccessTokens: true, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	key := newDPoPKey(t)
	tokenProof := func() string { return s.proof(t, key, "POST", "/oauth/token", "") }

	status, body := s.startAs(t, id, secret, "", nil)
	wantRefused(t, status, body, "invalid_dpop_proof", "a QR login started without a key")
	for what, start := range map[string]func() (int, map[string]any){
		"dpop_jkt": func() (int, map[string]any) {
			return s.startAs(t, id, secret, "", url.Values{"dpop_jkt": {key.JKT()}})
		},
		"a proof": func() (int, map[string]any) {
			return s.startAs(t, id, secret, s.proof(t, key, "POST", "/qr/authorize", ""), nil)
		},
	} {
		status, started := start()
		if status != 200 {
			t.Fatalf("a QR login bound by %s: %d %v", what, status, started)
		}
		poll := url.Values{"grant_type": {idp.GrantQR}, "device_code": {started["device_code"].(string)}}
		status, body = s.tokenWithProof(t, id, secret, "", poll)
		wantRefused(t, status, body, "invalid_dpop_proof", "a poll without a proof, bound by "+what)
		status, body = s.tokenWithProof(t, id, secret, tokenProof(), poll)
		if status != 400 || body["error"] != "authorization_pending" {
			t.Fatalf("a poll with the key, bound by %s: %d %v", what, status, body)
		}
	}

	code, verifier := s.dpopCode(t, id, redirect, "")
	exchange := codeForm("", code, verifier, redirect)
	status, body = s.tokenWithProof(t, id, secret, "", exchange)
	wantRefused(t, status, body, "invalid_dpop_proof", "a code exchanged without a proof")
	status, tok := s.tokenWithProof(t, id, secret, tokenProof(), exchange)
	if status != 200 || tok["token_type"] != "DPoP" || tok["refresh_token"] == nil {
		t.Fatalf("the same code with a proof: %d %v", status, tok)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}
	status, body = s.tokenWithProof(t, id, secret, "", refresh)
	wantRefused(t, status, body, "invalid_dpop_proof", "a refresh without a proof")
	if status, tok = s.tokenWithProof(t, id, secret, tokenProof(), refresh); status != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("the refresh with a proof: %d %v", status, tok)
	}
}

// The phone API (and the account API behind the same check) takes bearer
// tokens only: a phone app token that was DPoP-bound at the token
// endpoint is refused there as a bearer token (RFC 9449 §7.2), so a
// stolen one is worthless without its key; an unbound one works.
func TestDPoPBoundTokenRefusedByPhoneAPI(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) { testDPoPBoundTokenRefusedByPhoneAPI(t, newServerOn(t, store)) })
}

func testDPoPBoundTokenRefusedByPhoneAPI(t *testing.T, s *testServer) {
	key := newDPoPKey(t)
	cfg := &oauth2.Config{ClientID: phoneID, RedirectURL: phoneRedir, Scopes: []string{"openid", "qr:approve"},
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/authorize"}}
	verifier := oauth2.GenerateVerifier()
	code := s.authorize(t, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "alice")
	status, tok := s.tokenWithProof(t, "", "", s.proof(t, key, "POST", "/oauth/token", ""), codeForm(phoneID, code, verifier, phoneRedir))
	if status != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("the phone app's exchange with a proof: %d %v", status, tok)
	}
	sessions := func(token string) (int, string) {
		req, _ := http.NewRequest("GET", s.URL+"/account/sessions", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	if st, ch := sessions(tok["access_token"].(string)); st != http.StatusUnauthorized || !strings.Contains(ch, `error="invalid_token"`) {
		t.Fatalf("the bound token as a bearer token at the account API: %d %q", st, ch)
	}
	if st, _ := sessions(s.phoneToken(t, "alice")); st != http.StatusOK {
		t.Fatalf("an unbound phone token: %d", st)
	}
	// The scan and the decisions check the token in the store's statement
	// (no read before it): that check refuses a bound token too, or a
	// stolen one would approve sign-ins without its key (red team).
	bound := tok["access_token"].(string)
	r := s.start(t, nil)
	if st, body := s.phone(t, bound, "/qr/scan", map[string]string{"qr": r.VerificationURIComplete}); st != http.StatusUnauthorized || body["error"] != "invalid_token" {
		t.Fatalf("the bound token as a bearer token at /qr/scan: %d %v", st, body)
	}
	ticket := s.scan(t, s.phoneToken(t, "alice"), r.VerificationURIComplete)
	for _, path := range []string{"/qr/confirm", "/qr/deny"} {
		if st, body := s.phone(t, bound, path, map[string]string{"ticket": ticket}); st != http.StatusUnauthorized || body["error"] != "invalid_token" {
			t.Fatalf("the bound token as a bearer token at %s: %d %v", path, st, body)
		}
	}
	if _, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); body["qr_status"] != "scanned" {
		t.Fatalf("after the refused decisions the login is %v, want still scanned", body)
	}
}
