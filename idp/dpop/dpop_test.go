package dpop_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/qrlogin/qrlogin/idp/dpop"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

const tokenURI = "https://op.example/oauth/token"

var now = time.Date(2026, time.November, 21, 9, 30, 0, 0, time.UTC)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwt assembles a compact JWS from header and claims, signed by sign over
// the signing input: any proof, well-formed or not.
func jwt(t testing.TB, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	input := b64(mustJSON(t, header)) + "." + b64(mustJSON(t, claims))
	return input + "." + b64(sign([]byte(input)))
}

func publicJWK(t testing.TB, pub crypto.PublicKey) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustJSON(t, jose.JSONWebKey{Key: pub}), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func es256(t testing.TB, k *ecdsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		sum := sha256.Sum256(in)
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	}
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func claims(method, uri string, iat time.Time) map[string]any {
	return map[string]any{"jti": "jti-" + iat.Format(time.RFC3339Nano), "htm": method, "htu": uri, "iat": iat.Unix()}
}

// goodES256 is a valid proof for POST tokenURI at now, with its parts
// exposed so a case can change one.
func goodES256(t testing.TB) (k *ecdsa.PrivateKey, header, c map[string]any) {
	k = ecKey(t)
	return k, map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": publicJWK(t, &k.PublicKey)}, claims("POST", tokenURI, now)
}

func req() dpop.Request { return dpop.Request{Method: "POST", URI: tokenURI, Now: now} }

func wantInvalid(t *testing.T, err error, what string) {
	t.Helper()
	var e *oauth.Error
	if !errors.As(err, &e) || e.Code != oauth.InvalidDPoPProof || e.Status != http.StatusBadRequest {
		t.Fatalf("%s: %v, want 400 invalid_dpop_proof", what, err)
	}
}

// Every allowed algorithm signs a proof that passes, and its jkt is the
// RFC 7638 thumbprint of the key that signed it.
func TestParseAcceptsEveryAllowedAlgorithm(t *testing.T) {
	ec := ecKey(t)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		alg  jose.SignatureAlgorithm
		priv crypto.Signer
	}{{jose.ES256, ec}, {jose.EdDSA, ed}, {jose.RS256, rs}, {jose.PS256, rs}} {
		t.Run(string(c.alg), func(t *testing.T) {
			k, err := dpop.NewKey(c.priv, c.alg)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := k.Proof("POST", tokenURI+"?x=1#f", "", now.Add(-time.Second))
			if err != nil {
				t.Fatal(err)
			}
			p, err := dpop.Parse(raw, req())
			if err != nil {
				t.Fatalf("a valid %s proof was refused: %v", c.alg, err)
			}
			want, err := dpop.Thumbprint(&jose.JSONWebKey{Key: c.priv.Public()})
			if err != nil {
				t.Fatal(err)
			}
			if p.JKT != want || p.JKT != k.JKT() || !dpop.ValidJKT(p.JKT) || p.JTI == "" || !p.IssuedAt.Equal(now.Add(-time.Second)) {
				t.Fatalf("proof %+v, want jkt %s", p, want)
			}
		})
	}
}

// RFC 7638 §3.1's example key and its thumbprint, which RFC 9449 §10 uses
// as its dpop_jkt example.
func TestThumbprintRFC7638Example(t *testing.T) {
	var jwk jose.JSONWebKey
	raw := `{"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}`
	if err := json.Unmarshal([]byte(raw), &jwk); err != nil {
		t.Fatal(err)
	}
	got, err := dpop.Thumbprint(&jwk)
	if err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("thumbprint %q, %v", got, err)
	}
	if !dpop.ValidJKT(got) {
		t.Fatal("the RFC's thumbprint is not a valid jkt")
	}
	for _, bad := range []string{"", got + "=", got[:42], got[:42] + "+", strings.Repeat("A", 44), got[:42] + "t"} {
		if dpop.ValidJKT(bad) {
			t.Errorf("ValidJKT(%q) = true", bad)
		}
	}
}

// Each rule of RFC 9449 §4.3, broken once: the proof is refused with
// invalid_dpop_proof.
func TestParseRefusesBadProofs(t *testing.T) {
	rsaKey := func(bits int) *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	cases := []struct {
		name  string
		proof func(t *testing.T) string
		req   func(r *dpop.Request)
	}{
		{"no typ", func(t *testing.T) string {
			k, h, c := goodES256(t)
			delete(h, "typ")
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"typ JWT", func(t *testing.T) string {
			k, h, c := goodES256(t)
			h["typ"] = "JWT"
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"alg none", func(t *testing.T) string {
			_, h, c := goodES256(t)
			h["alg"] = "none"
			return jwt(t, h, c, func([]byte) []byte { return nil })
		}, nil},
		{"alg HS256 with an oct jwk", func(t *testing.T) string {
			_, h, c := goodES256(t)
			secret := []byte("0123456789abcdef0123456789abcdef")
			h["alg"], h["jwk"] = "HS256", map[string]any{"kty": "oct", "k": b64(secret)}
			return jwt(t, h, c, func(in []byte) []byte { m := hmac.New(sha256.New, secret); m.Write(in); return m.Sum(nil) })
		}, nil},
		{"alg HS256 keyed with the public jwk", func(t *testing.T) string {
			_, h, c := goodES256(t)
			h["alg"] = "HS256"
			return jwt(t, h, c, func(in []byte) []byte {
				m := hmac.New(sha256.New, mustJSON(t, h["jwk"]))
				m.Write(in)
				return m.Sum(nil)
			})
		}, nil},
		{"alg ES384, not allowed", func(t *testing.T) string {
			k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: k}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
			jws, _ := s.Sign(mustJSON(t, claims("POST", tokenURI, now)))
			out, _ := jws.CompactSerialize()
			return out
		}, nil},
		{"private key in the jwk", func(t *testing.T) string {
			k, h, c := goodES256(t)
			var priv map[string]any
			_ = json.Unmarshal(mustJSON(t, jose.JSONWebKey{Key: k}), &priv)
			if priv["d"] == nil {
				t.Fatal("the private JWK has no d")
			}
			h["jwk"] = priv
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"no jwk", func(t *testing.T) string {
			k, h, c := goodES256(t)
			delete(h, "jwk")
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"signed by another key than the jwk", func(t *testing.T) string {
			_, h, c := goodES256(t)
			return jwt(t, h, c, es256(t, ecKey(t)))
		}, nil},
		{"RSA key of 1024 bits", func(t *testing.T) string {
			k, err := dpop.NewKey(rsaKey(1024), jose.RS256)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := k.Proof("POST", tokenURI, "", now)
			return p
		}, nil},
		{"htm GET for a POST", func(t *testing.T) string {
			k, h, c := goodES256(t)
			c["htm"] = "GET"
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"htm post in lower case", func(t *testing.T) string {
			k, h, c := goodES256(t)
			c["htm"] = "post"
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"htu of another endpoint", func(t *testing.T) string {
			k, h, c := goodES256(t)
			c["htu"] = "https://op.example/userinfo"
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"htu of another server", func(t *testing.T) string {
			k, h, c := goodES256(t)
			c["htu"] = "https://evil.example/oauth/token"
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"htu over http for an https endpoint", func(t *testing.T) string {
			k, h, c := goodES256(t)
			c["htu"] = "http://op.example/oauth/token"
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"htu relative", func(t *testing.T) string {
			k, h, c := goodES256(t)
			c["htu"] = "/oauth/token"
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"iat older than the window", func(t *testing.T) string {
			k, h, c := goodES256(t)
			c["iat"] = now.Add(-dpop.MaxAge - time.Second).Unix()
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"iat in the future", func(t *testing.T) string {
			k, h, c := goodES256(t)
			c["iat"] = now.Add(dpop.MaxAhead + time.Second).Unix()
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"iat a string", func(t *testing.T) string {
			k, h, c := goodES256(t)
			c["iat"] = "1700000000"
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"no jti", func(t *testing.T) string {
			k, h, c := goodES256(t)
			delete(c, "jti")
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"no iat", func(t *testing.T) string {
			k, h, c := goodES256(t)
			delete(c, "iat")
			return jwt(t, h, c, es256(t, k))
		}, nil},
		{"ath missing at a resource", func(t *testing.T) string {
			k, h, c := goodES256(t)
			return jwt(t, h, c, es256(t, k))
		}, func(r *dpop.Request) { r.AccessToken = "the-token" }},
		{"ath of another token", func(t *testing.T) string {
			k, h, c := goodES256(t)
			sum := sha256.Sum256([]byte("another-token"))
			c["ath"] = b64(sum[:])
			return jwt(t, h, c, es256(t, k))
		}, func(r *dpop.Request) { r.AccessToken = "the-token" }},
		{"the JSON serialization", func(t *testing.T) string {
			k := ecKey(t)
			s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
			jws, _ := s.Sign(mustJSON(t, claims("POST", tokenURI, now)))
			return jws.FullSerialize()
		}, nil},
		{"claims not an object", func(t *testing.T) string {
			k, h, _ := goodES256(t)
			input := b64(mustJSON(t, h)) + "." + b64([]byte(`["jti"]`))
			return input + "." + b64(es256(t, k)([]byte(input)))
		}, nil},
		{"too long", func(t *testing.T) string {
			k, h, c := goodES256(t)
			c["pad"] = strings.Repeat("x", dpop.MaxLen)
			return jwt(t, h, c, es256(t, k))
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := req()
			if c.req != nil {
				c.req(&r)
			}
			p, err := dpop.Parse(c.proof(t), r)
			if p != nil {
				t.Fatalf("accepted: %+v", p)
			}
			wantInvalid(t, err, c.name)
		})
	}
}

// htu is compared after RFC 3986 normalisation, without query and
// fragment (RFC 9449 §4.3 step 9).
func TestParseNormalisesHTU(t *testing.T) {
	k, h, c := goodES256(t)
	for _, htu := range []string{
		"HTTPS://OP.Example/oauth/token", "https://op.example:443/oauth/token", "https://op.example/oauth/./token",
		"https://op.example/oauth/token?grant_type=x", "https://op.example/oauth/token#frag", "https://op.example/oauth/%74oken",
	} {
		c["htu"], c["jti"] = htu, "jti-"+htu
		if _, err := dpop.Parse(jwt(t, h, c, es256(t, k)), req()); err != nil {
			t.Errorf("htu %q: %v", htu, err)
		}
	}
}

// A proof at a resource names its access token by ath, and an ath that
// matches passes.
func TestParseAthAtResource(t *testing.T) {
	k, err := dpop.NewKey(ecKey(t), jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := k.Proof("GET", "https://op.example/userinfo", "the-token", now)
	if _, err := dpop.Parse(raw, dpop.Request{Method: "GET", URI: "https://op.example/userinfo", AccessToken: "the-token", Now: now}); err != nil {
		t.Fatal(err)
	}
}

// Verify spends each proof once: the same proof again is refused, a new
// proof of the same key passes; a request without the header has no
// proof, and two headers are refused.
func TestVerifySpendsAProofOnce(t *testing.T) {
	store := memory.New()
	v := &dpop.Verifier{Store: store, Now: func() time.Time { return now }}
	k, err := dpop.NewKey(ecKey(t), jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h := http.Header{}
	if p, err := v.Verify(ctx, h, "POST", tokenURI, ""); p != nil || err != nil {
		t.Fatalf("no header: %v %v", p, err)
	}
	raw, _ := k.Proof("POST", tokenURI, "", now)
	h.Set("DPoP", raw)
	if _, err := v.Verify(ctx, h, "POST", tokenURI, ""); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(ctx, h, "POST", tokenURI, "")
	wantInvalid(t, err, "the same proof again")
	again, _ := k.Proof("POST", tokenURI, "", now)
	h.Set("DPoP", again)
	if _, err := v.Verify(ctx, h, "POST", tokenURI, ""); err != nil {
		t.Fatalf("a new proof of the same key: %v", err)
	}
	third, _ := k.Proof("POST", tokenURI, "", now)
	h.Set("DPoP", third)
	h.Add("DPoP", third)
	_, err = v.Verify(ctx, h, "POST", tokenURI, "")
	wantInvalid(t, err, "two DPoP headers")
}

// A store outage is the one mapping's 503, not a refused proof.
func TestVerifyStoreOutage(t *testing.T) {
	v := &dpop.Verifier{Store: downStore{}, Now: func() time.Time { return now }}
	k, _ := dpop.NewKey(ecKey(t), jose.ES256)
	raw, _ := k.Proof("POST", tokenURI, "", now)
	_, err := v.Verify(context.Background(), http.Header{"Dpop": {raw}}, "POST", tokenURI, "")
	var e *oauth.Error
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable {
		t.Fatalf("%v, want 503", err)
	}
}

type downStore struct{}

func (downStore) UseDPoPProof(context.Context, []byte, time.Time, time.Time) error {
	return storage.ErrUnavailable
}
