package idp

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/qrlogin/qrlogin/storage/memory"
)

// countingCrypto counts the decryptions that reach zitadel's crypto.
type countingCrypto struct {
	op.Crypto
	decrypts atomic.Int64
}

func (c *countingCrypto) Decrypt(s string) (string, error) {
	c.decrypts.Add(1)
	return c.Crypto.Decrypt(s)
}

func newCountingTokenCrypto(t *testing.T) (*tokenCrypto, *countingCrypto) {
	t.Helper()
	var key [32]byte
	copy(key[:], "0123456789abcdef0123456789abcdef")
	c := newTokenCrypto(key, "")
	inner := &countingCrypto{Crypto: c.Crypto}
	c.Crypto = inner
	return c, inner
}

func TestTokenCryptoDecryptsATokenOnce(t *testing.T) {
	c, inner := newCountingTokenCrypto(t)
	tok, err := op.CreateBearerToken("token-id", "subject", c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		plain, err := c.Decrypt(tok)
		if err != nil || plain != "token-id:subject" {
			t.Fatalf("decrypt %d: %q, %v", i, plain, err)
		}
	}
	if n := inner.decrypts.Load(); n != 1 {
		t.Fatalf("zitadel's crypto decrypted the same token %d times, want 1 (the rest from the cache)", n)
	}
}

func TestTokenCryptoRefusesATamperedTokenEveryTime(t *testing.T) {
	c, inner := newCountingTokenCrypto(t)
	tok, err := op.CreateBearerToken("token-id", "subject", c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decrypt(tok); err != nil {
		t.Fatal(err)
	}
	// The last segment is the JWE's authentication tag.
	i := strings.LastIndexByte(tok, '.') + 1
	flipped := byte('A')
	if tok[i] == 'A' {
		flipped = 'B'
	}
	bad := tok[:i] + string(flipped) + tok[i+1:]
	for range 2 {
		if plain, err := c.Decrypt(bad); err == nil {
			t.Fatalf("a token with a changed tag decrypted (to %q)", plain)
		}
	}
	if n := inner.decrypts.Load(); n != 3 {
		t.Fatalf("decryptions reaching zitadel's crypto: %d, want 3 (one good token, the tampered one each time)", n)
	}
}

func TestTokenCryptoIsBounded(t *testing.T) {
	c, inner := newCountingTokenCrypto(t)
	kept, err := op.CreateBearerToken("kept", "subject", c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * tokenCacheSize {
		if i%(tokenCacheSize/2) == 0 {
			// A token in use stays cached however many others pass.
			if _, err := c.Decrypt(kept); err != nil {
				t.Fatal(err)
			}
		}
		tok, err := op.CreateBearerToken(strconv.Itoa(i), "subject", c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Decrypt(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.len(); n > 2*tokenCacheSize {
		t.Fatalf("%d tokens cached, want at most %d", n, 2*tokenCacheSize)
	}
	want := inner.decrypts.Load()
	if _, err := c.Decrypt(kept); err != nil {
		t.Fatal(err)
	}
	if inner.decrypts.Load() != want {
		t.Fatal("a token in use was evicted")
	}
}

func TestServerDecryptsAccessTokensThroughTheCache(t *testing.T) {
	s, err := New(t.Context(), Config{Issuer: "http://localhost", Store: memory.New()})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.provider.Crypto().(*tokenCrypto); !ok {
		t.Fatalf("the provider's crypto is %T, want *tokenCrypto", s.provider.Crypto())
	}
}
