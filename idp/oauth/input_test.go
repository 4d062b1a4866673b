package oauth

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// CheckInput accepts exactly the values that are valid UTF-8, hold no NUL
// and fit in max bytes; its description never echoes anything but
// printable ASCII of the name.
func FuzzCheckInput(f *testing.F) {
	for _, s := range []struct {
		name, value string
		max         int
	}{
		{"client_id", "rp", 128}, {"client_id", "a\x00b", 128}, {"id", "\xff", 64}, {"state", strings.Repeat("x", 65), 64},
		{"na\x00me\xff\"\\", "v", 1}, {"", "", 0}, {"scope", "é", 1},
	} {
		f.Add(s.name, s.value, s.max)
	}
	f.Fuzz(func(t *testing.T, name, value string, max int) {
		err := CheckInput(name, value, max)
		want := utf8.ValidString(value) && !strings.ContainsRune(value, 0) && len(value) <= max
		if (err == nil) != want {
			t.Fatalf("CheckInput(%q, %q, %d) = %v", name, value, max, err)
		}
		if err == nil {
			return
		}
		if err.Code != InvalidRequest || err.Status != 400 {
			t.Fatalf("answer %d %s", err.Status, err.Code)
		}
		for _, c := range []byte(err.Description) {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("description %q echoes a byte outside printable ASCII", err.Description)
			}
		}
	})
}

// A JSON body CheckJSON accepts decodes to strings without NUL and, when
// it decodes at all, without a replacement the body did not hold.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"qr":"x"}`, `{"qr":"\u0000"}`, "{\"qr\":\"\xff\"}", `{"qr":"\\u0000"}`, `{"a":["\ufffd"]}`, `[`, "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if CheckJSON(body) != nil {
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted invalid UTF-8 %q", body)
		}
		var v any
		if json.Unmarshal(body, &v) != nil {
			return
		}
		var walk func(any)
		walk = func(v any) {
			switch v := v.(type) {
			case string:
				if strings.ContainsRune(v, 0) {
					t.Fatalf("accepted %q, which decodes to a NUL", body)
				}
			case []any:
				for _, e := range v {
					walk(e)
				}
			case map[string]any:
				for k, e := range v {
					walk(k)
					walk(e)
				}
			}
		}
		walk(v)
	})
}
