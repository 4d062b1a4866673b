package idp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp"
)

// Issue 9, bounded memory: a token-endpoint long-poll held on an HTTP/1.x
// connection is parked (idp/park.go, grants/park.go): no goroutine of its
// own, and answered with Connection: close.

// rawPoll is a token-endpoint long-poll on a connection of its own,
// written and read by net/http's client code, so the test sees what the
// server sent on the connection and whether it closed it.
type rawPoll struct {
	conn net.Conn
	req  *http.Request
}

func startRawPoll(t *testing.T, s *testServer, deviceCode, wait string, header http.Header) *rawPoll {
	t.Helper()
	form := url.Values{"grant_type": {idp.GrantQR}, "device_code": {deviceCode}, "wait": {wait}}
	req, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(rpID, rpSecret)
	for k, v := range header {
		req.Header[k] = v
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	return &rawPoll{conn: conn, req: req}
}

// answer reads the answer, checks the server closed the connection after
// it (a clean end of stream, not a reset) and returns it with its body.
func (p *rawPoll) answer(t *testing.T) (*http.Response, map[string]any) {
	t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(p.conn)
	resp, err := http.ReadResponse(br, p.req)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("the answer's body: %v", err)
	}
	resp.Body.Close()
	if !resp.Close {
		t.Errorf("the answer of a parked long-poll lacks Connection: close: %v", resp.Header)
	}
	if n, err := br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("after the answer the connection gave %d bytes, %v; want a clean close (EOF)", n, err)
	}
	for _, h := range []string{"Cache-Control", "Pragma", "Content-Type", "X-Request-Id", "X-Content-Type-Options", "Content-Security-Policy"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("the answer lacks %s: %v", h, resp.Header)
		}
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	return resp, body
}

// scannedAndParked starts a login, has alice scan it, polls once (told
// "scanned"), and parks a long-poll on a connection of its own.
func scannedAndParked(t *testing.T, s *testServer) (alice string, r *qrStart, ticket string, p *rawPoll) {
	t.Helper()
	alice = s.phoneToken(t, "alice")
	r = s.start(t, nil)
	ticket = s.scan(t, alice, r.VerificationURIComplete)
	if _, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); body["qr_status"] != "scanned" {
		t.Fatalf("poll after the scan: %v", body)
	}
	p = startRawPoll(t, s, r.DeviceCode, "30", nil)
	parkedPolls(t, s, 1)
	return alice, r, ticket, p
}

// parkedPolls waits until the provider parks n long-polls.
func parkedPolls(t *testing.T, s *testServer, n int) {
	t.Helper()
	waitUntil(t, "parked long-polls", func() bool { return s.idp.QR().Parked() == n })
}

// A parked long-poll is answered at the confirm with tokens that verify,
// on a complete HTTP/1.1 answer with the headers of any answer, and the
// connection is closed; the request's log line is written then, with the
// real status and duration, and the long-poll gauge and answer counter
// count it as before.
func TestParkedLongPollAnsweredOnConfirm(t *testing.T) {
	var logs logCapture
	onBothStores(t, func(t *testing.T, s *testServer) {
		alice, _, ticket, p := scannedAndParked(t, s)
		heldLongPolls(t, s, 1) // the gauge counts a parked poll
		time.Sleep(100 * time.Millisecond)
		if status, body := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket}); status != 200 {
			t.Fatalf("confirm: %d %v", status, body)
		}
		resp, tok := p.answer(t)
		if resp.StatusCode != 200 || tok["token_type"] != "Bearer" {
			t.Fatalf("the parked long-poll at the confirm: %d %v", resp.StatusCode, tok)
		}
		raw, _ := tok["id_token"].(string)
		if claims := verifyIDToken(t, s, rpID, rpSecret, raw, ""); claims.Subject != s.users["alice"] {
			t.Fatalf("sub %q", claims.Subject)
		}
		if n := s.idp.QR().Held(); n != 0 {
			t.Fatalf("%d long-polls still held after the answer", n)
		}
		heldLongPolls(t, s, 0)
		rec := httptest.NewRecorder()
		s.idp.Metrics().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if want := `qrlogin_qr_token_answers_total{outcome="tokens"} 1`; !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
		waitUntil(t, "the parked request's log line", func() bool {
			return len(logs.where(t, "msg", "request", "route", "/oauth/token", "status", float64(200),
				"request_id", resp.Header.Get("X-Request-Id"))) == 1
		})
		line := logs.where(t, "msg", "request", "request_id", resp.Header.Get("X-Request-Id"))[0]
		if d, _ := line["duration_ms"].(float64); d < 100 {
			t.Errorf("the parked request's log line says %v ms; it was held at least 100 ms", line["duration_ms"])
		}
		if line["bytes"].(float64) < 100 || line["client_id"] != rpID {
			t.Errorf("the parked request's log line: %v", line)
		}
	}, withLog(&logs, slog.LevelInfo))
}

// A parked long-poll whose wait ends with nothing changed is answered
// authorization_pending, and one whose login expires while parked is
// answered expired_token.
func TestParkedLongPollTimeoutAndExpiry(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		r := s.start(t, nil)
		s.poll(t, idp.GrantQR, r.DeviceCode, nil)
		p := startRawPoll(t, s, r.DeviceCode, "1", nil)
		parkedPolls(t, s, 1)
		if resp, body := p.answer(t); resp.StatusCode != 400 || body["error"] != "authorization_pending" || body["qr_status"] != "pending" {
			t.Fatalf("a parked long-poll at the end of its wait: %d %v", resp.StatusCode, body)
		}

		// The login's expiry: a time comparison on the server's clock, which
		// the test moves past it; the parked poll's timer fires at the
		// login's expiry as the poll saw it (QRTTL 2 s after its start).
		r = s.start(t, nil)
		s.poll(t, idp.GrantQR, r.DeviceCode, nil)
		p = startRawPoll(t, s, r.DeviceCode, "30", nil)
		parkedPolls(t, s, 1)
		s.clock.Advance(time.Minute)
		if resp, body := p.answer(t); resp.StatusCode != 400 || body["error"] != "expired_token" {
			t.Fatalf("a parked long-poll at its login's expiry: %d %v", resp.StatusCode, body)
		}
	}, func(c *idp.Config) { c.QRTTL = 2 * time.Second })
}

// Drain: a parked long-poll is answered at once with its current state,
// and WaitParked (which serve's shutdown calls, as the HTTP server's
// Shutdown does not wait for a hijacked connection) returns once it is
// written.
func TestParkedLongPollAnsweredAtDrain(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		r := s.start(t, nil)
		s.poll(t, idp.GrantQR, r.DeviceCode, nil)
		p := startRawPoll(t, s, r.DeviceCode, "30", nil)
		parkedPolls(t, s, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := s.idp.WaitParked(ctx); err == nil {
			t.Fatal("WaitParked returned while a long-poll is parked")
		}
		s.idp.Drain()
		ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.idp.WaitParked(ctx); err != nil {
			t.Fatalf("WaitParked after the drain: %v", err)
		}
		if resp, body := p.answer(t); resp.StatusCode != 400 || body["error"] != "authorization_pending" || body["qr_status"] != "pending" {
			t.Fatalf("a parked long-poll at the drain: %d %v", resp.StatusCode, body)
		}
	})
}

// The hold bounds count parked long-polls: three per login, then a fourth
// is answered at once; MaxHeldPolls in all, then the next is answered at
// once.
func TestParkedLongPollsKeepTheHoldBounds(t *testing.T) {
	s := newServer(t, func(c *idp.Config) { c.MaxHeldPolls = 4 })
	r := s.start(t, nil)
	s.poll(t, idp.GrantQR, r.DeviceCode, nil)
	s.clock.Advance(time.Second)
	for range 3 {
		startRawPoll(t, s, r.DeviceCode, "30", nil)
	}
	parkedPolls(t, s, 3)
	if status, body := s.poll(t, idp.GrantQR, r.DeviceCode, url.Values{"wait": {"30"}}); status != 400 || body["qr_status"] != "pending" {
		t.Fatalf("a fourth long-poll of one login: %d %v", status, body)
	}
	other := s.start(t, nil)
	s.poll(t, idp.GrantQR, other.DeviceCode, nil)
	startRawPoll(t, s, other.DeviceCode, "30", nil)
	parkedPolls(t, s, 4)
	third := s.start(t, nil)
	s.poll(t, idp.GrantQR, third.DeviceCode, nil)
	if status, body := s.poll(t, idp.GrantQR, third.DeviceCode, url.Values{"wait": {"30"}}); status != 400 || body["qr_status"] != "pending" {
		t.Fatalf("a long-poll past the instance's bound: %d %v", status, body)
	}
	if n := s.idp.QR().Parked(); n != 4 {
		t.Fatalf("%d parked, want the first 4", n)
	}
}

// A DPoP-bound login is redeemed by a parked long-poll carrying the PC's
// proof: the tokens are bound to its key (RFC 9449 §5).
func TestParkedLongPollDPoPBound(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		alice := s.phoneToken(t, "alice")
		pc := newDPoPKey(t)
		status, started := s.startWithProof(t, s.proof(t, pc, "POST", "/qr/authorize", ""), nil)
		if status != 200 {
			t.Fatalf("/qr/authorize: %d %v", status, started)
		}
		deviceCode := started["device_code"].(string)
		ticket := s.scan(t, alice, started["verification_uri_complete"].(string))
		poll := url.Values{"grant_type": {idp.GrantQR}, "device_code": {deviceCode}}
		if status, body := s.tokenWithProof(t, rpID, rpSecret, s.proof(t, pc, "POST", "/oauth/token", ""), poll); body["qr_status"] != "scanned" {
			t.Fatalf("poll after the scan: %d %v", status, body)
		}
		p := startRawPoll(t, s, deviceCode, "30", http.Header{"Dpop": {s.proof(t, pc, "POST", "/oauth/token", "")}})
		parkedPolls(t, s, 1)
		if status, body := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket}); status != 200 {
			t.Fatalf("confirm: %d %v", status, body)
		}
		resp, tok := p.answer(t)
		if resp.StatusCode != 200 || tok["token_type"] != "DPoP" {
			t.Fatalf("the parked DPoP-bound long-poll: %d %v", resp.StatusCode, tok)
		}
		at := tok["access_token"].(string)
		if st, _, info := s.userinfoWith(t, "DPoP", at, s.proof(t, pc, "GET", "/userinfo", at)); st != 200 || info["sub"] != s.users["alice"] {
			t.Fatalf("userinfo with the PC's key: %d %v", st, info)
		}
	})
}

// HTTP/2 cannot hijack: a long-poll over it is held in its request's
// goroutine, as before, and answered the same.
func TestLongPollOverHTTP2IsHeldNotParked(t *testing.T) {
	s := newServer(t)
	// The same provider behind a second listener that speaks HTTP/2
	// without TLS (h2c), and a client that speaks only that.
	h2 := httptest.NewUnstartedServer(s.idp)
	h2.Config.Protocols = new(http.Protocols)
	h2.Config.Protocols.SetUnencryptedHTTP2(true)
	h2.Start()
	defer h2.Close()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}

	alice := s.phoneToken(t, "alice")
	r := s.start(t, nil)
	ticket := s.scan(t, alice, r.VerificationURIComplete)
	s.poll(t, idp.GrantQR, r.DeviceCode, nil)
	done := make(chan answer, 1)
	go func() {
		form := url.Values{"grant_type": {idp.GrantQR}, "device_code": {r.DeviceCode}, "wait": {"30"}}
		req, _ := http.NewRequest("POST", h2.URL+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(rpID, rpSecret)
		resp, err := client.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		a := answer{status: resp.StatusCode, err: json.NewDecoder(resp.Body).Decode(&map[string]any{})}
		if resp.ProtoMajor != 2 {
			a.err = errors.New("not HTTP/2: " + resp.Proto)
		}
		a.body = map[string]any{"close": resp.Close}
		done <- a
	}()
	waitUntil(t, "a held long-poll", func() bool { return s.idp.QR().Held() == 1 })
	if n := s.idp.QR().Parked(); n != 0 {
		t.Fatalf("%d long-polls parked over HTTP/2", n)
	}
	if status, body := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket}); status != 200 {
		t.Fatalf("confirm: %d %v", status, body)
	}
	if a := <-done; a.err != nil || a.status != 200 {
		t.Fatalf("the HTTP/2 long-poll at the confirm: %d %v %v", a.status, a.body, a.err)
	}
}

// Red team of issue 9, F1: a parked long-poll whose client hung up (an
// HTTP timeout no longer than the wait, a proxy's idle timeout, a
// network blip) must not redeem the login at the confirm: the tokens
// would go to a closed connection, the user would get a sign-in
// notification, and the client's retry would find the login redeemed
// (invalid_grant) although the user confirmed it. A poll held in its
// goroutine learns of the hang-up from its context; a parked one probes
// its connection before the redeem. The client's next poll gets the
// tokens.
func TestAParkedPollWhoseClientHungUpDoesNotRedeem(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		alice, r, ticket, p := scannedAndParked(t, s)
		p.conn.Close()                    // the client gives up
		time.Sleep(50 * time.Millisecond) // for the FIN to reach the server's socket
		if status, body := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket}); status != 200 {
			t.Fatalf("confirm: %d %v", status, body)
		}
		waitUntil(t, "the hung-up poll's hold released", func() bool { return s.idp.QR().Held() == 0 })
		status, tok := s.poll(t, idp.GrantQR, r.DeviceCode, nil)
		if status != 200 || tok["access_token"] == nil {
			t.Fatalf("the client's next poll after the confirm: %d %v, want the tokens (the hung-up poll must not have redeemed them)", status, tok)
		}
	})
}

// Red team of issue 9, F2: parked polls whose clients hung up do not keep
// the login's bound of held long-polls (3) from the live client. A client
// that timed out and retried three times left three dead parked polls;
// its next long-poll was answered at once, and so was every one after it
// until the dead ones' wait ended (up to 30 s of a client spinning). Now a
// refused hold first evicts the parked polls whose connections are gone.
func TestDeadParkedPollsDoNotKeepTheLiveClientFromLongPolling(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		r := s.start(t, nil)
		dead := make([]*rawPoll, 3)
		for i := range dead {
			dead[i] = startRawPoll(t, s, r.DeviceCode, "30", nil)
			parkedPolls(t, s, i+1)
		}
		for _, p := range dead {
			p.conn.Close()
		}
		time.Sleep(50 * time.Millisecond) // for the FINs to reach the server's sockets
		live := startRawPoll(t, s, r.DeviceCode, "30", nil)
		waitUntil(t, "the dead polls evicted and the live one parked", func() bool {
			return s.idp.QR().Parked() == 1 && s.idp.QR().Held() == 1
		})
		live.conn.Close()
	})
}
