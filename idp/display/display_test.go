package display

import (
	"errors"
	"strings"
	"testing"
)

// The characters issue 8 (finding 8) names, and their relatives: each
// must be refused by Check and removed by Clean.
var spoofers = map[string]rune{
	"RIGHT-TO-LEFT OVERRIDE":      '\u202E',
	"LEFT-TO-RIGHT EMBEDDING":     '\u202A',
	"RIGHT-TO-LEFT ISOLATE":       '\u2067',
	"POP DIRECTIONAL ISOLATE":     '\u2069',
	"RIGHT-TO-LEFT MARK":          '\u200F',
	"ARABIC LETTER MARK":          '\u061C',
	"ZERO WIDTH SPACE":            '\u200B',
	"ZERO WIDTH JOINER":           '\u200D',
	"WORD JOINER":                 '\u2060',
	"BYTE ORDER MARK":             '\uFEFF',
	"SOFT HYPHEN":                 '\u00AD',
	"COMBINING GRAPHEME JOINER":   '\u034F',
	"HANGUL FILLER":               '\u3164',
	"VARIATION SELECTOR-16":       '\uFE0F',
	"TAG LATIN SMALL LETTER A":    '\U000E0061',
	"LINE SEPARATOR":              '\u2028',
	"ESCAPE (terminal sequences)": '\x1b',
}

func TestCheckRefusesEverySpoofingCharacter(t *testing.T) {
	for name, r := range spoofers {
		s := "Your " + string(r) + "Bank"
		err := Check(s)
		if err == nil {
			t.Errorf("%s (U+%04X) passed Check", name, r)
			continue
		}
		if !errors.Is(err, ErrUnsafe) {
			t.Errorf("%s: error does not wrap ErrUnsafe: %v", name, err)
		}
		if strings.ContainsRune(err.Error(), r) {
			t.Errorf("%s: the error repeats the character: %q", name, err)
		}
		if got := Clean(s, 0); got != "Your Bank" {
			t.Errorf("Clean with %s = %q, want %q", name, got, "Your Bank")
		}
	}
}

func TestCheckAcceptsOrdinaryText(t *testing.T) {
	for _, s := range []string{"Example Shop", "Café Zürich", "東京銀行", "בנק לאומי", "Ünïcødé & Co. — №1", "https://shop.example/a?b=c"} {
		if err := Check(s); err != nil {
			t.Errorf("Check(%q) = %v", s, err)
		}
		if got := Clean(s, 0); got != s {
			t.Errorf("Clean(%q) = %q", s, got)
		}
	}
	if err := Check("bad \xff utf-8"); err == nil {
		t.Error("invalid UTF-8 passed Check")
	}
}

func TestCleanCollapsesSpaceAndCutsOnACharacterBoundary(t *testing.T) {
	if got := Clean("  a\t\n b \u2028 c  ", 0); got != "a b c" {
		t.Errorf("Clean = %q", got)
	}
	if got := Clean("ééé", 5); got != "éé" {
		t.Errorf("Clean cut = %q, want two whole characters", got)
	}
	// The space before a word counts against the cap: "ab c" cut to 3
	// is "ab", not "ab c" (a fuzzed user agent's summary came out 65
	// bytes for a cap of 64).
	if got := Clean("ab c", 3); got != "ab" {
		t.Errorf("Clean cut with a space = %q, want %q", got, "ab")
	}
	if got := Clean("a\xffb", 0); got != "ab" {
		t.Errorf("Clean kept invalid UTF-8: %q", got)
	}
}

func TestParseUserAgentSummaries(t *testing.T) {
	for _, c := range []struct{ ua, want string }{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36", "Chrome on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15", "Safari on macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1", "Safari on iOS"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", "Firefox on Linux"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Mobile Safari/537.36", "Chrome on Android"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0", "Edge on Windows"},
	} {
		if got := ParseUserAgent(c.ua); got.Summary != c.want || got.Raw != c.ua {
			t.Errorf("ParseUserAgent(%.50q…) = %+v, want summary %q", c.ua, got, c.want)
		}
	}
	if got := ParseUserAgent(""); got != (UserAgent{}) {
		t.Errorf("empty user agent: %+v", got)
	}
	// A spoofing user agent: the raw string loses its override, and the
	// summary never carries one.
	got := ParseUserAgent("Mozilla/5.0 (Windows NT 10.0) Chrome/140.0 \u202Eevil\u200B")
	if Check(got.Raw) != nil || Check(got.Summary) != nil {
		t.Errorf("unsafe characters survived: %+v", got)
	}
	if long := ParseUserAgent(strings.Repeat("A", 2000)); len(long.Raw) != MaxUserAgent || len(long.Summary) > 64 {
		t.Errorf("lengths not capped: raw %d, summary %d", len(long.Raw), len(long.Summary))
	}
}

func FuzzParseUserAgent(f *testing.F) {
	f.Add("Mozilla/5.0 (Windows NT 10.0) Chrome/140.0")
	f.Add("\u202E\u200B\xff")
	f.Fuzz(func(t *testing.T, ua string) {
		got := ParseUserAgent(ua)
		if Check(got.Raw) != nil || Check(got.Summary) != nil || len(got.Raw) > MaxUserAgent || len(got.Summary) > 64 {
			t.Fatalf("ParseUserAgent(%q) = %+v", ua, got)
		}
	})
}
