package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// Header is the request header that carries a proof (RFC 9449 §4.1).
const Header = "DPoP"

// Scheme is the Authorization scheme of a DPoP-bound access token
// (RFC 9449 §7.1), and the token_type of a token response that issues one
// (RFC 9449 §5).
const Scheme = "DPoP"

// Algorithms are the proof algorithms accepted (RFC 9449 §4.3 step 5:
// asymmetric, never none or a MAC), in the order discovery advertises
// them (dpop_signing_alg_values_supported, RFC 9449 §5.1).
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256, jose.PS256}

// AlgorithmNames is Algorithms as strings.
func AlgorithmNames() []string {
	out := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = string(a)
	}
	return out
}

// The acceptance window of a proof's iat (RFC 9449 §4.3 step 11, §11.1).
// qrlogin sends no DPoP nonces (RFC 9449 §8): a proof's freshness is its
// iat, and its jti is spent on first use in a store every instance shares
// for as long as the proof could be accepted. A client whose clock is more
// than MaxAhead fast, or that sends a proof older than MaxAge, is refused.
const (
	MaxAge   = 60 * time.Second
	MaxAhead = 10 * time.Second
)

// MaxLen bounds a proof in bytes: a PS256 proof with a 4096-bit key is
// about 1.8 KB.
const MaxLen = 4096

// typ is the proof's media type (RFC 9449 §4.2).
const typ = "dpop+jwt"

// Proof is a proof that passed every check of RFC 9449 §4.3.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's key, base64url
	// without padding: what a grant or token is bound to (RFC 9449 §6.1).
	JKT      string
	JTI      string
	IssuedAt time.Time
}

// Until is when a replay of the proof stops mattering: from then on it is
// too old to be accepted anyway.
func (p *Proof) Until() time.Time { return p.IssuedAt.Add(MaxAge) }

// Request is what a proof must match: the request it came with.
type Request struct {
	// Method is the request's method (htm).
	Method string
	// URI is the endpoint's public URI, the issuer's origin and the path
	// (htu); a proxy in front does not change it.
	URI string
	// AccessToken is the token presented with the proof at a resource
	// (ath, RFC 9449 §4.3 step 12); empty at the token endpoint.
	AccessToken string
	Now         time.Time
}

// invalid is the answer to a proof that fails a check: 400
// invalid_dpop_proof (RFC 9449 §5); a resource makes it a 401.
func invalid(desc string) *oauth.Error { return oauth.New(oauth.InvalidDPoPProof, desc) }

// Parse checks a proof against the request it came with, every rule of RFC
// 9449 §4.3 but the once-only use of its jti (Verifier.Verify adds that).
func Parse(raw string, r Request) (*Proof, error) {
	if raw == "" || len(raw) > MaxLen {
		return nil, invalid("the DPoP proof is empty or too long")
	}
	// §4.3 steps 2, 5: a JWS in compact form, with an allowed algorithm;
	// go-jose refuses any other alg, none and HS256 among them.
	jws, err := jose.ParseSignedCompact(raw, Algorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, invalid("the DPoP proof is not a JWT signed with one of " + strings.Join(AlgorithmNames(), ", "))
	}
	h := jws.Signatures[0].Protected
	// §4.3 step 4.
	if t, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(t, typ) {
		return nil, invalid("the DPoP proof's typ must be dpop+jwt")
	}
	// §4.3 step 7: the jwk header is a public key. go-jose already refuses
	// private parameters in it; a symmetric key has no business here.
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
		return nil, invalid("the DPoP proof's jwk header must hold a public key")
	}
	if err := strongEnough(jwk.Key); err != nil {
		return nil, invalid("the DPoP proof's key is too weak: " + err.Error())
	}
	// §4.3 step 6: the signature verifies with that key (go-jose checks
	// that the key fits the algorithm).
	payload, err := jws.Verify(jwk)
	if err != nil {
		return nil, invalid("the DPoP proof's signature does not verify with its jwk")
	}
	var c struct {
		JTI string       `json:"jti"`
		HTM string       `json:"htm"`
		HTU string       `json:"htu"`
		IAT *json.Number `json:"iat"`
		ATH string       `json:"ath"`
	}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, invalid("the DPoP proof's claims are not a JSON object of the expected types")
	}
	// §4.3 step 3: every required claim.
	if c.JTI == "" || c.HTM == "" || c.HTU == "" || c.IAT == nil {
		return nil, invalid("the DPoP proof lacks jti, htm, htu or iat")
	}
	if len(c.JTI) > 256 {
		return nil, invalid("the DPoP proof's jti is too long")
	}
	// §4.3 step 8: methods are case-sensitive (RFC 9110 §9.1).
	if c.HTM != r.Method {
		return nil, invalid("the DPoP proof's htm is not this request's method")
	}
	// §4.3 step 9.
	got, ok1 := normalURI(c.HTU)
	want, ok2 := normalURI(r.URI)
	if !ok1 || !ok2 || got != want {
		return nil, invalid("the DPoP proof's htu is not this endpoint's URI")
	}
	// §4.3 step 11.
	iat, ok := numericDate(*c.IAT)
	if !ok {
		return nil, invalid("the DPoP proof's iat is not a time")
	}
	if iat.Before(r.Now.Add(-MaxAge)) {
		return nil, invalid("the DPoP proof is too old (iat)")
	}
	if iat.After(r.Now.Add(MaxAhead)) {
		return nil, invalid("the DPoP proof is issued in the future (iat): check the client's clock")
	}
	// §4.3 step 12: at a resource, the proof names the token it comes with.
	if r.AccessToken != "" {
		sum := sha256.Sum256([]byte(r.AccessToken))
		want := base64.RawURLEncoding.EncodeToString(sum[:])
		if subtle.ConstantTimeCompare([]byte(c.ATH), []byte(want)) != 1 {
			return nil, invalid("the DPoP proof's ath does not match the access token")
		}
	}
	jkt, err := Thumbprint(jwk)
	if err != nil {
		return nil, invalid("the DPoP proof's key has no thumbprint")
	}
	return &Proof{JKT: jkt, JTI: c.JTI, IssuedAt: iat}, nil
}

// strongEnough refuses keys too weak to bind anything: RSA below 2048
// bits (RFC 8017 guidance, and go-jose would verify 1024), and curves
// other than the one ES256 names.
func strongEnough(key any) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 || k.N.BitLen() > 8192 {
			return errors.New("RSA keys must have 2048 to 8192 bits")
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return errors.New("EC keys must be on P-256 (ES256)")
		}
	case ed25519.PublicKey:
	default:
		return errors.New("the key type is not RSA, EC or OKP")
	}
	return nil
}

// numericDate reads a JWT NumericDate (RFC 7519 §2): seconds, possibly
// fractional, within a sane range.
func numericDate(n json.Number) (time.Time, bool) {
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// normalURI is raw in the form htu is compared in (RFC 9449 §4.3 step 9,
// which asks for RFC 3986 §6.2.2 syntax-based and §6.2.3 scheme-based
// normalisation): scheme and host in lower case, the scheme's default port
// left out, percent-encoding decoded, dot segments removed, an empty path
// as "/", and query and fragment ignored.
func normalURI(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	switch {
	case port != "":
		host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"):
		host = "[" + host + "]"
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return scheme + "://" + host + clean, true
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of jwk, base64url without
// padding: the jkt of RFC 9449 §6.1 and the dpop_jkt of §10.
func Thumbprint(jwk *jose.JSONWebKey) (string, error) {
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// ValidJKT reports whether s can be a thumbprint: 32 bytes in base64url
// without padding, in its one canonical spelling (RFC 9449 §10).
func ValidJKT(s string) bool {
	if len(s) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// CheckBinding applies a grant's binding: what (a code, a device code, a
// refresh token) was bound to the key bound ("" for none) and is redeemed
// by a request whose proof has the key presented ("" without a proof). A
// request without a proof is invalid_dpop_proof, one with a proof of
// another key invalid_grant: the server MUST reject both (RFC 9449 §5,
// §10). So a stolen code or device code is worthless without the private
// key.
func CheckBinding(bound, presented, what string) *oauth.Error {
	switch {
	case bound == "":
		return nil
	case presented == "":
		return oauth.New(oauth.InvalidDPoPProof, what+" is bound to a DPoP key: the request needs a DPoP proof of that key")
	case presented != bound:
		return oauth.New(oauth.InvalidGrant, what+" is bound to another DPoP key")
	}
	return nil
}

// Store spends proofs (storage.DPoPProofStore): every instance sharing
// the backend sees a proof used once.
type Store interface {
	UseDPoPProof(ctx context.Context, key []byte, until, now time.Time) error
}

// Verifier checks the DPoP header of requests and spends each proof's jti.
// It is safe for concurrent use.
type Verifier struct {
	Store Store
	Now   func() time.Time
}

// Verify checks h's DPoP header for a request to uri with method (and,
// at a resource, accessToken): nil and no error when there is none, the
// proof when it passes every check of RFC 9449 §4.3 and was never used
// before, otherwise invalid_dpop_proof, or the store's outage as
// oauth.StoreError maps it. A proof is spent when it passes, whatever the
// request then does with it: a replay is refused on every instance until
// the proof is too old anyway (RFC 9449 §11.1).
func (v *Verifier) Verify(ctx context.Context, h http.Header, method, uri, accessToken string) (*Proof, error) {
	vals := h.Values(Header)
	switch len(vals) {
	case 0:
		return nil, nil
	case 1:
	default:
		// §4.3 step 1.
		return nil, invalid("more than one DPoP header")
	}
	now := v.Now()
	p, err := Parse(vals[0], Request{Method: method, URI: uri, AccessToken: accessToken, Now: now})
	if err != nil {
		return nil, err
	}
	// The jti is unique per key: two clients may draw the same one.
	err = v.Store.UseDPoPProof(ctx, storage.Hash(p.JKT+"\x00"+p.JTI), p.Until(), now)
	if errors.Is(err, storage.ErrConflict) {
		return nil, invalid("the DPoP proof was used before (jti)")
	}
	if err != nil {
		return nil, oauth.StoreError(err)
	}
	return p, nil
}
