package idp

import (
	"crypto/sha256"
	"sync"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// tokenCrypto encrypts and decrypts opaque access tokens as zitadel's
// provider does by default (AES-256-GCM JWE, A256GCMKW; older tokens of
// its AES-CFB format still decrypt), and remembers what it decrypted. A
// phone presents one token at every step of every login it approves, a
// relying party one token at every /userinfo call: each decryption
// parsed the JWE's JSON header and set up two AES-GCM ciphers (5 % of the
// server's CPU in a login run, 10 s of pprof at 32 PCs), to find the
// same token ID and subject.
//
// The cache is keyed by the SHA-256 of the token, so it holds no usable
// token, and two tokens share an entry only if they are the same string.
// Only successful decryptions are kept: what a token decrypts to never
// changes under one key, and whether the token is still live is the
// store's to say at each use (parseAccessToken's callers). It keeps at
// most 2 × tokenCacheSize entries: when the current map is full it
// becomes the previous one and the one before is dropped, so a token in
// use stays (each hit moves it into the current map).
type tokenCrypto struct {
	op.Crypto

	mu        sync.Mutex
	cur, prev map[[sha256.Size]byte]string
}

// tokenCacheSize: decrypted tokens remembered per generation (about
// 100 bytes each).
const tokenCacheSize = 4096

// newTokenCrypto is zitadel's default Crypto for key (op.NewProvider's),
// with the cache.
func newTokenCrypto(key [32]byte, keyID string) *tokenCrypto {
	gcm := op.NewAES256GCMCrypto(key, keyID)
	return &tokenCrypto{
		Crypto: op.NewCompositeCrypto(gcm, []op.Decrypter{gcm, op.NewAESCrypto(key)}),
		cur:    make(map[[sha256.Size]byte]string),
	}
}

// Decrypt implements op.Decrypter.
func (c *tokenCrypto) Decrypt(s string) (string, error) {
	k := sha256.Sum256([]byte(s))
	c.mu.Lock()
	plain, ok := c.cur[k]
	if !ok {
		if plain, ok = c.prev[k]; ok {
			c.put(k, plain)
		}
	}
	c.mu.Unlock()
	if ok {
		return plain, nil
	}
	plain, err := c.Crypto.Decrypt(s)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.put(k, plain)
	c.mu.Unlock()
	return plain, nil
}

// put adds an entry to the current map; c.mu is held.
func (c *tokenCrypto) put(k [sha256.Size]byte, plain string) {
	if len(c.cur) >= tokenCacheSize {
		c.prev, c.cur = c.cur, make(map[[sha256.Size]byte]string, tokenCacheSize)
	}
	c.cur[k] = plain
}

// len is the number of entries kept (for tests).
func (c *tokenCrypto) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.prev)
}
