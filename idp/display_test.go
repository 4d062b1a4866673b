package idp_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp/display"
	"github.com/qrlogin/qrlogin/storage"
)

const chromeOnWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"

// startWithUA calls /qr/authorize as client id with the given User-Agent
// header (what qrlogin observes) and form.
func (s *testServer) startWithUA(t *testing.T, id, secret, userAgent string, form url.Values) *qrStart {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/qr/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", userAgent)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	status, body := do(t, req)
	if status != 200 {
		t.Fatalf("/qr/authorize: %d %s", status, body)
	}
	var r qrStart
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// confirmPage signs alice in on the phone-browser path and returns the
// confirm screen of QR login r.
func (s *testServer) confirmPage(t *testing.T, r *qrStart) string {
	t.Helper()
	_, page := s.confirmScreen(t, r)
	return page
}

// confirmScreen is confirmPage with the phone's browser, to decide on.
func (s *testServer) confirmScreen(t *testing.T, r *qrStart) (*browser, string) {
	t.Helper()
	b := newBrowser(t, s)
	_, page := b.get(r.VerificationURIComplete)
	csrf := csrfRe.FindStringSubmatch(page)
	resp, page := b.post("/login", url.Values{"return": {"/q/" + qrID(r)}, "csrf": {csrf[1]}, "username": {"alice"}, "password": {"alice-password"}})
	if resp.StatusCode != 200 || !strings.Contains(page, "deny-button") {
		t.Fatalf("no confirm screen: %d %s", resp.StatusCode, page)
	}
	return b, page
}

// unsafeIn returns the first character of s that display.Unsafe refuses,
// other than the line breaks and tabs of the markup itself.
func unsafeIn(s string) (rune, bool) {
	for _, r := range s {
		if r != '\n' && r != '\t' && r != '\r' && display.Unsafe(r) {
			return r, true
		}
	}
	return 0, false
}

// Issue 8, finding 8: bidi and invisible characters never reach the
// confirm screen or the phone API, whatever a stored client (registered
// before the rule) or a relying party's reported user agent carries; the
// user agent is summarised ("Chrome on Windows") and labelled with whose
// word it is, its full string one tap away.
func TestConfirmScreenIsFreeOfSpoofingCharacters(t *testing.T) {
	s := newServer(t)
	evil := &storage.Client{ID: "evil", Name: "\u202Eknab ruoY\u200B", SecretHash: storage.Hash("evil-secret-0123456789"),
		Type: storage.ClientConfidential, RedirectURIs: []string{"https://evil.example/cb"}, GrantTypes: allGrants,
		ClientURI: "https://evil.example/\u202Egro.knab", LogoURI: "https://evil.example/\u200Blogo.png", CreatedAt: time.Now().UTC()}
	if err := s.store.CreateClient(t.Context(), evil); err != nil {
		t.Fatal(err)
	}
	reportedUA := chromeOnWindows + " \u202Eexe.gnp\u2066"
	r := s.startWithUA(t, "evil", "evil-secret-0123456789", "backend\u202E/1.0", url.Values{
		"requester_ip": {"203.0.113.9"}, "requester_user_agent": {reportedUA}})

	page := s.confirmPage(t, r)
	if c, bad := unsafeIn(page); bad {
		t.Fatalf("U+%04X reached the confirm screen", c)
	}
	for _, want := range []string{"knab ruoY", "Chrome on Windows", "(reported by knab ruoY)", "<details>", "Chrome/140.0.0.0 Safari/537.36 exe.gnp", "203.0.113.9"} {
		if !strings.Contains(page, want) {
			t.Errorf("the confirm screen lacks %q", want)
		}
	}
	if strings.Contains(page, "evil.example/") {
		t.Error("a client URI or logo URI with hidden characters was shown (altered or not)")
	}

	// The phone API: the same facts, summary included, no unsafe character
	// in any string.
	phone := s.phoneToken(t, "bob")
	r = s.startWithUA(t, "evil", "evil-secret-0123456789", "x", url.Values{"requester_ip": {"203.0.113.9"}, "requester_user_agent": {reportedUA}})
	status, body := s.phone(t, phone, "/qr/scan", map[string]string{"qr": r.VerificationURIComplete})
	if status != 200 {
		t.Fatalf("scan: %d %v", status, body)
	}
	raw, _ := json.Marshal(body)
	if c, bad := unsafeIn(string(raw)); bad {
		t.Fatalf("U+%04X reached the phone API: %s", c, raw)
	}
	req := body["requester"].(map[string]any)
	if req["user_agent_summary"] != "Chrome on Windows" || req["reported_by_client"] != true ||
		req["network"] != "different" || req["network_summary"] != "another network" {
		t.Fatalf("requester %v", req)
	}
	if client := body["client"].(map[string]any); client["name"] != "knab ruoY" || client["client_uri"] != "" {
		t.Fatalf("client %v", client)
	}
}

// What qrlogin observed itself is labelled so, and summarised too.
func TestConfirmScreenLabelsTheObservedUserAgent(t *testing.T) {
	s := newServer(t)
	r := s.startWithUA(t, rpID, rpSecret, "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15", url.Values{})
	page := s.confirmPage(t, r)
	for _, want := range []string{`<bdi id="requester-summary">Safari on macOS · this network</bdi> <span class="muted">(observed by qrlogin)</span>`, "<details>", "Intel Mac OS X 14_6"} {
		if !strings.Contains(page, want) {
			t.Errorf("the confirm screen lacks %q:\n%s", want, page)
		}
	}
}

// Issue 11 item 6: the confirm screen sums the requester up as "Chrome on
// Windows · this network" (the network compared with the phone's,
// proximity.go), not as an address and a raw user agent; those are one
// tap away. A requester the client reports from elsewhere is "another
// network".
func TestConfirmScreenSumsUpTheRequester(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct {
		name    string
		form    url.Values
		summary string
		ip      string
	}{
		{"observed: the test's PC and phone share 127.0.0.1", url.Values{}, "Chrome on Windows · this network", "127.0.0.1"},
		{"reported from another network", url.Values{"requester_ip": {"203.0.113.9"}, "requester_user_agent": {chromeOnWindows}}, "Chrome on Windows · another network", "203.0.113.9"},
		{"reported from the phone's /24", url.Values{"requester_ip": {"127.0.0.200"}, "requester_user_agent": {chromeOnWindows}}, "Chrome on Windows · this network", "127.0.0.200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := s.confirmPage(t, s.startWithUA(t, rpID, rpSecret, chromeOnWindows, tc.form))
			for _, want := range []string{`<bdi id="requester-summary">` + tc.summary + `</bdi>`,
				`<code id="requester-ip" dir="ltr">` + tc.ip + `</code>`, `<code id="requester-ua-raw" dir="ltr">` + chromeOnWindows + `</code>`} {
				if !strings.Contains(page, want) {
					t.Errorf("the confirm screen lacks %q:\n%s", want, page)
				}
			}
			// The summary comes first; the details sit in a closed <details>.
			if i, j := strings.Index(page, "requester-summary"), strings.Index(page, "<details>"); i < 0 || j < i {
				t.Errorf("the address and user agent are not behind the summary:\n%s", page)
			}
		})
	}
}

// Issue 11 item 6: the phone browser's sign-in page says it approves a
// sign-in on another screen, and which site asks (the name the confirm
// screen will show); an unknown or dead QR names nobody; typing a code
// says so; a wrong password keeps the sentence.
func TestPhoneSignInSaysWhatItApproves(t *testing.T) {
	s := newServer(t)
	r := s.start(t, nil)
	phone := newBrowser(t, s)
	asks := `<strong id="approve-client"><bdi>Example Shop</bdi></strong> is asking to sign you in on another screen.`
	_, page := phone.get(r.VerificationURIComplete)
	if !strings.Contains(page, asks) || !strings.Contains(page, "<title>Sign in to approve · qrlogin</title>") {
		t.Fatalf("the phone's sign-in page does not say what it approves:\n%s", page)
	}
	resp, page := phone.post("/login", url.Values{"return": {"/q/" + qrID(r)}, "csrf": {csrfRe.FindStringSubmatch(page)[1]},
		"username": {"alice"}, "password": {"wrong-password"}})
	if resp.StatusCode != 401 && resp.StatusCode != 400 && resp.StatusCode != 200 || !strings.Contains(page, "login-error") || !strings.Contains(page, asks) {
		t.Fatalf("after a wrong password (%d) the page no longer says what it approves:\n%s", resp.StatusCode, page)
	}

	for _, tc := range []struct{ name, path, want string }{
		{"an unknown QR", "/q/AAAAAAAAAAAAAAAAAAAAAA", "You are approving a sign-in on another screen."},
		{"typing a code", "/device", "type the code that screen shows"},
	} {
		_, page := newBrowser(t, s).get(tc.path)
		if !strings.Contains(page, tc.want) || strings.Contains(page, "approve-client") {
			t.Errorf("%s: the page lacks %q or names a site:\n%s", tc.name, tc.want, page)
		}
	}
}
