package idp_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// Tests of the limits of issue 8. Each reproduces an attack from the
// issue over HTTP, from many loopback addresses where the limit is per
// address (Linux routes all of 127.0.0.0/8 to lo, so a client may bind
// 127.0.0.10, .11, … as its source).

// eachStore runs the test on the memory store and on PostgreSQL.
func eachStore(t *testing.T, run func(t *testing.T, store storage.Store)) {
	t.Run("memory", func(t *testing.T) { run(t, memory.New()) })
	t.Run("postgres", func(t *testing.T) { run(t, pgtest.NewStore(t)) })
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip; it keeps cookies in jar (nil: none) and never follows a
// redirect.
func clientFrom(t *testing.T, ip string, jar http.CookieJar) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// addresses returns n loopback addresses from 127.0.0.<first>.
func addresses(first, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "127.0.0." + itoa(first+i)
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

func readAll(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b)
}

// together runs f(i) for i in [0, n) concurrently, released at once.
func together(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// phoneSignInForm opens the phone-browser login form and returns the
// cookie jar holding its session and the form's CSRF token.
func phoneSignInForm(t *testing.T, s *testServer) (http.CookieJar, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := clientFrom(t, "127.0.0.1", jar)
	resp, err := hc.Get(s.URL + "/login?return=%2Fdevice")
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(resp)
	m := csrfRe.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("login form: %d %s", resp.StatusCode, page)
	}
	return jar, m[1]
}

func postLogin(t *testing.T, s *testServer, hc *http.Client, csrf, username, pw string) *http.Response {
	t.Helper()
	form := url.Values{"return": {"/device"}, "csrf": {csrf}, "username": {username}, "password": {pw}}
	resp, err := hc.PostForm(s.URL+"/login", form)
	if err != nil {
		t.Error(err)
		return nil
	}
	readAll(resp)
	return resp
}

// Finding 1: 60 concurrent wrong passwords for one account from 20
// addresses. The account's budget was checked before argon2id and spent
// after, so all 60 were checked; now at most the budget (5) is, the rest
// are answered 429 with Retry-After at once, the account is locked, and
// its owner's phone is told.
func TestParallelWrongPasswordsFromManyAddresses(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServerOn(t, store, func(c *idp.Config) { c.RateLimit = 20 })
		phone := s.phoneToken(t, "alice")
		jar, csrf := phoneSignInForm(t, s)
		addrs := addresses(10, 20)
		clients := make([]*http.Client, len(addrs))
		for i, a := range addrs {
			clients[i] = clientFrom(t, a, jar)
		}
		before := s.idp.HashStats().Computed
		var mu sync.Mutex
		status := map[int]int{}
		together(60, func(i int) {
			resp := postLogin(t, s, clients[i%len(clients)], csrf, "alice", "wrong-"+itoa(i))
			if resp == nil {
				return
			}
			switch resp.StatusCode {
			case http.StatusUnauthorized:
			case http.StatusTooManyRequests, http.StatusServiceUnavailable: // refused; 503: the gate was busy
				if resp.Header.Get("Retry-After") == "" {
					t.Errorf("%d without Retry-After", resp.StatusCode)
				}
			default:
				t.Errorf("wrong password: %d", resp.StatusCode)
			}
			mu.Lock()
			status[resp.StatusCode]++
			mu.Unlock()
		})
		checked := s.idp.HashStats().Computed - before
		if status[http.StatusUnauthorized] > 5 || checked > 5 || status[http.StatusTooManyRequests] < 55 {
			t.Fatalf("60 concurrent wrong passwords: answers %v, %d argon2id checks; want at most 5 checked (401), the rest 429", status, checked)
		}
		// On a loaded machine a check may have met a busy gate (503, not
		// counted): finish the budget one wrong password at a time.
		for i := 0; status[http.StatusUnauthorized] < 5 && i < 20; i++ {
			status[postLogin(t, s, clients[0], csrf, "alice", "wrong").StatusCode]++
		}
		// Locked: even the right password waits (the QR login does not).
		resp := postLogin(t, s, clients[0], csrf, "alice", "alice-password")
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("locked account, right password: %d", resp.StatusCode)
		}
		// The owner's phone hears of it, once.
		req, _ := http.NewRequest("GET", s.URL+"/account/notifications", nil)
		req.Header.Set("Authorization", "Bearer "+phone)
		code, raw := do(t, req)
		body := decode(t, raw)
		var locks []map[string]any
		for _, n := range body["notifications"].([]any) {
			if n := n.(map[string]any); n["kind"] == "password_lockout" {
				locks = append(locks, n)
			}
		}
		if code != 200 || len(locks) != 1 {
			t.Fatalf("notifications after the lockout: %d %s", code, raw)
		}
		if ip := locks[0]["requester"].(map[string]any)["ip"].(string); !strings.HasPrefix(ip, "127.0.0.") || locks[0]["revoke_session_uri"] != nil {
			t.Fatalf("lockout notification: %v", locks[0])
		}
	})
}

// Finding 5: an empty or over-long username, or an over-long password,
// ran the dummy argon2id check before the semaphore (152 concurrent: RSS
// 2.9 GiB). Now such input is refused with 400 before any hashing, and
// every other check — the dummy one for unknown usernames included — runs
// behind the one gate. The store plays no part: memory only.
func TestPasswordInputIsBoundedBeforeHashing(t *testing.T) {
	s := newServer(t, func(c *idp.Config) { c.RateLimit = -1; c.HashConcurrency = 2 })
	jar, csrf := phoneSignInForm(t, s)
	hc := clientFrom(t, "127.0.0.10", jar)
	long := strings.Repeat("p", 2048)
	cases := [][2]string{{"", "x"}, {strings.Repeat("u", 300), "x"}, {"alice", long}, {"nobody", long}}
	together(152, func(i int) {
		c := cases[i%len(cases)]
		if resp := postLogin(t, s, hc, csrf, c[0], c[1]); resp != nil && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("username %d bytes, password %d bytes: %d, want 400", len(c[0]), len(c[1]), resp.StatusCode)
		}
	})
	if n := s.idp.HashStats().Computed; n != 0 {
		t.Fatalf("%d argon2id computations for refused input", n)
	}
	// Unknown usernames (each its own account, so no lockout): the dummy
	// checks wait for the gate like real ones.
	together(40, func(i int) {
		resp := postLogin(t, s, hc, csrf, "nobody-"+itoa(i), "guess")
		if resp != nil && resp.StatusCode != http.StatusUnauthorized &&
			(resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "") {
			t.Errorf("unknown username: %d", resp.StatusCode)
		}
	})
	if st := s.idp.HashStats(); st.Peak > 2 || st.Computed == 0 {
		t.Fatalf("gate %+v: want at most 2 checks at once", st)
	}
}

// qrAuthorizeFrom calls /qr/authorize from the client hc as client id
// (public when secret is empty) and returns the status.
func qrAuthorizeFrom(t *testing.T, s *testServer, hc *http.Client, id, secret string) *http.Response {
	t.Helper()
	form := url.Values{"scope": {"openid"}}
	if secret == "" {
		form.Set("client_id", id)
	}
	req, _ := http.NewRequest("POST", s.URL+"/qr/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Error(err)
		return nil
	}
	readAll(resp)
	return resp
}

// Finding 7: /qr/authorize was limited per client, and a public client
// has no secret: 200 requests from 5 addresses kept a sixth address at
// 429, so anyone could block a desktop app's QR login. Public clients are
// limited per address now: the flooding addresses are refused, the sixth
// is served.
func TestPublicClientQRLoginIsNotBlockedByOtherAddresses(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		// Burst 2 per address; the test clock does not move, so no bucket
		// refills during the test.
		s := newServerOn(t, store, func(c *idp.Config) { c.RateLimit = 1 })
		flood := addresses(20, 5)
		refused := make([]int, len(flood))
		var mu sync.Mutex
		together(len(flood), func(i int) {
			hc := clientFrom(t, flood[i], nil)
			for range 40 {
				resp := qrAuthorizeFrom(t, s, hc, publicRPID, "")
				if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
					mu.Lock()
					refused[i]++
					mu.Unlock()
				}
			}
		})
		for i, n := range refused {
			if n == 0 {
				t.Errorf("%s sent 40 requests at a burst of 2 and none was refused", flood[i])
			}
		}
		resp := qrAuthorizeFrom(t, s, clientFrom(t, "127.0.0.25", nil), publicRPID, "")
		if resp == nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("a sixth address, after 200 requests from five others: %v", resp.Status)
		}
	})
}

// Finding 7: a busy confidential relying party was capped at 20 QR
// logins a second in total. It has a quota of its own (default 1,000/s,
// set per client by the admin), independent of the address limits.
func TestConfidentialClientQuota(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServerOn(t, store, func(c *idp.Config) { c.RateLimit = 20 }) // serve's default for strangers
		hc := clientFrom(t, "127.0.0.30", nil)                               // one website's backend: one address
		var mu sync.Mutex
		status := map[int]int{}
		together(100, func(int) {
			if resp := qrAuthorizeFrom(t, s, hc, rpID, rpSecret); resp != nil {
				mu.Lock()
				status[resp.StatusCode]++
				mu.Unlock()
			}
		})
		if status[http.StatusOK] != 100 {
			t.Fatalf("100 concurrent QR logins of one confidential client from one address: %v, want all 200", status)
		}
		// The admin lowers its quota to 1/s (burst 2): it applies.
		one := 1.0
		if _, err := store.UpdateClient(t.Context(), rpID, storage.ClientUpdate{RateLimit: &one}); err != nil {
			t.Fatal(err)
		}
		s.clock.Advance(6 * time.Second) // past the client cache (5 s); the test clock moves only here
		limited := false
		for range 10 {
			resp := qrAuthorizeFrom(t, s, hc, rpID, rpSecret)
			if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
				if resp.Header.Get("Retry-After") == "" {
					t.Fatal("429 without Retry-After")
				}
				limited = true
			}
		}
		if !limited {
			t.Fatal("10 requests at a quota of 1/s: none refused")
		}
		// Another client is not affected.
		if resp := qrAuthorizeFrom(t, s, hc, otherID, otherSec); resp == nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("another client from the same address: %v", resp.Status)
		}
	})
}

// Finding 2: /authorize had no rate limit and no length caps: 400
// requests with a 900 KB state put 632 MB on the memory store's heap, 100
// grew PostgreSQL's auth_requests by 89 MB, each kept 10 minutes. Now a
// parameter over its cap is a 400 before anything is stored, and each
// address may create a burst of 40 authorization requests, then 20/s.
func TestAuthorizeFloodIsBounded(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		cs := &countingStore{Store: store}
		// The test clock does not move: no bucket refills during the test.
		s := newServerOn(t, cs, func(c *idp.Config) { c.RateLimit = 20 })
		authURL := func(state string) string {
			return s.URL + "/authorize?" + url.Values{"client_id": {rpID}, "redirect_uri": {"https://shop.example/cb"},
				"response_type": {"code"}, "scope": {"openid"}, "state": {state},
				"code_challenge": {s256("verifier")}, "code_challenge_method": {"S256"}}.Encode()
		}
		get := func(hc *http.Client, u string) *http.Response {
			resp, err := hc.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			readAll(resp)
			return resp
		}
		attacker := clientFrom(t, "127.0.0.40", nil)
		if resp := get(attacker, authURL(strings.Repeat("s", 900<<10))); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a 900 KB state: %d, want 400", resp.StatusCode)
		}
		if n := cs.count("CreateAuthRequest"); n != 0 {
			t.Fatalf("a 900 KB state was stored (%d authorization requests)", n)
		}
		status := map[int]int{}
		for range 60 {
			resp := get(attacker, authURL(strings.Repeat("s", 2048))) // the longest state accepted
			if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			status[resp.StatusCode]++
		}
		if n := cs.count("CreateAuthRequest"); n > 40 || status[http.StatusTooManyRequests] < 20 {
			t.Fatalf("60 requests from one address: %v, %d authorization requests stored; want at most the burst of 40", status, n)
		}
		if resp := get(clientFrom(t, "127.0.0.41", nil), authURL("s")); resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("another address: %d, want a redirect to the login page", resp.StatusCode)
		}
	})
}

// waitUntil polls cond until it holds. It synchronises with the server
// (a long-poll is held once it is counted); the deadline only keeps a
// broken server from hanging the test.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
	}
}

// statusAnswer is one answer of /login/status.
type statusAnswer struct {
	code       int
	retryAfter string
	body       string
}

// holdStatus sends n concurrent status requests of the login page
// loginURL in browser b, asking to be told of a change from since, and
// returns the channel their answers arrive on.
func holdStatus(t *testing.T, s *testServer, b *browser, loginURL, since string, n int) <-chan statusAnswer {
	t.Helper()
	u := s.URL + "/login/status?id=" + url.QueryEscape(mustQuery(t, loginURL, "id")) + "&since=" + since
	out := make(chan statusAnswer, n)
	for range n {
		go func() {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", u, nil) // cut when the test ends
			resp, err := b.hc.Do(req)
			if err != nil {
				out <- statusAnswer{body: err.Error()}
				return
			}
			out <- statusAnswer{resp.StatusCode, resp.Header.Get("Retry-After"), readAll(resp)}
		}()
	}
	return out
}

// Finding 3: /login/status long-polls were uncapped: one cookie held
// 10,000 (RSS 24 → 479 MB), and one scan of that QR cost 18,335 reads of
// the login, as every waiter re-read the row. Now a login holds at most 3
// on an instance, the rest are answered 429 with Retry-After at once,
// and the held ones learn of the scan from its announcement, which
// carries the new status: no read at all (issue 9). The attack replayed:
// 10,000 status long-polls on one cookie from 20 addresses, 64 in flight
// at a time (a refused one frees its worker at once; a held one keeps it).
func TestStatusLongPollsAreCapped(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		const polls, workers = 10000, 64
		cs := &countingStore{Store: store}
		// Held ones stay held however long 10,000 requests take here.
		s := newServerOn(t, cs, func(c *idp.Config) { c.StatusHold = time.Hour })
		phone := s.phoneToken(t, "alice")
		b := newBrowser(t, s)
		cfg, verifier := codeConfig(s)
		loginURL, qr := openLoginPage(t, s, b, cfg, verifier)
		u := s.URL + "/login/status?id=" + url.QueryEscape(mustQuery(t, loginURL, "id")) + "&since=pending"
		var clients []*http.Client
		for _, ip := range addresses(10, 20) {
			clients = append(clients, clientFrom(t, ip, b.hc.Jar)) // the one cookie, from 20 addresses
		}

		jobs := make(chan int)
		answers := make(chan statusAnswer, polls)
		for range workers {
			go func() {
				for i := range jobs {
					req, _ := http.NewRequestWithContext(t.Context(), "GET", u, nil) // cut when the test ends
					resp, err := clients[i%len(clients)].Do(req)
					if err != nil {
						answers <- statusAnswer{body: err.Error()}
						continue
					}
					answers <- statusAnswer{resp.StatusCode, resp.Header.Get("Retry-After"), readAll(resp)}
				}
			}()
		}
		go func() {
			defer close(jobs)
			for i := range polls {
				select {
				case jobs <- i:
				case <-t.Context().Done():
					return
				}
			}
		}()
		for range polls - 3 {
			a := <-answers // at once: a held one would answer only after the scan
			if a.code != http.StatusTooManyRequests || a.retryAfter == "" {
				t.Fatalf("a status request past the cap: %d, Retry-After %q: %s", a.code, a.retryAfter, a.body)
			}
		}
		waitUntil(t, "3 held status requests", func() bool { return s.idp.QR().Held() == 3 })
		reads := cs.count("QRLogin")
		s.scan(t, phone, qr)
		for range 3 {
			if a := <-answers; a.code != 200 || decodeStatus(t, a.body)["status"] != "scanned" {
				t.Fatalf("a held status request after the scan: %d %s", a.code, a.body)
			}
		}
		if n := cs.count("QRLogin") - reads; n != 0 {
			t.Fatalf("the scan woke 3 held requests with %d reads of the login, want none", n)
		}
	})
}

// Finding 3: status requests are also bounded per browser session, over
// all its login pages (a session keeps up to four). Session accounting is
// in memory whatever the store: memory only.
func TestStatusLongPollsPerSessionAreCapped(t *testing.T) {
	s := newServer(t)
	b := newBrowser(t, s)
	cfg, verifier := codeConfig(s)
	var loginURLs []string
	for range 4 { // four login pages in one browser: 12 allowed by the per-login cap
		loginURL, _ := openLoginPage(t, s, b, cfg, verifier)
		loginURLs = append(loginURLs, loginURL)
	}
	answers := make(chan statusAnswer, 12)
	for _, u := range loginURLs {
		go func() {
			for a := range holdStatus(t, s, b, u, "pending", 3) {
				answers <- a
			}
		}()
	}
	refused := 0
	for range 6 {
		a := <-answers // at once: a held one would answer only after 25 s
		if a.code != http.StatusTooManyRequests || a.retryAfter == "" {
			t.Fatalf("past the session's cap: %d %s", a.code, a.body)
		}
		refused++
	}
	waitUntil(t, "6 held status requests", func() bool { return s.idp.QR().Held() == 6 })
	if held := s.idp.QR().Held(); refused != 6 || held != 6 {
		t.Fatalf("12 status requests in one session: %d refused, %d held; want 6 and 6", refused, held)
	}
}

// Finding 3: long-polls held by one instance are bounded in all (token
// endpoint and login pages together); past the bound a long-poll is
// answered at once — authorization_pending for the token endpoint, the
// status and retry_after for a login page — while the others stay held.
// The bound is in memory whatever the store: memory only.
func TestHeldLongPollsPerInstanceAreCapped(t *testing.T) {
	s := newServer(t, func(c *idp.Config) { c.MaxHeldPolls = 2 })
	pollWait := func(ctx context.Context, deviceCode string) (int, map[string]any) {
		form := url.Values{"grant_type": {idp.GrantQR}, "device_code": {deviceCode}, "wait": {"30"}}
		req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(rpID, rpSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		return resp.StatusCode, decode(t, []byte(readAll(resp)))
	}
	for range 2 {
		r := s.start(t, nil)
		go pollWait(t.Context(), r.DeviceCode) // cut when the test ends
	}
	waitUntil(t, "2 held long-polls", func() bool { return s.idp.QR().Held() == 2 })

	r := s.start(t, nil)
	if status, body := pollWait(t.Context(), r.DeviceCode); status != 400 || body["error"] != "authorization_pending" || body["qr_status"] != "pending" {
		t.Fatalf("a long-poll past the instance's bound: %d %v", status, body)
	}
	b := newBrowser(t, s)
	cfg, verifier := codeConfig(s)
	loginURL, _ := openLoginPage(t, s, b, cfg, verifier)
	a := <-holdStatus(t, s, b, loginURL, "pending", 1)
	if a.code != 200 || a.retryAfter == "" || !strings.Contains(a.body, `"retry_after":`) || !strings.Contains(a.body, `"status":"pending"`) {
		t.Fatalf("a status request past the instance's bound: %d %q %s", a.code, a.retryAfter, a.body)
	}
	if held := s.idp.QR().Held(); held != 2 {
		t.Fatalf("%d long-polls held, want the first 2 still held", held)
	}
	rec := httptest.NewRecorder()
	s.idp.Metrics().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := `qrlogin_rate_limited_total{limit="held_polls_per_instance"} 2`; !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("metrics lack %s", want)
	}
}

// serveLimited serves s on a loopback listener within limits and returns
// the listener and its address.
func serveLimited(t *testing.T, s *testServer, limits idp.ListenerLimits) (*idp.ConnListener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := s.idp.LimitListener(ln, limits)
	srv := &http.Server{Handler: s.idp}
	go srv.Serve(cl)
	t.Cleanup(func() { srv.Close() })
	return cl, ln.Addr().String()
}

func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// getOn sends a GET for the discovery document on an open connection and
// returns the status line.
func getOn(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second)) // a hang guard, not a timing assertion
	if _, err := io.WriteString(c, "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err.Error()
	}
	readAll(resp)
	if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
		return "429 without Retry-After"
	}
	return resp.Status
}

// Finding 4: one address held 19,900 idle keep-alive connections and the
// server ran out of file descriptors. Now an address holds at most its
// bound (5 here); further connections read 429 and are closed, while
// another address is served, and the places come back when the
// connections close.
func TestConnectionFloodFromOneAddressIsCapped(t *testing.T) {
	s := newServer(t)
	cl, addr := serveLimited(t, s, idp.ListenerLimits{PerAddress: 5, Total: 100, Refusal: idp.RefusalHTTP})
	var idle []net.Conn
	for range 5 {
		idle = append(idle, dialFrom(t, "127.0.0.50", addr))
	}
	waitUntil(t, "5 open connections", func() bool { return cl.Open() == 5 })
	for i := range 20 {
		c := dialFrom(t, "127.0.0.50", addr)
		if st := getOn(t, c); st != "429 Too Many Requests" {
			t.Fatalf("a request on connection %d past the address's bound: %s", 6+i, st)
		}
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("connection %d past the address's bound was not closed: %v", 6+i, err)
		}
	}
	if st := getOn(t, dialFrom(t, "127.0.0.51", addr)); st != "200 OK" {
		t.Fatalf("another address while the first is at its bound: %s", st)
	}
	if st := getOn(t, idle[0]); st != "200 OK" {
		t.Fatalf("a connection within the bound: %s", st)
	}
	for _, c := range idle {
		c.Close()
	}
	waitUntil(t, "the closed connections to be released", func() bool { return cl.Open() <= 1 })
	if st := getOn(t, dialFrom(t, "127.0.0.50", addr)); st != "200 OK" {
		t.Fatalf("the first address after its connections closed: %s", st)
	}
}

// Finding 4: at the bound in all, new connections wait in the kernel's
// backlog instead of costing a descriptor; one is served as soon as
// another closes.
func TestConnectionsInAllAreCapped(t *testing.T) {
	s := newServer(t)
	cl, addr := serveLimited(t, s, idp.ListenerLimits{Total: 3, Refusal: idp.RefusalHTTP})
	var idle []net.Conn
	for _, ip := range addresses(60, 3) {
		idle = append(idle, dialFrom(t, ip, addr))
	}
	waitUntil(t, "3 open connections", func() bool { return cl.Open() == 3 })
	var closed atomic.Bool
	type result struct {
		status      string
		afterAClose bool
	}
	answered := make(chan result, 1)
	go func() {
		st := getOn(t, dialFrom(t, "127.0.0.63", addr))
		answered <- result{st, closed.Load()}
	}()
	time.Sleep(300 * time.Millisecond) // time for a server without the bound to answer (not asserted)
	closed.Store(true)
	idle[0].Close()
	if r := <-answered; r.status != "200 OK" || !r.afterAClose {
		t.Fatalf("a fourth connection at a bound of 3: %s, answered after another closed: %v", r.status, r.afterAClose)
	}
}
