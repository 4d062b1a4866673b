package admin

import (
	"strings"
	"testing"

	"github.com/qrlogin/qrlogin/storage/memory"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// Issue 8, finding 6: GET /admin/v1/clients/%00 reached PostgreSQL and
// came back a 500. Ids in the path and string fields of a JSON body are
// checked by the edge's rule first: valid UTF-8, no NUL, bounded.
func TestBadBytesNeverReachTheStore(t *testing.T) {
	for name, h := range map[string]func(t *testing.T) *harness{
		"memory":   func(t *testing.T) *harness { return newHarnessOn(t, memory.New()) },
		"postgres": func(t *testing.T) *harness { return newHarnessOn(t, pgtest.NewStore(t)) },
	} {
		t.Run(name, func(t *testing.T) {
			h := h(t)
			tok := h.token(t)
			long := strings.Repeat("a", 257)
			for _, tc := range []struct{ name, method, path, body, says string }{
				{"GET a client named NUL", "GET", "/admin/v1/clients/%00", "", "UTF-8"},
				{"GET a client named invalid UTF-8", "GET", "/admin/v1/clients/%ff", "", "UTF-8"},
				{"GET a client with an over-long id", "GET", "/admin/v1/clients/" + long, "", "too long"},
				{"DELETE a client named NUL", "DELETE", "/admin/v1/clients/a%00b", "", "UTF-8"},
				{"rotate the secret of a client named NUL", "POST", "/admin/v1/clients/%00/secret", "", "UTF-8"},
				{"DELETE a user named invalid UTF-8", "DELETE", "/admin/v1/users/%ff%fe", "", "UTF-8"},
				{"a client name with a NUL escape", "POST", "/admin/v1/clients", `{"name":"Shop\u0000"}`, "NUL"},
				{"a user name with invalid UTF-8", "POST", "/admin/v1/users", "{\"username\":\"bob\xff\",\"password\":\"long-enough-1\"}", "UTF-8"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					a := h.do(t, tc.method, tc.path, tok, tc.body)
					a.expectError(t, 400, "invalid_request")
					if !strings.Contains(string(a.body), tc.says) {
						t.Fatalf("the answer does not say what is wrong: %s", a.body)
					}
				})
			}
		})
	}
}

// Every error of the listener is the API's JSON, also for a path or a
// method no route takes (found by FuzzAdminAPI: ServeMux answered those in
// plain text; the input is kept in testdata/fuzz/FuzzAdminAPI).
func TestUnknownRoutesAnswerJSON(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	h.do(t, "GET", "/admin/v1/nope", tok, "").expectError(t, 404, "not_found")
	h.do(t, "GET", "/elsewhere", "", "").expectError(t, 404, "not_found")
	a := h.do(t, "PUT", "/admin/v1/clients", tok, "")
	a.expectError(t, 405, "method_not_allowed")
	if allow := a.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Fatalf("Allow %q", allow)
	}
}
