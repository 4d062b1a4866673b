package idp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

const spaOrigin = "https://spa.example"

// CORS (Fetch §3.2; RFC 9700 §2.6): only the browser endpoints answer
// cross-origin requests, only for origins registered on a client, never
// with credentials; every other endpoint answers none, and its preflights
// fail. zitadel reflected any origin with Allow-Credentials on every route.
func TestCORSOnlyForBrowserEndpointsAndRegisteredOrigins(t *testing.T) {
	s := newServer(t)
	err := s.store.CreateClient(context.Background(), &storage.Client{ID: "spa", Name: "SPA", Type: storage.ClientPublic,
		RedirectURIs: []string{spaOrigin + "/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"},
		AllowedOrigins: []string{spaOrigin}, CreatedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path, origin string, hdr http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s %s from %s: Access-Control-Allow-Credentials %q", method, path, origin, resp.Header.Get("Access-Control-Allow-Credentials"))
		}
		return resp
	}
	preflight := func(path, method, origin string) *http.Response {
		return send("OPTIONS", path, origin, http.Header{"Access-Control-Request-Method": {method},
			"Access-Control-Request-Headers": {"authorization, content-type"}})
	}

	browser := []struct{ path, method string }{
		{"/oauth/token", "POST"}, {"/userinfo", "GET"}, {"/userinfo", "POST"}, {"/keys", "GET"}, {"/revoke", "POST"},
		{"/.well-known/openid-configuration", "GET"}, {"/.well-known/oauth-authorization-server", "GET"},
	}
	for _, e := range browser {
		t.Run(e.method+" "+e.path+" from a registered origin", func(t *testing.T) {
			p := preflight(e.path, e.method, spaOrigin)
			if p.StatusCode != 204 || p.Header.Get("Access-Control-Allow-Origin") != spaOrigin ||
				!strings.Contains(p.Header.Get("Access-Control-Allow-Methods"), e.method) ||
				!strings.Contains(strings.ToLower(p.Header.Get("Access-Control-Allow-Headers")), "authorization") {
				t.Fatalf("preflight: %d %v", p.StatusCode, p.Header)
			}
			a := send(e.method, e.path, spaOrigin, nil)
			if a.Header.Get("Access-Control-Allow-Origin") != spaOrigin || !strings.Contains(a.Header.Get("Vary"), "Origin") ||
				!strings.Contains(a.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
				t.Fatalf("request: %d %v", a.StatusCode, a.Header)
			}
		})
		t.Run(e.method+" "+e.path+" from an unregistered origin", func(t *testing.T) {
			for _, r := range []*http.Response{preflight(e.path, e.method, "https://evil.example"), send(e.method, e.path, "https://evil.example", nil)} {
				if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Fatalf("%s: Access-Control-Allow-Origin %q", r.Request.Method, got)
				}
			}
			if p := preflight(e.path, e.method, "https://evil.example"); p.StatusCode < 400 {
				t.Fatalf("preflight from an unregistered origin: %d", p.StatusCode)
			}
		})
	}
	t.Run("a method the endpoint does not take fails its preflight", func(t *testing.T) {
		if p := preflight("/oauth/token", "DELETE", spaOrigin); p.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%d %v", p.StatusCode, p.Header)
		}
	})

	closed := []struct{ path, method string }{
		{"/qr/scan", "POST"}, {"/qr/confirm", "POST"}, {"/qr/deny", "POST"}, {"/account/notifications", "GET"},
		{"/qr/authorize", "POST"}, {"/oauth/introspect", "POST"}, {"/authorize", "GET"}, {"/login", "POST"},
		{"/login?return=%2Fdevice", "GET"}, {"/device", "GET"}, {"/end_session", "GET"}, {"/static/style.css", "GET"},
	}
	for _, e := range closed {
		t.Run(e.method+" "+e.path+" answers no CORS, even to a registered origin", func(t *testing.T) {
			p := preflight(e.path, e.method, spaOrigin)
			if p.StatusCode < 400 || p.Header.Get("Access-Control-Allow-Origin") != "" || p.Header.Get("Access-Control-Allow-Methods") != "" {
				t.Fatalf("preflight: %d %v", p.StatusCode, p.Header)
			}
			a := send(e.method, e.path, spaOrigin, nil)
			if got := a.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Fatalf("request: Access-Control-Allow-Origin %q", got)
			}
		})
	}
}
