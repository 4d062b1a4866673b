// Package display owns the rules for text that qrlogin shows a person
// who must decide on it: client names and URIs on the confirm screen, the
// user agent and address of the browser asking to sign in. It decides
// which characters may reach a page or a terminal (Check, Clean) and
// turns a User-Agent into a short summary ("Chrome on Windows"). It
// leaves escaping to html/template and JSON encoding, and input limits of
// the protocol to the handlers.
//
// Why: escaping stops markup, not spoofing. A client named
// "\u202Eknab ruoY" is escaped correctly and still shows "Your Bank";
// zero-width characters make two names look alike. So such characters
// are refused where an administrator registers text, and stripped where
// text comes from outside (a user agent reported by a relying party).
package display

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mileusna/useragent"
)

// Unsafe reports whether r must never be shown to a person deciding on a
// sign-in: control characters (Cc), format characters (Cf: the bidi
// embeddings, overrides and isolates U+202A–202E and U+2066–2069, the
// marks U+200E, U+200F and U+061C, zero-width U+200B–200D, U+2060–2064,
// U+FEFF, the tag characters U+E0000–E007F, …), line and paragraph
// separators (Zl, Zp), and the other default-ignorable code points, which
// render as nothing (U+034F, U+115F, U+1160, U+3164, U+FFA0, variation
// selectors, …). Unicode's Default_Ignorable_Code_Point is the Cf, the
// Other_Default_Ignorable_Code_Point and the Variation_Selector sets.
func Unsafe(r rune) bool {
	return r == utf8.RuneError ||
		unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp,
			unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// ErrUnsafe is wrapped by Check's errors.
var ErrUnsafe = errors.New("invisible or direction-changing character")

// Check returns an error naming the first unsafe character of s (as
// U+XXXX), or invalid UTF-8; nil when s may be shown as it is. The
// message is safe to send back: it never repeats s.
func Check(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	for i, r := range s {
		if Unsafe(r) {
			return fmt.Errorf("contains U+%04X at byte %d: an %w is not allowed (it can make text read differently from what it is)", r, i, ErrUnsafe)
		}
	}
	return nil
}

// Clean returns s without its unsafe characters (invalid UTF-8 dropped
// too), with runs of white space made one space, trimmed, and cut to at
// most max bytes on a character boundary (max <= 0: no cut).
func Clean(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, "") {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case Unsafe(r):
			continue
		}
		n := utf8.RuneLen(r)
		if space {
			n++ // the pending space counts against max too
		}
		if max > 0 && b.Len()+n > max {
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// MaxUserAgent is how much of a user agent qrlogin keeps and shows.
const MaxUserAgent = 512

// UserAgent is what the confirm screen shows of a browser: the raw string,
// cleaned, and its summary.
type UserAgent struct {
	Raw     string // cleaned, at most MaxUserAgent bytes
	Summary string // "Chrome on Windows"; "" when there is no user agent
}

// ParseUserAgent cleans ua and summarises it as "<browser> on <OS>"
// ("Chrome on Windows", "Safari on iOS"). It uses
// github.com/mileusna/useragent: a small, dependency-free parser whose
// tables cover the browsers and systems people use, so qrlogin keeps no
// table of its own. The summary is made of the parser's names and is
// cleaned and capped again: for browsers it does not know, the parser
// echoes a token of the input.
func ParseUserAgent(ua string) UserAgent {
	raw := Clean(ua, MaxUserAgent)
	if raw == "" {
		return UserAgent{}
	}
	p := useragent.Parse(raw)
	name := p.Name
	if name == "" || name == useragent.Mozilla {
		name = "Unknown browser"
	}
	summary := name
	if p.OS != "" && p.OS != name {
		summary += " on " + p.OS
	}
	return UserAgent{Raw: raw, Summary: Clean(summary, 64)}
}
