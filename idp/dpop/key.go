package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is a client's DPoP key: it signs a proof for each request (RFC 9449
// §4.2). Safe for concurrent use.
type Key struct {
	signer jose.Signer
	jkt    string
}

// NewKey makes a proof signer from a private key and the algorithm it
// signs with (one of Algorithms).
func NewKey(priv crypto.Signer, alg jose.SignatureAlgorithm) (*Key, error) {
	pub := jose.JSONWebKey{Key: priv.Public()}
	jkt, err := Thumbprint(&pub)
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType(typ)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: priv}, opts)
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	return &Key{signer: s, jkt: jkt}, nil
}

// NewES256Key makes a fresh P-256 key, the usual choice of a client, and
// its proof signer.
func NewES256Key() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return NewKey(priv, jose.ES256)
}

// JKT is the key's thumbprint, for the dpop_jkt parameter (RFC 9449 §10).
func (k *Key) JKT() string { return k.jkt }

// Proof signs a proof for a request with method to uri (query and
// fragment are dropped, RFC 9449 §4.2) issued at iat, with a fresh random
// jti. accessToken, when not empty, is named by ath (a request to a
// resource, RFC 9449 §7.1).
func (k *Key) Proof(method, uri, accessToken string, iat time.Time) (string, error) {
	if u, err := url.Parse(uri); err == nil {
		u.RawQuery, u.Fragment = "", ""
		uri = u.String()
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	c := map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(jti),
		"htm": method,
		"htu": uri,
		"iat": iat.Unix(),
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
