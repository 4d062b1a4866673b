package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Parameters of new hashes: the OWASP Password Storage Cheat Sheet's
// first argon2id configuration (19 MiB, 2 iterations, 1 lane), about
// 19 ms on one core of the reference machine.
const (
	memoryKiB  = 19 * 1024
	iterations = 2
	lanes      = 1
	saltLen    = 16 // RFC 9106 §3.1 recommends 128 bits
	keyLen     = 32
)

// Bounds Verify accepts, so that a corrupt or hostile stored hash cannot
// make one check allocate gigabytes or run for minutes. They leave room
// for stronger parameters than today's.
const (
	maxMemoryKiB  = 256 * 1024
	maxIterations = 16
	maxLanes      = 16
	minSaltLen    = 8 // RFC 9106 §3.1: at least 8 bytes
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 64
)

// ErrMalformed is wrapped by Verify's error when the encoded hash is not
// an argon2id PHC string within the accepted bounds.
var ErrMalformed = errors.New("password: malformed argon2id hash")

// b64 is the PHC string format's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding.Strict()

// Hash returns the argon2id hash of password as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>. Each call uses a fresh
// random salt. The error is reserved for future parameter checks; today
// Hash always succeeds.
func Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(salt)
	p := params{memory: memoryKiB, time: iterations, lanes: lanes}
	return encode(p, salt, derive(password, salt, p, keyLen)), nil
}

// Verify reports whether password matches the encoded hash. The derived
// key is compared in constant time. A malformed encoding gives false and
// an error wrapping ErrMalformed, never a panic; a mismatch is false, nil.
func Verify(encoded, password string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := derive(password, salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is a hash of a random password nobody knows, made once.
var dummyHash = sync.OnceValue(func() string {
	h, _ := Hash(rand.Text())
	return h
})

type params struct {
	memory uint32 // KiB
	time   uint32
	lanes  uint8
}

func derive(password string, salt []byte, p params, n uint32) []byte {
	return argon2.IDKey([]byte(password), salt, p.time, p.memory, p.lanes, n)
}

func encode(p params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.lanes, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses a PHC string strictly: the fields in the order Hash writes
// them, decimal numbers without signs or leading zeros, canonical base64.
func decode(encoded string) (params, []byte, []byte, error) {
	var p params
	fail := func(why string) (params, []byte, []byte, error) {
		return params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformed, why)
	}
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return fail("want 5 $-separated fields")
	}
	if parts[1] != "argon2id" {
		return fail("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("unsupported version")
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return fail("want parameters m, t, p")
	}
	m, ok := number(kv[0], "m=", maxMemoryKiB)
	if !ok {
		return fail("bad memory parameter")
	}
	t, ok := number(kv[1], "t=", maxIterations)
	if !ok || t < 1 {
		return fail("bad time parameter")
	}
	l, ok := number(kv[2], "p=", maxLanes)
	if !ok || l < 1 {
		return fail("bad parallelism parameter")
	}
	// RFC 9106 §3.1: memory must be at least 8 KiB per lane.
	if m < 8*l {
		return fail("memory below 8 KiB per lane")
	}
	p = params{memory: m, time: t, lanes: uint8(l)}
	salt, ok := base64Field(parts[4], minSaltLen, maxSaltLen)
	if !ok {
		return fail("bad salt")
	}
	key, ok := base64Field(parts[5], minKeyLen, maxKeyLen)
	if !ok {
		return fail("bad hash")
	}
	return p, salt, key, nil
}

// base64Field decodes s, requiring the canonical spelling: the decoder
// skips CR and LF even in strict mode, and a hash must have one spelling.
func base64Field(s string, minLen, maxLen int) ([]byte, bool) {
	b, err := b64.DecodeString(s)
	if err != nil || len(b) < minLen || len(b) > maxLen || b64.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// number parses "<prefix><decimal>" with 0 < len(decimal) and no leading
// zero, at most limit.
func number(s, prefix string, limit uint32) (uint32, bool) {
	d, ok := strings.CutPrefix(s, prefix)
	if !ok || d == "" || len(d) > 10 || (len(d) > 1 && d[0] == '0') {
		return 0, false
	}
	for _, c := range []byte(d) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(d, 10, 32)
	if err != nil || n > uint64(limit) {
		return 0, false
	}
	return uint32(n), true
}

// MinLength is the shortest password accepted for an account, in
// characters (NIST SP 800-63B §3.1.1.2: at least 8).
const MinLength = 8

// CheckPolicy says why pw cannot be an account's password, or nil. The
// message is safe to show and never contains the password. Every place
// that sets a password (admin creation and update, the phone's own
// change) applies it.
func CheckPolicy(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinLength:
		return fmt.Errorf("password must be at least %d characters", MinLength)
	case len(pw) > MaxLength:
		// The sign-in form refuses longer passwords before hashing them:
		// such a user could never sign in.
		return fmt.Errorf("password must be at most %d bytes", MaxLength)
	}
	return nil
}
