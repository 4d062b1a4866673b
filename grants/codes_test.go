package grants

import (
	"strings"
	"testing"
)

func TestUserCodeAlphabetAndNormalisation(t *testing.T) {
	for range 200 {
		c := newUserCode()
		if len(c) != 8 || strings.Trim(c, userCodeAlphabet) != "" {
			t.Fatalf("user code %q outside the alphabet", c)
		}
		shown := FormatUserCode(c)
		for _, typed := range []string{shown, strings.ToLower(shown), c, " " + shown[:4] + " - " + shown[5:] + " "} {
			if got, ok := NormalizeUserCode(typed); !ok || got != c {
				t.Fatalf("NormalizeUserCode(%q) = %q, %v; want %q", typed, got, ok, c)
			}
		}
	}
	for _, bad := range []string{"", "BCDF", "BCDFGHJKL", "BCDF-GHJA", "ÄCDFGHJK", "BCDF_GHJK", strings.Repeat("B", 100)} {
		if got, ok := NormalizeUserCode(bad); ok {
			t.Errorf("NormalizeUserCode(%q) = %q, accepted", bad, got)
		}
	}
}

func TestParseQRPayload(t *testing.T) {
	const iss = "https://op.example"
	const id = "AbCdEfGhIjKlMnOpQrStUv"
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{iss + "/q/" + id, id, true},
		{id, id, true},
		{"  " + id + "\n", id, true},
		{"https://evil.example/q/" + id, "", false},
		{iss + "/q/" + id + "?x=1", "", false},
		{iss + "/q/" + id + "#f", "", false},
		{iss + "/q/" + id + "/", "", false},
		{iss + "/q/../q/" + id, "", false},
		{id[:21], "", false},
		{id + "A", "", false},
		{"AbCdEfGhIjKlMnOpQrSt+/", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		got, ok := ParseQRPayload(c.in, iss)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseQRPayload(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func FuzzParseQRPayload(f *testing.F) {
	const iss = "https://op.example"
	for _, s := range []string{iss + "/q/AbCdEfGhIjKlMnOpQrStUv", "AbCdEfGhIjKlMnOpQrStUv", "https://x/q/", "%zz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		id, ok := ParseQRPayload(in, iss)
		if !ok {
			return
		}
		// Whatever is accepted is a well-formed qr_id that the input carries.
		if !validQRID(id) || !strings.Contains(in, id) {
			t.Fatalf("accepted %q as %q", in, id)
		}
		if again, ok := ParseQRPayload(id, iss); !ok || again != id {
			t.Fatalf("the bare id %q does not parse", id)
		}
	})
}

func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "", "ÄÖ", "----"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, ok := NormalizeUserCode(in)
		if !ok {
			return
		}
		if len(c) != userCodeLen || strings.Trim(c, userCodeAlphabet) != "" {
			t.Fatalf("NormalizeUserCode(%q) = %q", in, c)
		}
		if again, ok := NormalizeUserCode(FormatUserCode(c)); !ok || again != c {
			t.Fatalf("not idempotent on %q", c)
		}
	})
}
