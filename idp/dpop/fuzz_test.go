package dpop_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/qrlogin/qrlogin/idp/dpop"
)

// Parse never panics, and whatever it accepts holds to RFC 9449 §4.3: a
// canonical thumbprint, a jti, an iat inside the window, and a proof bound
// to the request's method and URI (the same proof for another method or
// endpoint is refused).
func FuzzParse(f *testing.F) {
	ec := ecKey(f)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	// A fixed RSA key: every fuzz worker runs this set-up, and generating a
	// 2048-bit key there took seconds on a loaded machine, long enough for
	// a 5 s -fuzztime to end with "context deadline exceeded".
	rs := testRSAKey(f)
	for _, c := range []struct {
		alg  jose.SignatureAlgorithm
		priv crypto.Signer
	}{{jose.ES256, ec}, {jose.EdDSA, ed}, {jose.RS256, rs}, {jose.PS256, rs}} {
		k, err := dpop.NewKey(c.priv, c.alg)
		if err != nil {
			f.Fatal(err)
		}
		p, err := k.Proof("POST", tokenURI, "", now)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
		parts := strings.Split(p, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + ".." + parts[2])
	}
	_, h, c := goodES256(f)
	h["alg"] = "none"
	f.Add(jwt(f, h, c, func([]byte) []byte { return nil }))
	f.Add("")
	f.Add("a.b.c")
	f.Add(`{"payload":"e30","signatures":[]}`)
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := dpop.Parse(raw, req())
		if err != nil {
			if p != nil {
				t.Fatal("a proof and an error")
			}
			return
		}
		if !dpop.ValidJKT(p.JKT) || p.JTI == "" {
			t.Fatalf("accepted %+v", p)
		}
		if p.IssuedAt.Before(now.Add(-dpop.MaxAge)) || p.IssuedAt.After(now.Add(dpop.MaxAhead)) {
			t.Fatalf("accepted an iat outside the window: %v", p.IssuedAt)
		}
		if _, err := dpop.Parse(raw, dpop.Request{Method: "GET", URI: tokenURI, Now: now}); err == nil {
			t.Fatal("the proof also passes for GET")
		}
		if _, err := dpop.Parse(raw, dpop.Request{Method: "POST", URI: "https://op.example/userinfo", Now: now}); err == nil {
			t.Fatal("the proof also passes for another endpoint")
		}
		if _, err := dpop.Parse(raw, dpop.Request{Method: "POST", URI: tokenURI, Now: now.Add(dpop.MaxAge + dpop.MaxAhead + time.Second)}); err == nil {
			t.Fatal("the proof passes after its window")
		}
	})
}

func testRSAKey(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	b, err := os.ReadFile("testdata/rsa2048.pem")
	if err != nil {
		tb.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		tb.Fatal("testdata/rsa2048.pem: no PEM block")
	}
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}
