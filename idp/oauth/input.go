package oauth

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// CheckInput is the one rule every identifier, parameter and header value
// from outside passes before it may reach the store (SPEC §7): valid
// UTF-8, no NUL, at most max bytes. PostgreSQL's text type holds neither
// NUL nor invalid UTF-8 (it answers SQLSTATE 22021, which used to become a
// 500 carrying the database's words); the length bounds what a stranger
// can make the server keep or look up. name is the parameter or header the
// value came in, for the description. The answer is 400 invalid_request.
func CheckInput(name, value string, max int) *Error {
	switch {
	case len(value) > max:
		return New(InvalidRequest, SafeName(name)+" is too long (at most "+strconv.Itoa(max)+" bytes)")
	case !utf8.ValidString(value):
		return New(InvalidRequest, SafeName(name)+" is not valid UTF-8")
	case strings.IndexByte(value, 0) >= 0:
		return New(InvalidRequest, SafeName(name)+" must be valid UTF-8 without NUL")
	}
	return nil
}

// SafeName keeps a client-supplied name printable ASCII and short before
// it is echoed in an error description or a header.
func SafeName(k string) string {
	if len(k) > 40 {
		k = k[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, k)
}

// CheckJSON applies the rule to a JSON body before it is decoded:
// encoding/json would replace invalid UTF-8 by U+FFFD without a word, and
// decode the escape \u0000 into a NUL. (A body holding the six characters
// \u0000 escaped as text is refused too; no field of ours needs them.)
func CheckJSON(body []byte) *Error {
	if !utf8.Valid(body) {
		return New(InvalidRequest, "the body is not valid UTF-8")
	}
	if bytes.Contains(body, []byte(`\u0000`)) || bytes.IndexByte(body, 0) >= 0 {
		return New(InvalidRequest, "the body must be valid UTF-8 without NUL")
	}
	return nil
}
