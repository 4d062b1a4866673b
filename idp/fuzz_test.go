package idp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzTarget is one server shared by a fuzz run (creating one per input
// would measure key generation, not parsing).
func fuzzTarget(f *testing.F) *testServer {
	s := newServer(f)
	return s
}

// Any form body on the token and QR endpoints gets a 4xx JSON answer or a
// 200, never a 5xx or a panic.
func FuzzFormEndpoints(f *testing.F) {
	s := fuzzTarget(f)
	for _, seed := range []string{
		"grant_type=urn:qrlogin:params:oauth:grant-type:qr&device_code=x&wait=3",
		"grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=&wait=-1",
		"grant_type=refresh_token&refresh_token=abc",
		"grant_type=authorization_code&code=x&redirect_uri=https://shop.example/cb&code_verifier=y",
		"scope=openid%20profile&nonce=n&requester_ip=::1&requester_user_agent=x",
		"scope=%ff%fe", "a=1&a=2", "&&&===", "qr_id=1",
	} {
		f.Add("/oauth/token", seed, true)
		f.Add("/qr/authorize", seed, false)
	}
	f.Fuzz(func(t *testing.T, path, body string, basic bool) {
		if path != "/oauth/token" && path != "/qr/authorize" && path != "/revoke" && path != "/oauth/introspect" {
			path = "/oauth/token"
		}
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth(rpID, rpSecret)
		}
		w := httptest.NewRecorder()
		s.idp.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s %q: content type %q", path, body, ct)
		}
	})
}

// Any JSON body on the phone API gets a 4xx or 200, never a 5xx.
func FuzzPhoneAPI(f *testing.F) {
	s := fuzzTarget(f)
	token := s.phoneToken(f, "alice")
	for _, seed := range []string{`{"qr":"x"}`, `{"ticket":""}`, `{"qr":null}`, `{}`, `[`, `{"qr":"` + s.URL + `/q/AAAAAAAAAAAAAAAAAAAAAA"}`, "\xff"} {
		f.Add("/qr/scan", seed)
		f.Add("/qr/confirm", seed)
		f.Add("/qr/deny", seed)
	}
	f.Fuzz(func(t *testing.T, path, body string) {
		if path != "/qr/scan" && path != "/qr/confirm" && path != "/qr/deny" {
			path = "/qr/scan"
		}
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		s.idp.ServeHTTP(w, req)
		if w.Code >= 500 || w.Code == http.StatusOK && path != "/qr/scan" {
			t.Fatalf("%s %q: %d %s", path, body, w.Code, w.Body)
		}
	})
}
