package idp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

// logCapture is a JSON log the test can read back, line by line.
type logCapture struct{ safeBuffer }

func (c *logCapture) text() string { return c.String() }

// records returns every record, each a JSON object.
func (c *logCapture) records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(c.text()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("a log line is not one JSON object: %v: %s", err, sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

// where returns the records whose fields have the given values.
func (c *logCapture) where(t testing.TB, kv ...any) []map[string]any {
	t.Helper()
	var out []map[string]any
next:
	for _, r := range c.records(t) {
		for i := 0; i+1 < len(kv); i += 2 {
			if r[kv[i].(string)] != kv[i+1] {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

func withLog(c *logCapture, level slog.Level) serverOpt {
	return func(cfg *idp.Config) {
		cfg.Logger = slog.New(slog.NewJSONHandler(c, &slog.HandlerOptions{Level: level}))
	}
}

// captureDefaultLog sends slog's default logger, which zitadel logs
// through, to c at debug level until the test ends. A test using it must
// not be parallel.
func captureDefaultLog(t *testing.T, c *logCapture) {
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
}

// One line per request: method, route pattern, status, duration, bytes,
// request id and client id; never the path, which carries ids and codes.
func TestRequestLogLine(t *testing.T) {
	var logs logCapture
	s := newServer(t, withLog(&logs, slog.LevelInfo))
	r := s.start(t, nil)

	req, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader(url.Values{
		"grant_type": {idp.GrantQR}, "device_code": {r.DeviceCode}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Request-Id", "req-from-proxy-42")
	req.SetBasicAuth(rpID, rpSecret)
	if st, body := do(t, req); st != 400 {
		t.Fatalf("poll: %d %s", st, body)
	}
	newBrowser(t, s).get("/q/" + qrID(r))
	newBrowser(t, s).get("/ready") // a probe: at debug only

	if probes := logs.where(t, "msg", "request", "route", "/ready"); len(probes) != 0 {
		t.Errorf("a readiness probe is logged at info: %v", probes)
	}
	lines := logs.where(t, "msg", "request", "request_id", "req-from-proxy-42")
	if len(lines) != 1 {
		t.Fatalf("%d request lines with the proxy's id, want 1:\n%s", len(lines), logs.text())
	}
	l := lines[0]
	if l["level"] != "INFO" || l["method"] != "POST" || l["route"] != "/oauth/token" || l["status"] != 400.0 ||
		l["client_id"] != rpID || l["bytes"].(float64) <= 0 || l["duration_ms"] == nil || l["ip"] != "127.0.0.1" {
		t.Errorf("request line: %v", l)
	}
	page := logs.where(t, "msg", "request", "route", "/q/{qr_id}")
	if len(page) != 1 || page[0]["status"] != 303.0 || page[0]["request_id"] == "" {
		t.Errorf("the QR page's line: %v", page)
	}
	if _, ok := l["user_agent"]; ok {
		t.Error("the User-Agent is logged at info level")
	}
	for _, secret := range []string{r.DeviceCode, qrID(r), r.UserCode, rpSecret} {
		if strings.Contains(logs.text(), secret) {
			t.Errorf("the log holds a secret %q", secret)
		}
	}
}

// --log-level debug adds the QR login steps and each request's User-Agent.
func TestDebugLogAddsQRSteps(t *testing.T) {
	var logs logCapture
	s := newServer(t, withLog(&logs, slog.LevelDebug))
	alice := s.phoneToken(t, "alice")
	r := confirmed(t, s, alice)
	var steps []any
	for _, l := range logs.where(t, "msg", "qr login step") {
		steps = append(steps, l["step"])
		if l["login_id"] == "" || l["client_id"] != rpID || l["level"] != "DEBUG" {
			t.Errorf("step line: %v", l)
		}
	}
	if len(steps) != 3 || steps[0] != "started" || steps[1] != "scanned" || steps[2] != "confirmed" {
		t.Errorf("debug steps %v, want started, scanned, confirmed", steps)
	}
	if len(logs.where(t, "msg", "request", "user_agent", "Go-http-client/1.1")) == 0 {
		t.Error("no request line with the User-Agent at debug level")
	}
	if strings.Contains(logs.text(), r.DeviceCode) || strings.Contains(logs.text(), alice) {
		t.Error("the debug log holds a secret")
	}
}

// Security events: WARN, a stable event field, who and from where; never
// a password, a token, a ticket or a code. A username no account has is
// not logged: it is often a password typed in the wrong field.
func TestSecurityEventsAreLogged(t *testing.T) {
	var logs logCapture
	s := newServer(t, withLog(&logs, slog.LevelInfo), func(c *idp.Config) { c.RateLimit = 1000 })
	alice := s.phoneToken(t, "alice")
	secrets := []string{alice, "alice-password"}

	// signin_failed, then lockout: five wrong passwords for one account.
	b := newBrowser(t, s)
	signIn := func(user, pw string) int {
		_, page := b.get("/login?return=%2Fdevice")
		resp, _ := b.post("/login", url.Values{"return": {"/device"}, "csrf": {csrfRe.FindStringSubmatch(page)[1]},
			"username": {user}, "password": {pw}})
		return resp.StatusCode
	}
	const typedPassword = "Tr0ub4dor&3-typed-as-username"
	if st := signIn(typedPassword, "whatever-pw-1"); st != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d", st)
	}
	for i := range 5 {
		if st := signIn("alice", "wrong-password-"+string(rune('a'+i))); st != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, st)
		}
		secrets = append(secrets, "wrong-password-"+string(rune('a'+i)))
	}
	secrets = append(secrets, typedPassword, "whatever-pw-1")

	failed := logs.where(t, "event", "signin_failed")
	if len(failed) != 6 {
		t.Fatalf("%d signin_failed events, want 6:\n%s", len(failed), logs.text())
	}
	if f := failed[0]; f["level"] != "WARN" || f["user_known"] != false || f["username"] != nil || f["ip"] != "127.0.0.1" || f["request_id"] == nil {
		t.Errorf("unknown username: %v", f)
	}
	if f := failed[1]; f["user_known"] != true || f["username"] != "alice" {
		t.Errorf("wrong password: %v", f)
	}
	if l := logs.where(t, "event", "lockout"); len(l) != 1 || l[0]["username"] != "alice" || l[0]["level"] != "WARN" {
		t.Errorf("lockout events: %v", l)
	}

	// qr_denied.
	r := s.start(t, nil)
	ticket := s.scan(t, alice, r.VerificationURIComplete)
	s.phone(t, alice, "/qr/deny", map[string]string{"ticket": ticket})
	secrets = append(secrets, ticket, r.DeviceCode, qrID(r), r.UserCode)
	if d := logs.where(t, "event", "qr_denied"); len(d) != 1 || d[0]["sub"] != s.users["alice"] || d[0]["client_id"] != rpID || d[0]["login_id"] == "" {
		t.Errorf("qr_denied events: %v", d)
	}

	// token_reuse_detected: a rotated refresh token presented again.
	r = confirmed(t, s, alice)
	_, tok := s.poll(t, idp.GrantQR, r.DeviceCode, nil)
	rt1 := tok["refresh_token"].(string)
	st, raw := s.form(t, "/oauth/token", rpID, rpSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	if st != 200 {
		t.Fatalf("refresh: %d %s", st, raw)
	}
	rt2 := decode(t, raw)["refresh_token"].(string)
	s.form(t, "/oauth/token", rpID, rpSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	secrets = append(secrets, rt1, rt2, tok["access_token"].(string), r.DeviceCode)
	if e := logs.where(t, "event", "token_reuse_detected"); len(e) != 1 || e[0]["sub"] != s.users["alice"] ||
		e[0]["client_id"] != rpID || e[0]["level"] != "WARN" {
		t.Errorf("token_reuse_detected events: %v", e)
	}

	// session_revoked_by_user ("this wasn't me").
	req, _ := http.NewRequest("GET", s.URL+"/account/notifications", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	_, list := do(t, req)
	var notes struct{ Notifications []struct{ ID string } }
	_ = json.Unmarshal(list, &notes)
	if len(notes.Notifications) == 0 {
		t.Fatalf("no notifications: %s", list)
	}
	if st, body := s.phone(t, alice, "/account/notifications/"+notes.Notifications[0].ID+"/revoke", nil); st != 200 {
		t.Fatalf("revoke: %d %v", st, body)
	}
	if e := logs.where(t, "event", "session_revoked_by_user"); len(e) != 1 || e[0]["sub"] != s.users["alice"] || e[0]["level"] != "WARN" {
		t.Errorf("session_revoked_by_user events: %v", e)
	}

	for _, secret := range secrets {
		if strings.Contains(logs.text(), secret) {
			t.Errorf("the log holds a secret: %q", secret)
		}
	}
	m := scrape(t, s)
	for event, want := range map[string]float64{"signin_failed": 6, "lockout": 1, "qr_denied": 1, "token_reuse_detected": 1, "session_revoked_by_user": 1} {
		if got := value(m, "qrlogin_security_events_total", "event", event); got != want {
			t.Errorf("qrlogin_security_events_total{event=%q} = %v, want %v", event, got, want)
		}
	}
}

// A revoked token at /userinfo is the client's mistake: zitadel (which
// logs through slog's default logger) must not log it at ERROR. Not
// parallel: it replaces the default logger.
func TestRevokedTokenAtUserinfoIsNoError(t *testing.T) {
	var logs logCapture
	captureDefaultLog(t, &logs)
	s := newServer(t, withLog(&logs, slog.LevelDebug))
	alice := s.phoneToken(t, "alice")
	r := confirmed(t, s, alice)
	_, tok := s.poll(t, idp.GrantQR, r.DeviceCode, nil)
	at := tok["access_token"].(string)
	if st, raw := s.form(t, "/revoke", rpID, rpSecret, url.Values{"token": {at}, "token_type_hint": {"access_token"}}); st != 200 {
		t.Fatalf("revoke: %d %s", st, raw)
	}
	req, _ := http.NewRequest("GET", s.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	if st, raw := do(t, req); st < 400 || st >= 500 {
		t.Fatalf("userinfo with a revoked token: %d %s", st, raw)
	}
	if e := logs.where(t, "level", "ERROR"); len(e) != 0 {
		t.Errorf("ERROR records for a revoked token at /userinfo: %v", e)
	}
}

// Every record written while serving a request carries that request's id
// (README "Logs"), not only the request line: the records of a password
// sign-in, a lockout, single sign-on, an error sent back to a client, a
// logout and a QR login on the hosted page, at debug level.
func TestEveryRecordOfARequestHasItsID(t *testing.T) {
	var logs logCapture
	s := newServer(t, withLog(&logs, slog.LevelDebug))
	alice := s.phoneToken(t, "alice")
	before := len(logs.records(t)) // what setting up the server logged is no request's

	// A password sign-in for a relying party; single sign-on at another;
	// prompt=none without a session (an error sent to the client).
	b := newBrowser(t, s)
	tok := signedInToken(t, s, b, "alice")
	wantSignedIn(t, s, b)
	wantSignedOut(t, s, newBrowser(t, s))
	// Logout: the browser session ends.
	resp, _ := b.get(endSessionURL(s, map[string]string{"id_token_hint": idTokenOf(t, tok),
		"post_logout_redirect_uri": "https://shop.example/bye", "state": "bye-1"}))
	wantLeftTo(t, resp, "https://shop.example/bye?state=bye-1")
	// Five wrong passwords lock bob's sign-ins.
	for i := range 5 {
		lb := newBrowser(t, s)
		a := newAuthz(s, rpID)
		resp, page := lb.get(a.url())
		lb.post("/login", url.Values{"id": {resp.Request.URL.Query().Get("id")}, "csrf": {csrfRe.FindStringSubmatch(page)[1]},
			"username": {"bob"}, "password": {"wrong-" + string(rune('a'+i))}})
	}
	// A QR login on the hosted page, scanned and confirmed by the phone.
	cfg, verifier := codeConfig(s)
	pc := newBrowser(t, s)
	loginURL, qr := openLoginPage(t, s, pc, cfg, verifier)
	ticket := s.scan(t, alice, qr)
	s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket})
	_, body := pc.get("/login/status?id=" + mustQuery(t, loginURL, "id") + "&since=scanned")
	if st := decodeStatus(t, body); st["status"] != "confirmed" {
		t.Fatalf("status after confirm: %s", body)
	}

	msgs := map[any]bool{}
	for _, r := range logs.records(t)[before:] {
		msgs[r["msg"]] = true
		if id, _ := r["request_id"].(string); id == "" {
			t.Errorf("a record without request_id: %v", r)
		}
	}
	for _, m := range []string{"password login", "single sign-on", "authorize: error sent to the client",
		"browser session ended", "account locked after wrong passwords", "qr login"} {
		if !msgs[m] {
			t.Errorf("no record %q: the flows above did not reach it", m)
		}
	}
}

// panickingStore panics when a browser session is looked up.
type panickingStore struct{ storage.Store }

func (panickingStore) BrowserSessionByHash(context.Context, []byte, time.Time) (*storage.BrowserSession, error) {
	panic("a bug in the store")
}

// A handler's panic is a logged 500 under the request's id; the record
// names the route, never the path: /q/{qr_id}'s path is the QR's secret.
func TestPanicIsLoggedWithoutThePath(t *testing.T) {
	var logs logCapture
	s := newServerOn(t, panickingStore{memory.New()}, withLog(&logs, slog.LevelInfo))
	const qrID = "Q7vYx2kPq9LmN3rT5wZ8aB"
	req, _ := http.NewRequest("GET", s.URL+"/q/"+qrID, nil)
	req.AddCookie(&http.Cookie{Name: "qrlogin_sid", Value: "some-session-token"})
	req.Header.Set("X-Request-Id", "req-panic-1")
	if st, body := do(t, req); st != http.StatusInternalServerError {
		t.Fatalf("GET /q/{qr_id} with a panicking store: %d %s", st, body)
	}
	p := logs.where(t, "msg", "panic")
	if len(p) != 1 || p[0]["level"] != "ERROR" || p[0]["request_id"] != "req-panic-1" || p[0]["route"] != "/q/{qr_id}" {
		t.Errorf("panic records: %v", p)
	}
	if strings.Contains(logs.text(), qrID) {
		t.Errorf("the log holds the QR id:\n%s", logs.text())
	}
}
