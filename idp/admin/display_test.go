package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Issue 8, finding 8: a client whose name or URIs carry bidirectional
// controls or invisible characters would show one thing on the confirm
// screen and be another ("\u202Eknab ruoY" reads "Your Bank"). The admin
// API refuses them with 400 invalid_client_metadata naming the field and
// the code point, and stores nothing; users' names likewise.
func TestRegistrationRefusesBidiAndInvisibleCharacters(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	for _, r := range []rune{'\u202E', '\u202A', '\u2066', '\u2069', '\u200B', '\u200F', '\uFEFF', '\u2060', '\U000E0041', '\u3164'} {
		for _, field := range []string{"name", "client_uri", "logo_uri"} {
			t.Run(fmt.Sprintf("%s U+%04X", field, r), func(t *testing.T) {
				req := map[string]any{"name": "Your Bank", "redirect_uris": []string{"https://bank.example/cb"}}
				switch field {
				case "name":
					req["name"] = "Your" + string(r) + " Bank"
				default:
					req[field] = "https://bank.example/" + string(r) + "x"
				}
				body, _ := json.Marshal(req)
				a := h.do(t, "POST", "/admin/v1/clients", tok, string(body))
				a.expectError(t, http.StatusBadRequest, "invalid_client_metadata")
				desc, _ := a.json(t)["error_description"].(string)
				if !strings.Contains(desc, field) || !strings.Contains(desc, fmt.Sprintf("U+%04X", r)) {
					t.Errorf("the description does not say which field and character: %q", desc)
				}
				if strings.ContainsRune(desc, r) {
					t.Errorf("the description repeats the character: %q", desc)
				}
			})
		}
	}
	list := h.do(t, "GET", "/admin/v1/clients", tok, "")
	if n := len(list.json(t)["clients"].([]any)); n != 0 {
		t.Fatalf("%d clients were stored from refused registrations", n)
	}

	a := h.do(t, "POST", "/admin/v1/users", tok, `{"username":"mallory","password":"long-enough-pw","name":"Admin\u202e"}`)
	a.expectError(t, http.StatusBadRequest, "invalid_request")
	a = h.do(t, "POST", "/admin/v1/users", tok, `{"username":"al\u200bice","password":"long-enough-pw"}`)
	a.expectError(t, http.StatusBadRequest, "invalid_request")

	// Ordinary text in any script is fine, right-to-left included.
	a = h.do(t, "POST", "/admin/v1/clients", tok, `{"name":"בנק לאומי — Café","redirect_uris":["https://bank.example/cb"],"client_uri":"https://bank.example/"}`)
	if a.status != http.StatusCreated {
		t.Fatalf("an ordinary right-to-left name was refused: %d %s", a.status, a.body)
	}
}
