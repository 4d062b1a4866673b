package idp_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp"
)

// heldLongPolls waits until the provider holds n long-polls (its
// qrlogin_long_polls gauge), so a test acts while a poll is held.
func heldLongPolls(t *testing.T, s *testServer, n int) {
	t.Helper()
	want := fmt.Sprintf("\nqrlogin_long_polls %d\n", n)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		w := httptest.NewRecorder()
		s.idp.Metrics().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		if strings.Contains(w.Body.String(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the provider never held %d long-polls", n)
}

// drainClient gives up well before the 30 s a long-poll asks to be held:
// a poll the drain does not answer fails the test instead of passing late.
var drainClient = &http.Client{Timeout: 20 * time.Second}

type answer struct {
	status int
	body   map[string]any
	err    error
}

// longPoll polls the token endpoint with wait=30, without t (it runs in a
// goroutine).
func longPoll(s *testServer, deviceCode string) answer {
	form := url.Values{"grant_type": {idp.GrantQR}, "device_code": {deviceCode}, "wait": {"30"}}
	req, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(rpID, rpSecret)
	return send(req)
}

func send(req *http.Request) answer {
	resp, err := drainClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode}
	a.err = json.NewDecoder(resp.Body).Decode(&a.body)
	return a
}

// Drain: /ready turns 503 at once; a long-poll held at the token endpoint
// is answered authorization_pending with its current qr_status (here
// scanned) instead of after its 30 s, and so is a new one; nothing is
// changed, so the client polling again (at another instance) goes on and
// gets its tokens.
func TestDrainAnswersHeldTokenLongPolls(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	r := s.start(t, nil)
	ticket := s.scan(t, alice, r.VerificationURIComplete)
	// This poll reports the scan; the next one is held until a change.
	if st, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); st != 400 || body["qr_status"] != "scanned" {
		t.Fatalf("poll after the scan: %d %v", st, body)
	}
	if st, body := do(t, mustReq("GET", s.URL+"/ready")); st != 200 {
		t.Fatalf("/ready before the drain: %d %s", st, body)
	}

	held := make(chan answer, 1)
	go func() { held <- longPoll(s, r.DeviceCode) }()
	heldLongPolls(t, s, 1)
	s.idp.Drain()

	a := <-held
	if a.err != nil || a.status != 400 || a.body["error"] != "authorization_pending" || a.body["qr_status"] != "scanned" {
		t.Fatalf("held long-poll at the drain: %d %v %v", a.status, a.body, a.err)
	}
	if st, body := do(t, mustReq("GET", s.URL+"/ready")); st != http.StatusServiceUnavailable {
		t.Fatalf("/ready while draining: %d %s", st, body)
	}
	if a := longPoll(s, r.DeviceCode); a.err != nil || a.body["error"] != "authorization_pending" || a.body["qr_status"] != "scanned" {
		t.Fatalf("new long-poll while draining: %d %v %v", a.status, a.body, a.err)
	}

	if st, body := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket}); st != 200 {
		t.Fatalf("confirm: %d %v", st, body)
	}
	if st, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); st != 200 || body["id_token"] == nil {
		t.Fatalf("redeem after the drain: %d %v", st, body)
	}
}

// Drain on the hosted login page: the page's held status request is
// answered with the current status (the page asks again at once), and so
// is one made during the drain.
func TestDrainAnswersHeldLoginPageStatus(t *testing.T) {
	s := newServer(t)
	cfg, verifier := codeConfig(s)
	b := newBrowser(t, s)
	loginURL, _ := openLoginPage(t, s, b, cfg, verifier)
	statusURL := s.URL + "/login/status?id=" + url.QueryEscape(mustQuery(t, loginURL, "id")) + "&since=pending"
	status := func() answer {
		req, _ := http.NewRequest("GET", statusURL, nil)
		for _, c := range b.hc.Jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		return send(req)
	}

	held := make(chan answer, 1)
	go func() { held <- status() }()
	heldLongPolls(t, s, 1)
	s.idp.Drain()
	if a := <-held; a.err != nil || a.status != 200 || a.body["status"] != "pending" {
		t.Fatalf("held status at the drain: %d %v %v", a.status, a.body, a.err)
	}
	if a := status(); a.err != nil || a.status != 200 || a.body["status"] != "pending" {
		t.Fatalf("status while draining: %d %v %v", a.status, a.body, a.err)
	}
}

// A load balancer probes /ready every few seconds: while draining each
// probe is answered 503 with Retry-After, an expected answer, not an
// error. zitadel (which logs through slog's default logger) logged each
// one at ERROR, which pages whoever alerts on errors at every deploy. Not
// parallel: it replaces the default logger.
func TestDrainReadyIsNoError(t *testing.T) {
	var logs logCapture
	captureDefaultLog(t, &logs)
	s := newServer(t, withLog(&logs, slog.LevelDebug))
	s.idp.Drain()
	for range 3 {
		resp, err := http.Get(s.URL + "/ready")
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || err != nil ||
			body["error"] != "temporarily_unavailable" {
			t.Fatalf("/ready while draining: %d Retry-After %q %v %v", resp.StatusCode, resp.Header.Get("Retry-After"), body, err)
		}
	}
	if e := logs.where(t, "level", "ERROR"); len(e) != 0 {
		t.Errorf("ERROR records for /ready while draining: %v", e)
	}
}
