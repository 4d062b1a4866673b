package storage

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// NewSecret returns n bytes from crypto/rand, base64url-encoded without
// padding. It is used for every identifier that must not be guessable:
// qr_id (16 bytes, 22 characters), device_code, ticket, client secrets,
// refresh tokens (32 bytes).
func NewSecret(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error on supported platforms
	// (Go 1.24+ crashes the program instead), so there is nothing to handle.
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Hash is how secrets are kept: only their SHA-256 is stored and looked up
// through an index, so a comparison is a hash lookup, never a byte-by-byte
// compare of the secret itself. The secrets are high-entropy random values,
// so a fast hash is enough (a password hash would cap polls at tens per
// second).
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
