package idp_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage/memory"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// onBothStores runs f against a server on the memory store and one on
// PostgreSQL (skipped locally without QRLOGIN_TEST_DATABASE_URL, failing
// under CI).
func onBothStores(t *testing.T, f func(t *testing.T, s *testServer), opts ...serverOpt) {
	t.Run("memory", func(t *testing.T) { f(t, newServerOn(t, memory.New(), opts...)) })
	t.Run("postgres", func(t *testing.T) { f(t, newServerOn(t, pgtest.NewStore(t), opts...)) })
}

// phoneSession signs user in with the phone app and returns the whole
// token (access and refresh), one phone session.
func (s *testServer) phoneSession(t testing.TB, user string) *oauth2.Token {
	t.Helper()
	return s.codeFlowToken(t, phoneID, "", phoneRedir, user, []string{"openid", "qr:approve", "offline_access"})
}

// refreshPhone exchanges the phone session's refresh token (RFC 6749 §6).
func (s *testServer) refreshPhone(t testing.TB, tok *oauth2.Token) (*oauth2.Token, error) {
	t.Helper()
	cfg := &oauth2.Config{ClientID: phoneID, Endpoint: oauth2.Endpoint{TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	old := *tok
	old.AccessToken, old.Expiry = "", old.Expiry.Add(-24*time.Hour) // force a refresh
	return cfg.TokenSource(context.Background(), &old).Token()
}

// Finding 9: a ticket belongs to the phone session that scanned, not only
// to its user. Another session of the same user (a second phone, a
// stolen token) gets 403 forbidden for confirm and deny, and the login is
// left as it was; the scanning session still confirms, also after it
// refreshed its token (a refresh keeps the session).
func TestTicketIsBoundToTheScanningPhoneSession(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		first := s.phoneSession(t, "alice")
		second := s.phoneSession(t, "alice").AccessToken
		r := s.start(t, nil)
		ticket := s.scan(t, first.AccessToken, r.VerificationURIComplete)

		for _, path := range []string{"/qr/confirm", "/qr/deny"} {
			status, body := s.phone(t, second, path, map[string]string{"ticket": ticket})
			if status != 403 || body["error"] != "forbidden" {
				t.Fatalf("%s with another session's ticket: %d %v, want 403 forbidden", path, status, body)
			}
		}
		if _, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); body["qr_status"] != "scanned" {
			t.Fatalf("after the replays the login should still be scanned: %v", body)
		}

		refreshed, err := s.refreshPhone(t, first)
		if err != nil {
			t.Fatalf("refreshing the scanning session: %v", err)
		}
		if refreshed.AccessToken == first.AccessToken {
			t.Fatal("the refresh returned the same access token")
		}
		if status, body := s.phone(t, refreshed.AccessToken, "/qr/confirm", map[string]string{"ticket": ticket}); status != 200 {
			t.Fatalf("confirm by the scanning session (refreshed token): %d %v", status, body)
		}
		s.clock.Advance(2 * time.Second)
		if status, body := s.poll(t, idp.GrantQR, r.DeviceCode, url.Values{}); status != 200 {
			t.Fatalf("the PC gets no tokens: %d %v", status, body)
		}
	})
}

// The phone-browser path binds its tickets to the browser's session: the
// same user signed in in another browser cannot post the ticket.
func TestBrowserTicketIsBoundToTheScanningBrowser(t *testing.T) {
	s := newServer(t)
	r := s.start(t, nil)
	signIn := func(b *browser) string {
		_, page := b.get(r.VerificationURIComplete)
		csrf := csrfRe.FindStringSubmatch(page)
		resp, page := b.post("/login", url.Values{"return": {"/q/" + qrID(r)}, "csrf": {csrf[1]}, "username": {"alice"}, "password": {"alice-password"}})
		if resp.StatusCode != 200 {
			t.Fatalf("sign-in: %d", resp.StatusCode)
		}
		return page
	}
	first, second := newBrowser(t, s), newBrowser(t, s)
	page := signIn(first)
	ticket := ticketRe.FindStringSubmatch(page)[1]
	// The second browser signs in to the same account through /device, so
	// it scans nothing itself and has a CSRF token of its own.
	_, loginPage := second.get("/device")
	csrf := csrfRe.FindStringSubmatch(loginPage)
	_, devicePage := second.post("/login", url.Values{"return": {"/device"}, "csrf": {csrf[1]}, "username": {"alice"}, "password": {"alice-password"}})
	csrf = csrfRe.FindStringSubmatch(devicePage)
	if csrf == nil {
		t.Fatalf("no CSRF token on the second browser's /device page: %s", devicePage)
	}
	resp, body := second.post("/q/decide", url.Values{"ticket": {ticket}, "action": {"confirm"}, "csrf": {csrf[1]}})
	if resp.StatusCode != 403 {
		t.Fatalf("another browser of the same user confirmed with the first one's ticket: %d %s", resp.StatusCode, body)
	}
	if _, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); body["qr_status"] != "scanned" {
		t.Fatalf("after the replay the login should still be scanned: %v", body)
	}
	csrf = csrfRe.FindStringSubmatch(page)
	if resp, body := first.post("/q/decide", url.Values{"ticket": {ticket}, "action": {"confirm"}, "csrf": {csrf[1]}}); resp.StatusCode != 200 {
		t.Fatalf("the scanning browser could not confirm: %d %s", resp.StatusCode, body)
	}
}
