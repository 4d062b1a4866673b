package clustertest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/idp/dpop"
)

func dpopKey(t *testing.T) *dpop.Key {
	t.Helper()
	k, err := dpop.NewES256Key()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// proofFor signs a proof for method at path of the issuer, the name every
// instance answers to (a proof names the public URI, not an instance).
func (c *cluster) proofFor(key *dpop.Key, method, path, accessToken string) string {
	c.t.Helper()
	p, err := key.Proof(method, issuer+path, accessToken, c.clock.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// postFormWithProof is postForm with the DPoP header (when proof != "").
func postFormWithProof(u, id, secret, proof string, form url.Values) (reply, error) {
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return send(req)
}

// userinfoWithProof calls /userinfo at in with Authorization: DPoP.
func userinfoWithProof(in *instance, token, proof string) (reply, error) {
	req, err := http.NewRequest("GET", in.url+"/userinfo", nil)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Authorization", "DPoP "+token)
	req.Header.Set("DPoP", proof)
	return send(req)
}

// RFC 9449 §11.1 behind a load balancer: a DPoP proof is spent on the
// instance that first sees it, and refused on every other, whether it is
// replayed at /qr/authorize, at the token endpoint (after the redeem, or
// raced against it) or at /userinfo; and a QR login bound to the PC's key
// on A cannot be redeemed on B with its stolen device code.
func TestDPoPProofReplayAcrossInstances(t *testing.T) {
	c := newCluster(t, nil)
	a, b := c.start("A"), c.start("B")
	phone := phoneToken(t, everyStepAt(a))
	pc, thief := dpopKey(t), dpopKey(t)
	ctx := context.Background()

	start := c.proofFor(pc, "POST", "/qr/authorize", "")
	form := url.Values{"scope": {strings.Join(rpScopes, " ")}}
	r := must(t)(postFormWithProof(a.url+"/qr/authorize", rpID, rpSecret, start, form))
	var l qrLogin
	if r.status != http.StatusOK || json.Unmarshal(r.body, &l) != nil || l.DeviceCode == "" {
		t.Fatalf("A /qr/authorize: %v", r)
	}
	wantError(t, "the start's proof replayed at B", must(t)(postFormWithProof(b.url+"/qr/authorize", rpID, rpSecret, start, form)),
		http.StatusBadRequest, "invalid_dpop_proof")

	pollForm := url.Values{"grant_type": {idp.GrantQR}, "device_code": {l.DeviceCode}}
	confirm(t, b, phone, scan(t, b, phone, &l))
	wantError(t, "the stolen device code at B without a proof", must(t)(poll(ctx, b, &l, "")), http.StatusBadRequest, "invalid_dpop_proof")
	wantError(t, "the stolen device code at B with the thief's key",
		must(t)(postFormWithProof(b.url+"/oauth/token", rpID, rpSecret, c.proofFor(thief, "POST", "/oauth/token", ""), pollForm)),
		http.StatusBadRequest, "invalid_grant")

	// The PC's one proof sent to A and B at once (a replay racing the
	// original): exactly one answer carries the tokens.
	redeem := c.proofFor(pc, "POST", "/oauth/token", "")
	var wg sync.WaitGroup
	replies, errs := make([]reply, 2), make([]error, 2)
	for i, in := range []*instance{a, b} {
		wg.Go(func() {
			replies[i], errs[i] = postFormWithProof(in.url+"/oauth/token", rpID, rpSecret, redeem, pollForm)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	won, lost := replies[0], replies[1]
	if won.status != http.StatusOK {
		won, lost = lost, won
	}
	if won.status != http.StatusOK {
		t.Fatalf("the one proof at A and B at once: neither redeemed: %v and %v", won, lost)
	}
	tok := tokensOf(t, "the redeem", won)
	if won.json()["token_type"] != "DPoP" {
		t.Fatalf("the redeem's token_type: %v", won)
	}
	wantError(t, "the same proof on the other instance", lost, http.StatusBadRequest, "invalid_dpop_proof")
	if n := redeemedCount(t, a.store, &l); n != 1 {
		t.Fatalf("%d redeems recorded, want 1", n)
	}

	info := c.proofFor(pc, "GET", "/userinfo", tok.AccessToken)
	if r := must(t)(userinfoWithProof(b, tok.AccessToken, info)); r.status != http.StatusOK || r.json()["sub"] != c.userID {
		t.Fatalf("B /userinfo with the PC's proof: %v", r)
	}
	r = must(t)(userinfoWithProof(a, tok.AccessToken, info))
	if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_dpop_proof"`) {
		t.Fatalf("the userinfo proof replayed at A: %v %q", r, r.header.Get("WWW-Authenticate"))
	}
}
