package password

import (
	"errors"
	"strings"
	"testing"
)

func TestHashFormat(t *testing.T) {
	h, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	if !strings.HasPrefix(h, prefix) {
		t.Fatalf("hash %q does not start with %q", h, prefix)
	}
	parts := strings.Split(h, "$")
	if len(parts[4]) != 22 || len(parts[5]) != 43 {
		t.Errorf("salt/hash lengths %d/%d, want 22/43 base64 characters (16/32 bytes)", len(parts[4]), len(parts[5]))
	}
}

func TestHashUsesFreshSalt(t *testing.T) {
	a, _ := Hash("same password")
	b, _ := Hash("same password")
	if a == b {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestVerify(t *testing.T) {
	h, err := Hash("pässwörd 🔑")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		password string
		want     bool
	}{
		{"the right password matches", "pässwörd 🔑", true},
		{"a wrong password does not match", "passwörd 🔑", false},
		{"the empty password does not match", "", false},
		{"a prefix of the password does not match", "pässwörd", false},
		{"a password with a trailing space does not match", "pässwörd 🔑 ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(h, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

// A hash made elsewhere (the argon2 reference CLI, `echo -n password |
// argon2 somesalt -id -t 2 -m 16 -p 1 -l 32 -e`) verifies: the encoding is
// the interoperable PHC string, not a private one.
func TestVerifyReferenceVector(t *testing.T) {
	const ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, err := Verify(ref, "password")
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatal("reference vector does not verify")
	}
}

func TestVerifyRejectsMalformed(t *testing.T) {
	const salt, key = "c29tZXNhbHQ", "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	tests := []struct{ name, encoded string }{
		{"empty string", ""},
		{"bcrypt hash", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i instead of argon2id", "$argon2i$v=19$m=65536,t=2,p=1$" + salt + "$" + key},
		{"argon2d instead of argon2id", "$argon2d$v=19$m=65536,t=2,p=1$" + salt + "$" + key},
		{"old version 16", "$argon2id$v=16$m=65536,t=2,p=1$" + salt + "$" + key},
		{"missing version", "$argon2id$m=65536,t=2,p=1$" + salt + "$" + key},
		{"parameters out of order", "$argon2id$v=19$t=2,m=65536,p=1$" + salt + "$" + key},
		{"missing parameter", "$argon2id$v=19$m=65536,t=2$" + salt + "$" + key},
		{"extra parameter", "$argon2id$v=19$m=65536,t=2,p=1,k=1$" + salt + "$" + key},
		{"zero iterations", "$argon2id$v=19$m=65536,t=0,p=1$" + salt + "$" + key},
		{"zero lanes", "$argon2id$v=19$m=65536,t=2,p=0$" + salt + "$" + key},
		{"negative memory", "$argon2id$v=19$m=-1,t=2,p=1$" + salt + "$" + key},
		{"signed memory", "$argon2id$v=19$m=+65536,t=2,p=1$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=065536,t=2,p=1$" + salt + "$" + key},
		{"memory overflowing uint32", "$argon2id$v=19$m=4294967296,t=2,p=1$" + salt + "$" + key},
		{"memory above the cap", "$argon2id$v=19$m=1048576,t=2,p=1$" + salt + "$" + key},
		{"memory below 8 KiB per lane", "$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key},
		{"too many iterations", "$argon2id$v=19$m=65536,t=1000,p=1$" + salt + "$" + key},
		{"too many lanes (uint8 overflow)", "$argon2id$v=19$m=65536,t=2,p=256$" + salt + "$" + key},
		{"salt with padding", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ=$" + key},
		{"salt not base64", "$argon2id$v=19$m=65536,t=2,p=1$!!!!!!!!$" + key},
		{"salt too short", "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$" + key},
		{"empty hash", "$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$"},
		{"hash too short", "$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$c2hvcnQ"},
		{"trailing field", "$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + key + "$"},
		{"no leading dollar", "argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := Verify(tt.encoded, "password")
			if ok || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify(%q) = %v, %v; want false, ErrMalformed", tt.encoded, ok, err)
			}
		})
	}
}

func TestDummyVerifyCostsAVerify(t *testing.T) {
	// Not a timing assertion (those flake): it checks that the dummy hash
	// is a real hash with today's parameters, so DummyVerify runs the same
	// argon2id work as a real check.
	p, _, _, err := decode(dummyHash())
	if err != nil {
		t.Fatal(err)
	}
	if p != (params{memory: memoryKiB, time: iterations, lanes: lanes}) {
		t.Fatalf("dummy hash parameters %+v differ from Hash's", p)
	}
}

func BenchmarkVerify(b *testing.B) {
	h, _ := Hash("benchmark password")
	for b.Loop() {
		_, _ = Verify(h, "benchmark password")
	}
}

// FuzzVerify checks that no encoded string makes Verify panic, and that
// whatever it accepts it accepts consistently: a hash Verify parses
// re-encodes to itself (the parser is strict, one spelling per value).
func FuzzVerify(f *testing.F) {
	h, _ := Hash("seed")
	for _, s := range []string{
		h,
		"$argon2id$v=19$m=16,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$c2hvcnRoYXNoc2hvcnRoYXNo",
		"",
		"$",
		"$argon2id$v=19$m=,t=,p=$$",
		"$argon2id$v=19$m=4294967295,t=4294967295,p=255$c29tZXNhbHQ$c2hvcnQ",
	} {
		f.Add(s, "seed")
	}
	f.Fuzz(func(t *testing.T, encoded, pw string) {
		p, salt, key, err := decode(encoded)
		if err != nil {
			if ok, verr := Verify(encoded, pw); ok || verr == nil {
				t.Fatalf("decode failed (%v) but Verify = %v, %v", err, ok, verr)
			}
			return
		}
		if re := encode(p, salt, key); re != encoded {
			t.Fatalf("accepted %q, which re-encodes as %q", encoded, re)
		}
		// Keep the fuzzer fast: only run argon2 for cheap parameters.
		if p.memory <= 64 && p.time <= 2 {
			if _, err := Verify(encoded, pw); err != nil {
				t.Fatalf("decode accepted %q but Verify failed: %v", encoded, err)
			}
		}
	})
}
