package idp_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var (
	pageTitleRe = regexp.MustCompile(`<h1>([^<]*)</h1>`)
	pageNextRe  = regexp.MustCompile(`<p class="next" id="error-next"><strong>What now\?</strong> ([^<]+)</p>`)
)

// Every error page says what happened in its own title and what to do
// next, in the site's layout (its stylesheet): never only "Something went
// wrong", never a doubled full stop. A path no route serves gets the HTML
// 404 page, except under the API paths, which answer JSON like their
// endpoints; a page that only takes a form post, opened directly, gets a
// 405 page.
func TestErrorPagesSayWhatHappenedAndWhatNext(t *testing.T) {
	s := newServer(t)
	phone := newBrowser(t, s)
	r := s.start(t, nil)
	// A phone browser signed in on the phone-browser path.
	_, page := phone.get(r.VerificationURIComplete)
	resp, page := phone.post("/login", url.Values{"return": {"/q/" + qrID(r)}, "csrf": {csrfRe.FindStringSubmatch(page)[1]},
		"username": {"alice"}, "password": {"alice-password"}})
	if resp.StatusCode != 200 {
		t.Fatalf("phone sign-in: %d", resp.StatusCode)
	}
	csrf := csrfRe.FindStringSubmatch(page)[1]
	other := newBrowser(t, s)

	for _, tc := range []struct {
		name   string
		do     func() (*http.Response, string)
		status int
		title  string
	}{
		{"an unknown page", func() (*http.Response, string) { return other.get("/nope") }, 404, "Page not found"},
		{"an unknown page below a page", func() (*http.Response, string) { return other.get("/login/nope") }, 404, "Page not found"},
		{"the confirm form's address opened directly", func() (*http.Response, string) { return other.get("/q/decide") }, 405, "This page is not opened directly"},
		{"the sign-out form's address opened directly", func() (*http.Response, string) { return other.get("/end_session/confirm") }, 405, "This page is not opened directly"},
		{"a login page without a sign-in request", func() (*http.Response, string) { return other.get("/login") }, 400, "This sign-in link is incomplete"},
		{"an expired sign-in request", func() (*http.Response, string) { return other.get("/login?id=gone") }, 400, "This sign-in has expired"},
		{"a sign-in request without client_id", func() (*http.Response, string) { return other.get("/authorize?response_type=code") }, 400, "The application's sign-in request is invalid"},
		{"a form without its CSRF token", func() (*http.Response, string) {
			return other.post("/login", url.Values{"return": {"/device"}, "username": {"alice"}, "password": {"x"}})
		}, 403, "This form has expired"},
		{"an unknown QR code on the phone", func() (*http.Response, string) { return phone.get("/q/AAAAAAAAAAAAAAAAAAAAAA") }, 404, "This QR code is no longer valid"},
		{"a decision without Confirm or Deny", func() (*http.Response, string) {
			return phone.post("/q/decide", url.Values{"csrf": {csrf}, "ticket": {"x"}})
		}, 400, "Nothing was decided"},
		{"a decision on a ticket that is no more", func() (*http.Response, string) {
			return phone.post("/q/decide", url.Values{"csrf": {csrf}, "ticket": {"x"}, "action": {"confirm"}})
		}, 404, "This QR code is no longer valid"},
		{"a sign-out to an unregistered address", func() (*http.Response, string) {
			return other.get(endSessionURL(s, map[string]string{"client_id": rpID, "post_logout_redirect_uri": "https://evil.example/"}))
		}, 400, "The application's sign-out request is invalid"},
		{"a parameter over its cap", func() (*http.Response, string) {
			return other.get("/authorize?client_id=" + strings.Repeat("x", 300))
		}, 400, "This request cannot be processed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tc.do()
			if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("%d %s, want %d text/html: %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, body)
			}
			title, next := pageTitleRe.FindStringSubmatch(body), pageNextRe.FindStringSubmatch(body)
			if title == nil || html.UnescapeString(title[1]) != tc.title || next == nil || len(next[1]) < 15 {
				t.Fatalf("title %q next %q, want the title %q and a next step:\n%s", title, next, tc.title, body)
			}
			if !strings.Contains(body, `<link rel="stylesheet" href="/static/style.css">`) ||
				!strings.Contains(body, "<title>"+title[1]+" · qrlogin</title>") {
				t.Errorf("not in the site's layout:\n%s", body)
			}
			if strings.Contains(body, "..") || strings.Contains(body, "Something went wrong") {
				t.Errorf("a doubled full stop or the generic title:\n%s", body)
			}
		})
	}

	// API paths keep their JSON, also for a path that does not exist.
	for _, path := range []string{"/qr/nope", "/oauth/nope", "/account/nope", "/.well-known/nope", "/userinfo/nope", "/keys/nope"} {
		status, body := do(t, mustReq("GET", s.URL+path))
		var e struct{ Error string }
		if status != 404 || json.Unmarshal(body, &e) != nil || e.Error != "not_found" {
			t.Errorf("GET %s: %d %s, want a JSON 404", path, status, body)
		}
	}
}
