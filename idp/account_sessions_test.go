package idp_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// userAgent sets the User-Agent of every request a browser sends.
type userAgent struct {
	ua   string
	next http.RoundTripper
}

func (u userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return u.next.RoundTrip(r)
}

func newBrowserAs(t *testing.T, s *testServer, ua string) *browser {
	b := newBrowser(t, s)
	b.hc.Transport = userAgent{ua: ua, next: http.DefaultTransport}
	return b
}

type sessionList struct {
	Sessions []struct {
		ID          string    `json:"id"`
		CreatedAt   time.Time `json:"created_at"`
		LastUsedAt  time.Time `json:"last_used_at"`
		ExpiresAt   time.Time `json:"expires_at"`
		AuthTime    time.Time `json:"auth_time"`
		AuthMethods []string  `json:"auth_methods"`
		CanApprove  bool      `json:"can_approve"`
		Browser     struct {
			IP        string `json:"ip"`
			UserAgent string `json:"user_agent"`
			Summary   string `json:"user_agent_summary"`
		} `json:"browser"`
		EndURI string `json:"end_uri"`
	} `json:"sessions"`
}

func (s *testServer) account(t *testing.T, method, path, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func (s *testServer) sessions(t *testing.T, token string) *sessionList {
	t.Helper()
	status, raw := s.account(t, "GET", "/account/sessions", token)
	var l sessionList
	if status != 200 || json.Unmarshal(raw, &l) != nil {
		t.Fatalf("GET /account/sessions: %d %s", status, raw)
	}
	return &l
}

const (
	firefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	safariIPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1"
)

// The phone app's account API lists the user's browser sessions (when,
// from where, how, whether it may approve) and ends any one of them: by
// DELETE or POST …/end, only the user's own.
func TestAccountAPIListsAndEndsBrowserSessions(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		phone := s.phoneToken(t, "alice") // its own sign-in is a session too
		s.clock.Advance(time.Minute)
		pc := newBrowserAs(t, s, firefoxLinux)
		signedIn(t, s, pc, "alice")
		s.clock.Advance(time.Minute)
		handset := newBrowserAs(t, s, safariIPhone)
		resp, page := handset.get("/login?return=%2Fdevice")
		handset.signIn(resp, page, "alice")
		bobs := newBrowser(t, s)
		signedIn(t, s, bobs, "bob")

		l := s.sessions(t, phone)
		if len(l.Sessions) != 3 || l.Sessions[2].Browser.Summary != "Go-http-client" {
			t.Fatalf("alice has %d sessions listed, want the phone browser's, the PC's and the app's sign-in: %+v", len(l.Sessions), l)
		}
		hs, ps := l.Sessions[0], l.Sessions[1] // newest first
		if !hs.CanApprove || hs.Browser.Summary != "Safari on iOS" || hs.Browser.IP != "127.0.0.1" ||
			!strings.Contains(hs.Browser.UserAgent, "iPhone") || strings.Join(hs.AuthMethods, " ") != "pwd" {
			t.Fatalf("the phone browser's session: %+v", hs)
		}
		if ps.CanApprove || ps.Browser.Summary != "Firefox on Linux" || !ps.CreatedAt.Before(hs.CreatedAt) ||
			!ps.ExpiresAt.Equal(ps.CreatedAt.Add(12*time.Hour)) || !ps.AuthTime.Equal(ps.CreatedAt) {
			t.Fatalf("the PC's session: %+v", ps)
		}
		if ps.EndURI != s.URL+"/account/sessions/"+ps.ID {
			t.Fatalf("end_uri %q", ps.EndURI)
		}

		// Single sign-on records the session's use.
		s.clock.Advance(time.Minute)
		wantSignedIn(t, s, pc)
		if got := s.sessions(t, phone).Sessions[1]; !got.LastUsedAt.After(got.CreatedAt) {
			t.Fatalf("last_used_at %v not after created_at %v", got.LastUsedAt, got.CreatedAt)
		}

		// Only the phone app's token, and only the user's own sessions.
		if status, _ := s.account(t, "GET", "/account/sessions", ""); status != 401 {
			t.Fatalf("without a token: %d", status)
		}
		rpToken := s.codeFlowToken(t, rpID, rpSecret, "https://shop.example/cb", "alice", []string{"openid"}).AccessToken
		if status, _ := s.account(t, "GET", "/account/sessions", rpToken); status != 403 {
			t.Fatalf("with a relying party's token: %d", status)
		}
		bobPhone := s.phoneToken(t, "bob")
		if status, raw := s.account(t, "DELETE", "/account/sessions/"+ps.ID, bobPhone); status != 404 {
			t.Fatalf("bob ending alice's session: %d %s", status, raw)
		}
		wantSignedIn(t, s, pc)

		if status, raw := s.account(t, "DELETE", "/account/sessions/"+ps.ID, phone); status != 200 || !strings.Contains(string(raw), `"ended"`) {
			t.Fatalf("DELETE: %d %s", status, raw)
		}
		wantSignedOut(t, s, pc)
		if status, _ := s.account(t, "DELETE", "/account/sessions/"+ps.ID, phone); status != 404 {
			t.Fatalf("a second DELETE: %d", status)
		}

		// Ending the phone browser's session ends its power to approve.
		qr := s.start(t, nil).VerificationURIComplete
		if status, raw := s.account(t, "POST", "/account/sessions/"+hs.ID+"/end", phone); status != 200 {
			t.Fatalf("POST …/end: %d %s", status, raw)
		}
		if resp, _ := handset.get(qr); resp.Request.URL.Path != "/login" {
			t.Fatalf("after its session ended, the phone browser still scans: at %s", resp.Request.URL)
		}
		// Left: the sign-ins of the phone app and of the relying party's token above.
		if l := s.sessions(t, phone); len(l.Sessions) != 2 || l.Sessions[0].Browser.Summary != "Go-http-client" || l.Sessions[1].Browser.Summary != "Go-http-client" {
			t.Fatalf("sessions left: %+v", l)
		}
		if l := s.sessions(t, bobPhone); len(l.Sessions) != 2 {
			t.Fatalf("bob's sessions: %+v", l)
		}
	})
}
