package idp

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// parseScopes (RFC 6749 §3.3) grants only scopes it knows, each once,
// offline_access only to a client that may refresh, never qr:approve (to
// a relying party, in either flow); any other input is invalid_scope with
// a description of printable ASCII.
func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"", "openid", "openid profile email offline_access", "openid  openid", "qr:approve",
		"openid\tprofile", "admin", strings.Repeat("openid ", 200), "offline_access", "\xff", "email\x00"} {
		f.Add(s, true, true)
		f.Add(s, false, false)
	}
	f.Fuzz(func(t *testing.T, raw string, refresh, byQR bool) {
		c := &storage.Client{ID: "rp", GrantTypes: []string{GrantQR}}
		if refresh {
			c.GrantTypes = append(c.GrantTypes, "refresh_token")
		}
		got, err := parseScopes(c, raw, byQR)
		if err != nil {
			var e *oauth.Error
			if !errors.As(err, &e) || e.Code != oauth.InvalidScope || e.Status != 400 {
				t.Fatalf("parseScopes(%q): %v", raw, err)
			}
			for _, b := range []byte(e.Description) {
				if b < 0x20 || b > 0x7e {
					t.Fatalf("description %q", e.Description)
				}
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("parseScopes(%q) granted nothing", raw)
		}
		for i, sc := range got {
			switch {
			case !slices.Contains([]string{"openid", "profile", "email", "offline_access"}, sc),
				sc == "offline_access" && !refresh,
				slices.Contains(got[:i], sc),
				raw != "" && sc != "openid" && !slices.Contains(strings.Split(raw, " "), sc):
				t.Fatalf("parseScopes(%q, refresh=%v) = %q", raw, refresh, got)
			}
		}
	})
}
