package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/qrlogin/qrlogin/idp/oauth"
)

// FuzzRedirectURI checks that whatever checkURI accepts as a redirect URI
// is absolute, https or loopback http, without fragment or credentials.
func FuzzRedirectURI(f *testing.F) {
	for _, s := range []string{
		"https://rp.example/cb", "http://127.0.0.1:8080/cb", "http://[::1]/cb", "http://localhost/cb",
		"http://rp.example/cb", "https://rp.example/cb#frag", "https://u:p@rp.example/", "https:///x",
		"javascript:alert(1)", "HTTPS://RP.EXAMPLE/", "http://127.0.0.1.nip.io/", "http://[::1%25eth0]/",
		"https://rp.example/%zz", "//rp.example/cb", "https://:443/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if checkURI(raw, true) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", raw, err)
		}
		if strings.Contains(raw, "#") || u.User != nil || u.Hostname() == "" {
			t.Fatalf("accepted %q: fragment, credentials or no host", raw)
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
			t.Fatalf("accepted %q: scheme %q on host %q", raw, u.Scheme, u.Hostname())
		}
	})
}

// FuzzClientRequest feeds arbitrary JSON through the creation path's
// decoding and validation: never a panic, and an accepted client has a
// name, a known type and grants, and a redirect URI when it may use the
// code flow.
func FuzzClientRequest(f *testing.F) {
	for _, s := range []string{
		`{"name":"n"}`,
		`{"name":"n","type":"public","redirect_uris":["http://localhost/cb"],"grant_types":["authorization_code"]}`,
		`{"name":"n","grant_types":["authorization_code"]}`,
		`{"client_id":"abc","name":"n","logo_uri":"https://a.example/l.png","access_token_type":"jwt"}`,
		`{"name":"n","redirect_uris":null,"grant_types":[]}`,
		`null`, `[]`, `{"name":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var req clientRequest
		if json.Unmarshal([]byte(body), &req) != nil {
			return
		}
		c, err := newClient(&req)
		if err != nil {
			if _, ok := err.(*metadataError); !ok {
				t.Fatalf("error %v is not a metadataError", err)
			}
			return
		}
		if c.Name == "" || (c.Type != "confidential" && c.Type != "public") || len(c.GrantTypes) == 0 {
			t.Fatalf("accepted %+v", c)
		}
		if slices.Contains(c.GrantTypes, oauth.GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
			t.Fatalf("accepted the code flow without a redirect URI: %+v", c)
		}
		for _, u := range c.RedirectURIs {
			if checkURI(u, true) != nil {
				t.Fatalf("accepted a bad redirect URI %q", u)
			}
		}
	})
}

// Any request an authenticated administrator (or a stranger) sends to the
// admin listener — method, path with its ids, JSON body — is answered with
// a JSON body and a status below 500, never a panic or the store's words.
func FuzzAdminAPI(f *testing.F) {
	h := newHarness(f, func(c *Config) { c.Keys = &fakeKeys{} })
	tok := h.token(f)
	for _, s := range []struct{ method, path, body string }{
		{"POST", "/admin/v1/clients", `{"client_id":"rp1","name":"RP","redirect_uris":["https://rp.example/cb"]}`},
		{"GET", "/admin/v1/clients/rp1", ""},
		{"POST", "/admin/v1/clients/rp1/secret", ""},
		{"DELETE", "/admin/v1/clients/rp1", ""},
		{"POST", "/admin/v1/users", `{"username":"bob","password":"long-enough-1","email":"b@example.com"}`},
		{"GET", "/admin/v1/users", ""},
		{"DELETE", "/admin/v1/users/x", ""},
		{"GET", "/admin/v1/keys", ""},
		{"GET", "/admin/v1/clients/%00", ""},
		{"PUT", "/admin/v1/clients/\xff", `{"name":"\u0000"}`},
	} {
		f.Add(s.method, s.path, s.body, true)
	}
	f.Fuzz(func(t *testing.T, method, path, body string, authenticated bool) {
		switch method {
		case "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			method = "GET"
		}
		req := httptest.NewRequest(method, "/", strings.NewReader(body))
		req.URL.Path = "/admin/v1/" + strings.TrimPrefix(path, "/admin/v1/")
		req.Header.Set("Content-Type", "application/json")
		if authenticated {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		w := httptest.NewRecorder()
		h.srv.Config.Handler.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q %q: %d %s", method, req.URL.Path, body, w.Code, w.Body)
		}
		// A path that is not in canonical form ("/admin/v1/.") is
		// redirected to it by ServeMux: not an error.
		redirect := w.Code >= 300 && w.Code < 400 && w.Header().Get("Location") != ""
		if w.Code != http.StatusNoContent && !redirect && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %q: %d with Content-Type %q", method, req.URL.Path, w.Code, w.Header().Get("Content-Type"))
		}
		if b := strings.ToLower(w.Body.String()); strings.Contains(b, "storage:") || strings.Contains(b, "sqlstate") {
			t.Fatalf("the answer shows the store: %s", w.Body)
		}
	})
}
