package clustertest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/qrlogin/qrlogin/idp"
)

// kids lists the key ids instance in publishes at /keys.
// kids lists the key ids of /keys for the RS256 keys: the algorithm of
// the cluster's relying party, which registered none (every algorithm has
// its own keys, rotated on its own).
func kids(t *testing.T, in *instance) []string {
	t.Helper()
	r := must(t)(get(context.Background(), in.url+"/keys", ""))
	var set jose.JSONWebKeySet
	if r.status != http.StatusOK || json.Unmarshal(r.body, &set) != nil {
		t.Fatalf("%s /keys: %v", in.name, r)
	}
	out := make([]string, 0, len(set.Keys))
	for _, k := range set.Keys {
		if k.Algorithm == "RS256" {
			out = append(out, k.KeyID)
		}
	}
	slices.Sort(out)
	return out
}

// kidOf is the key id in a JWT's header.
func kidOf(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil || len(jws.Signatures) != 1 {
		t.Fatalf("not a JWS: %v", err)
	}
	return jws.Signatures[0].Header.KeyID
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// Key rotation across instances: the new key is in every instance's /keys
// before any instance signs with it, signing switches at its NotBefore on
// every instance, and the old key stays published until every token it
// signed has expired, then disappears everywhere.
func TestKeyRotationAcrossInstances(t *testing.T) {
	t.Parallel()
	const (
		publishDelay = 10 * time.Minute
		idTokenTTL   = time.Hour
		accessTTL    = 15 * time.Minute
		keyCache     = 30 * time.Second // idp.Keys reloads the stored keys this often
	)
	c := newCluster(t, func(cfg *idp.Config) {
		cfg.KeyPublishDelay, cfg.IDTokenTTL, cfg.AccessTokenTTL = publishDelay, idTokenTTL, accessTTL
	})
	a, b := c.start("A"), c.start("B")
	tok := loginByQR(t, a, b, phoneToken(t, everyStepAt(b)))
	oldKID := kidOf(t, tok.IDToken)
	if got := kids(t, b); !slices.Equal(got, []string{oldKID}) {
		t.Fatalf("B /keys before rotation: %v, want [%s]", got, oldKID)
	}

	// sign has instance in sign a fresh ID token (a refresh grant) and
	// returns it.
	rt := tok.RefreshToken
	sign := func(in *instance) string {
		t.Helper()
		next := tokensOf(t, "refresh on "+in.name, refresh(t, in, rt))
		rt = next.RefreshToken
		return next.IDToken
	}
	wantSigner := func(when, kid string) string {
		t.Helper()
		var raw string
		for _, in := range []*instance{a, b} {
			raw = sign(in)
			if got := kidOf(t, raw); got != kid {
				t.Fatalf("%s: %s signed with %s, want %s", when, in.name, got, kid)
			}
		}
		return raw
	}
	wantPublished := func(when string, want ...string) {
		t.Helper()
		for _, in := range []*instance{a, b} {
			if got := kids(t, in); !slices.Equal(got, sorted(want...)) {
				t.Fatalf("%s: %s /keys has %v, want %v", when, in.name, got, sorted(want...))
			}
		}
	}

	info, err := a.srv.Keys().Rotate(context.Background(), "RS256")
	if err != nil || len(info) != 1 || info[0].Algorithm != "RS256" {
		t.Fatalf("rotate: %v, %v", info, err)
	}
	newKID := info[0].ID
	if got := kids(t, a); !slices.Equal(got, sorted(oldKID, newKID)) {
		t.Fatalf("A /keys right after rotating: %v, want both keys", got)
	}
	wantSigner("right after the rotation", oldKID)

	c.clock.Advance(keyCache + time.Second)
	wantPublished("one key-cache period after the rotation", oldKID, newKID)

	c.clock.Advance(publishDelay - keyCache - 2*time.Second) // 1 s before NotBefore
	lastOld := wantSigner("1 s before NotBefore", oldKID)

	c.clock.Advance(2 * time.Second) // 1 s after NotBefore
	wantSigner("1 s after NotBefore", newKID)
	wantPublished("after the switch", oldKID, newKID)

	// The last token the old key signed lives max(ID token, access token)
	// TTL; until then the old key stays, and a relying party fetching
	// B's /keys verifies that token.
	c.clock.Advance(idTokenTTL - 2*time.Second)
	wantPublished("1 s before the old key's tokens have all expired", oldKID, newKID)
	verifyIDToken(t, b, lastOld, "")

	c.clock.Advance(2*time.Second + keyCache)
	wantPublished("once the old key's tokens have all expired", newKID)
}
