package grants

import (
	"crypto/rand"
	"math/big"
	"net/url"
	"strings"
)

// userCodeAlphabet is RFC 8628 §6.1's base-20 consonant set: no vowels (no
// words), no easily confused characters. 20^8 ≈ 2^34.6 codes; brute force
// is stopped by the short lifetime and the rate limit on /device.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

const userCodeLen = 8

// qrIDLen is the length of a qr_id: 16 random bytes (128 bits, F3) in
// unpadded base64url.
const qrIDLen = 22

// newUserCode returns 8 characters from the alphabet, uniformly.
func newUserCode() string {
	var b strings.Builder
	max := big.NewInt(int64(len(userCodeAlphabet)))
	for range userCodeLen {
		n, _ := rand.Int(rand.Reader, max) // never fails: see storage.NewSecret
		b.WriteByte(userCodeAlphabet[n.Int64()])
	}
	return b.String()
}

// FormatUserCode shows a stored user code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != userCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// NormalizeUserCode turns what a person typed into the stored form:
// upper case, dashes and spaces dropped (RFC 8628 §6.1). It reports false
// when the result cannot be a user code.
func NormalizeUserCode(typed string) (string, bool) {
	if len(typed) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r < 128 && strings.IndexByte(userCodeAlphabet, byte(r)) >= 0:
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != userCodeLen {
		return "", false
	}
	return b.String(), true
}

// ParseQRPayload extracts the qr_id from what the phone scanned: the
// verification_uri_complete (issuer + "/q/" + qr_id) or the bare qr_id.
// A URL must carry this OP's issuer exactly: a QR pointing elsewhere is
// not ours, whatever id it holds.
func ParseQRPayload(payload, issuer string) (string, bool) {
	payload = strings.TrimSpace(payload)
	if len(payload) > 2048 {
		return "", false
	}
	id := payload
	if strings.Contains(payload, "/") {
		prefix := strings.TrimSuffix(issuer, "/") + "/q/"
		if !strings.HasPrefix(payload, prefix) {
			return "", false
		}
		id = payload[len(prefix):]
		if u, err := url.Parse(payload); err != nil || u.RawQuery != "" || u.Fragment != "" {
			return "", false
		}
	}
	if !validQRID(id) {
		return "", false
	}
	return id, true
}

func validQRID(id string) bool {
	if len(id) != qrIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
