package idp_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/qrlogin/qrlogin/idp"
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
	for _, seed := range []string{"token=abc&token_type_hint=refresh_token", "token=&token_type_hint=access_token", "token=%00", "client_id=rp&token=x"} {
		f.Add("/revoke", seed, true)
		f.Add("/oauth/introspect", seed, true)
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

// fuzzRoutes are the routes FuzzRequests picks from; "{}" is a path
// segment the fuzzer fills.
var fuzzRoutes = []struct{ method, path string }{
	{"GET", "/authorize"}, {"POST", "/authorize"}, {"GET", "/authorize/callback"},
	{"POST", "/oauth/token"}, {"POST", "/qr/authorize"}, {"POST", "/qr/scan"}, {"POST", "/qr/confirm"}, {"POST", "/qr/deny"},
	{"GET", "/account/notifications"}, {"POST", "/account/notifications/{}/revoke"}, {"POST", "/account/password"},
	{"GET", "/login"}, {"POST", "/login"}, {"GET", "/login/status"}, {"POST", "/login/qr"},
	{"GET", "/device"}, {"POST", "/device"}, {"GET", "/q/{}"}, {"POST", "/q/decide"},
	{"GET", "/userinfo"}, {"POST", "/oauth/introspect"}, {"POST", "/revoke"}, {"GET", "/end_session"}, {"POST", "/end_session/confirm"},
	{"GET", "/keys"}, {"GET", "/.well-known/openid-configuration"}, {"GET", "/{}"},
}

// signedInBrowser signs alice in on the phone-browser path and returns
// the session cookie and its CSRF token, for seeds a fuzzer can mutate.
func signedInBrowser(f *testing.F, s *testServer) (cookie, csrf string) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(s.URL + "/login?return=%2Fdevice")
	if err != nil {
		f.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRe.FindSubmatch(page)
	if m == nil {
		f.Fatalf("no CSRF token: %s", page)
	}
	resp, err = hc.PostForm(s.URL+"/login", url.Values{"return": {"/device"}, "csrf": {string(m[1])}, "username": {"alice"}, "password": {"alice-password"}})
	if err != nil {
		f.Fatal(err)
	}
	resp.Body.Close()
	resp, err = hc.Get(s.URL + "/device")
	if err != nil {
		f.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if m = csrfRe.FindSubmatch(page); m == nil {
		f.Fatalf("not signed in: %d %s", resp.StatusCode, page)
	}
	u, _ := url.Parse(s.URL)
	for _, c := range jar.Cookies(u) {
		cookie += c.Name + "=" + c.Value + "; "
	}
	return cookie, string(m[1])
}

// Any request to any route — path segments, query, form or JSON body,
// User-Agent, Cookie, Authorization and X-CSRF-Token as a stranger sends
// them — is answered without a panic, a 500 or a word of the store's (a
// 503 only with Retry-After: the argon2id gate may be busy).
func FuzzRequests(f *testing.F) {
	s := fuzzTarget(f)
	phone := s.phoneToken(f, "alice")
	cookie, csrf := signedInBrowser(f, s)
	started := s.start(f, nil)
	qrID := strings.TrimPrefix(started.VerificationURIComplete, s.URL+"/q/")
	for i, r := range fuzzRoutes {
		seg := qrID
		if strings.HasPrefix(r.path, "/account/") {
			seg = "n0t1f1cat10n"
		}
		query, body, auth := "", "", ""
		switch r.path {
		case "/authorize":
			query = "client_id=" + rpID + "&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&response_type=code&scope=openid&state=s&nonce=n"
		case "/oauth/token":
			body, auth = "grant_type="+url.QueryEscape(idp.GrantQR)+"&device_code="+started.DeviceCode, basicAuth(rpID, rpSecret)
		case "/qr/authorize":
			body, auth = "scope=openid&requester_user_agent=Mozilla", basicAuth(rpID, rpSecret)
		case "/qr/scan", "/qr/confirm", "/qr/deny":
			body, auth = `{"qr":"`+started.VerificationURIComplete+`","ticket":"t"}`, "Bearer "+phone
		case "/account/password":
			body, auth = `{"current_password":"x","new_password":"y"}`, "Bearer "+phone
		case "/account/notifications", "/account/notifications/{}/revoke", "/userinfo":
			auth = "Bearer " + phone
		case "/login", "/login/status", "/login/qr":
			query, body = "id=abc&since=pending&return=%2Fdevice", "csrf="+csrf+"&username=alice&password=x&return=%2Fdevice"
		case "/device", "/q/decide":
			body = "csrf=" + csrf + "&user_code=" + started.UserCode + "&ticket=t&action=confirm"
		case "/oauth/introspect", "/revoke":
			body, auth = "token="+phone, basicAuth(rpID, rpSecret)
		case "/end_session", "/end_session/confirm":
			query = "client_id=" + rpID + "&post_logout_redirect_uri=https%3A%2F%2Fshop.example%2F&state=s"
			body = "csrf=" + csrf + "&action=logout&client_id=" + rpID
		}
		f.Add(uint8(i), seg, query, body, "Mozilla/5.0 (X11; Linux x86_64)", cookie, auth, csrf)
	}
	f.Add(uint8(0), "", "client_id=%00", "", "\xff", "qrlogin_session=\x00", "Basic \xff", "\x00")
	f.Fuzz(func(t *testing.T, route uint8, seg, query, body, ua, cookie, auth, csrf string) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(r.method, "/", strings.NewReader(body))
		req.URL.Path = strings.ReplaceAll(r.path, "{}", seg)
		req.URL.RawQuery = query
		switch {
		case strings.HasPrefix(body, "{"), strings.HasPrefix(body, "["):
			req.Header.Set("Content-Type", "application/json")
		case r.method == "POST":
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range map[string]string{"User-Agent": ua, "Cookie": cookie, "Authorization": auth, "X-CSRF-Token": csrf} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		w := httptest.NewRecorder()
		s.idp.ServeHTTP(w, req)
		if w.Code >= 500 && !(w.Code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") != "") {
			t.Fatalf("%s %q ?%q: %d %.300s", r.method, req.URL.Path, query, w.Code, w.Body)
		}
		if b := strings.ToLower(w.Body.String()); strings.Contains(b, "storage:") || strings.Contains(b, "sqlstate") {
			t.Fatalf("%s %q: the answer shows the store: %.300s", r.method, req.URL.Path, w.Body)
		}
	})
}
