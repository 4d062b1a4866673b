package storage_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"testing"

	"github.com/qrlogin/qrlogin/storage"
)

var base64url = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)

func TestNewSecret(t *testing.T) {
	for _, c := range []struct {
		name  string
		bytes int
		chars int
	}{
		{"a qr_id is 128 bits in 22 characters", 16, 22},
		{"a device code, ticket or refresh token is 256 bits in 43 characters", 32, 43},
		{"a single byte is 2 characters", 1, 2},
		{"zero bytes is the empty string", 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := storage.NewSecret(c.bytes)
			if len(s) != c.chars {
				t.Fatalf("len(NewSecret(%d)) = %d, want %d", c.bytes, len(s), c.chars)
			}
			if !base64url.MatchString(s) {
				t.Fatalf("NewSecret(%d) = %q has characters outside base64url without padding", c.bytes, s)
			}
			raw, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil || len(raw) != c.bytes {
				t.Fatalf("NewSecret(%d) decodes to %d bytes (err %v), want %d", c.bytes, len(raw), err, c.bytes)
			}
		})
	}
}

func TestNewSecretIsUnique(t *testing.T) {
	// 128 random bits: a repeat among a few thousand draws would mean the
	// source is not random at all, not bad luck.
	seen := make(map[string]bool)
	for range 5000 {
		s := storage.NewSecret(16)
		if seen[s] {
			t.Fatalf("NewSecret(16) repeated %q", s)
		}
		seen[s] = true
	}
}

func TestNewSecretUsesTheWholeAlphabet(t *testing.T) {
	// Every one of the 64 characters appears over enough draws; a mapping
	// bug (say, a constant byte or a wrong alphabet) would leave gaps.
	seen := make(map[rune]bool)
	for range 200 {
		for _, r := range storage.NewSecret(32) {
			seen[r] = true
		}
	}
	if len(seen) != 64 {
		t.Fatalf("saw %d distinct characters in 200 secrets, want all 64", len(seen))
	}
}

func TestHash(t *testing.T) {
	// FIPS 180-2 test vector for SHA-256("abc").
	if got := hex.EncodeToString(storage.Hash("abc")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf(`Hash("abc") = %s`, got)
	}
	if n := len(storage.Hash(storage.NewSecret(32))); n != sha256.Size {
		t.Fatalf("len(Hash) = %d, want %d", n, sha256.Size)
	}
	if string(storage.Hash("a")) == string(storage.Hash("b")) {
		t.Fatal(`Hash("a") == Hash("b")`)
	}
}
