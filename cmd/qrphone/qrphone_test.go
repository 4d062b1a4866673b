package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/idp/password"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

// Fixtures of the test provider.
const (
	rpID     = "shop"
	rpName   = "Example Shop"
	rpSecret = "shop-secret-0123456789"
	phoneID  = "qrphone"
)

// testServer is a real qrlogin provider in process, on the memory store.
type testServer struct {
	*httptest.Server
	store storage.Store
}

// newTestServer starts the provider with the phone app (public, first
// party, loopback redirect), a confidential relying party with the QR
// grant, and the users alice and bob (password: name + "-password").
func newTestServer(t *testing.T, opts ...func(*idp.Config)) *testServer {
	t.Helper()
	ctx := context.Background()
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	t.Cleanup(ts.Close)
	store := memory.New()
	cfg := idp.Config{Issuer: ts.URL, Store: store, RateLimit: -1}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := idp.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	now := time.Now().UTC()
	for _, c := range []*storage.Client{
		{ID: rpID, Name: rpName, SecretHash: storage.Hash(rpSecret), Type: storage.ClientConfidential,
			RedirectURIs: []string{"https://shop.example/cb"}, ClientURI: "https://shop.example",
			GrantTypes: []string{idp.GrantQR, idp.GrantDeviceCode, "refresh_token"}, CreatedAt: now},
		{ID: phoneID, Name: "qrlogin phone app", Type: storage.ClientPublic, FirstParty: true,
			RedirectURIs: []string{"http://127.0.0.1/callback"}, GrantTypes: []string{"authorization_code", "refresh_token"}, CreatedAt: now},
	} {
		if err := store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"alice", "bob"} {
		h, err := password.Hash(name + "-password")
		if err != nil {
			t.Fatal(err)
		}
		u := &storage.User{ID: "user-" + name, Username: name, PasswordHash: h, Name: name, Email: name + "@example.com", CreatedAt: now}
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return &testServer{Server: ts, store: store}
}

// phone is one installation of qrphone: its own token file.
type phone struct {
	ts        *testServer
	tokenFile string
	env       map[string]string // more environment
}

func newPhone(t *testing.T, ts *testServer) *phone {
	return &phone{ts: ts, tokenFile: filepath.Join(t.TempDir(), "config", "qrphone", "token.json")}
}

// run runs qrphone with the issuer and token file in its environment, as
// a user's shell would set them.
func (p *phone) run(stdin string, args ...string) (stdout, stderr string, err error) {
	env := map[string]string{"QRPHONE_ISSUER": p.ts.URL, "QRPHONE_TOKEN_FILE": p.tokenFile}
	for k, v := range p.env {
		env[k] = v
	}
	var out, errb bytes.Buffer
	err = run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func (p *phone) login(t *testing.T, user string) {
	t.Helper()
	if out, errOut, err := p.run(user+"-password\n", "login", "--username", user, "--password-stdin"); err != nil {
		t.Fatalf("login: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
}

func (p *phone) token(t *testing.T) storedToken {
	t.Helper()
	b, err := os.ReadFile(p.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	var st storedToken
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// qrLogin is what the relying party got from POST /qr/authorize.
type qrLogin struct {
	DeviceCode string `json:"device_code"`
	UserCode   string `json:"user_code"`
	URI        string `json:"verification_uri_complete"`
	QRImage    string `json:"qr_image"`
}

// startQR is the relying party starting a QR login for a browser it
// reports (SPEC §2.1).
func (ts *testServer) startQR(t *testing.T, form url.Values) *qrLogin {
	t.Helper()
	if form == nil {
		form = url.Values{"scope": {"openid profile"}}
	}
	req, _ := http.NewRequest("POST", ts.URL+"/qr/authorize", strings.NewReader(form.Encode()))
	req.SetBasicAuth(rpID, rpSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/qr/authorize: %d %s", resp.StatusCode, body)
	}
	var l qrLogin
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	return &l
}

// pngFile writes the login's qr_image to a file, as a screenshot would.
func (l *qrLogin) pngFile(t *testing.T) string {
	t.Helper()
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(l.QRImage, prefix) {
		t.Fatalf("qr_image is not a PNG data URI: %.40q", l.QRImage)
	}
	raw, err := base64.StdEncoding.DecodeString(l.QRImage[len(prefix):])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// poll is the relying party's token request with the QR grant; it returns
// the status and the JSON answer.
func (ts *testServer) poll(t *testing.T, l *qrLogin) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {idp.GrantQR}, "device_code": {l.DeviceCode}}
	req, _ := http.NewRequest("POST", ts.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.SetBasicAuth(rpID, rpSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, m
}

func wantContains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}

// TestLoginScanConfirm is the acceptance test: qrphone signs in, scans the
// PNG the provider made for a relying party and confirms; the relying
// party's next poll gets tokens.
func TestLoginScanConfirm(t *testing.T) {
	ts := newTestServer(t)
	p := newPhone(t, ts)
	p.login(t, "alice")

	fi, err := os.Stat(p.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode = %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(p.tokenFile)); di.Mode().Perm() != 0o700 {
		t.Errorf("token directory mode = %v, want 0700", di.Mode().Perm())
	}
	tok := p.token(t)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Issuer != ts.URL || !tok.Expiry.After(time.Now()) {
		t.Errorf("token file = access %t, refresh %t, issuer %q, expiry %v", tok.AccessToken != "", tok.RefreshToken != "", tok.Issuer, tok.Expiry)
	}

	l := ts.startQR(t, nil)
	out, errOut, err := p.run("", "scan", l.pngFile(t), "--yes")
	if err != nil {
		t.Fatalf("scan: %v\n%s%s", err, out, errOut)
	}
	wantContains(t, "the confirm screen", out, rpName, "client_id "+rpID, "https://shop.example",
		"127.0.0.1 (observed by the server)", "Go-http-client", "Code: "+l.UserCode, bigText(l.UserCode),
		"see your name and profile (profile)", "Confirmed.")
	if strings.Contains(out, "Confirm sign-in? [y/N]") {
		t.Error("--yes still asked for confirmation")
	}

	status, body := ts.poll(t, l)
	if status != 200 || body["id_token"] == nil || body["access_token"] == nil {
		t.Fatalf("poll after confirm: %d %v", status, body)
	}

	out, _, err = p.run("", "notifications")
	if err != nil {
		t.Fatalf("notifications: %v", err)
	}
	wantContains(t, "the notifications", out, "TIME", rpName+" ("+rpID+")", "127.0.0.1", "observed by the server")
}

// TestScanDecision: what the user answers is what the relying party gets.
func TestScanDecision(t *testing.T) {
	ts := newTestServer(t)
	p := newPhone(t, ts)
	p.login(t, "alice")
	for _, tc := range []struct {
		name  string
		stdin string
		flags []string
		want  string // the poll's error, "" for tokens
		says  string
	}{
		{"answering n denies", "n\n", nil, "access_denied", "Denied."},
		{"an empty answer denies: the default is no", "\n", nil, "access_denied", "Denied."},
		{"no answer at all (stdin closed) denies", "", nil, "access_denied", "No answer on stdin: denying."},
		{"anything but yes denies", "sure\n", nil, "access_denied", "Denied."},
		{"answering y confirms", "y\n", nil, "", "Confirmed."},
		{"answering YES confirms", " YES \r\n", nil, "", "Confirmed."},
		{"--deny denies without asking", "y\n", []string{"--deny"}, "access_denied", "Denied."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := ts.startQR(t, nil)
			out, errOut, err := p.run(tc.stdin, append([]string{"scan", l.URI}, tc.flags...)...)
			if err != nil {
				t.Fatalf("scan: %v\n%s%s", err, out, errOut)
			}
			wantContains(t, "the output", out, tc.says)
			if asked := strings.Contains(out, "[y/N]"); asked != (tc.flags == nil) {
				t.Errorf("asked = %t, want %t", asked, tc.flags == nil)
			}
			status, body := ts.poll(t, l)
			if tc.want == "" {
				if status != 200 {
					t.Errorf("poll: %d %v, want tokens", status, body)
				}
			} else if body["error"] != tc.want {
				t.Errorf("poll: %d %v, want %s", status, body, tc.want)
			}
		})
	}
}

// TestScanErrors: each failure is a clear message and an error (non-zero
// exit), and none of them decides anything.
func TestScanErrors(t *testing.T) {
	ts := newTestServer(t)
	alice, bob := newPhone(t, ts), newPhone(t, ts)
	alice.login(t, "alice")
	bob.login(t, "bob")
	nobody := newPhone(t, ts)

	scannedByAlice := ts.startQR(t, nil)
	if _, _, err := alice.run("", "scan", scannedByAlice.URI); err != nil { // stdin closed: denies
		t.Fatal(err)
	}
	pending := ts.startQR(t, nil)

	for _, tc := range []struct {
		name  string
		phone *phone
		args  []string
		want  string
	}{
		{"scan without login says to log in", nobody, []string{"scan", pending.URI, "--yes"}, "not signed in: run qrphone login"},
		{"notifications without login says to log in", nobody, []string{"notifications"}, "not signed in: run qrphone login"},
		{"an unknown QR is not found", alice, []string{"scan", ts.URL + "/q/AAAAAAAAAAAAAAAAAAAAAA", "--yes"}, "unknown, expired or already used"},
		{"a QR decided already is not found", bob, []string{"scan", scannedByAlice.URI, "--yes"}, "unknown, expired or already used"},
		{"a missing image file is not sent as a QR", alice, []string{"scan", "no-such-file.png", "--yes"}, "cannot read the image no-such-file.png"},
		{"a file that is not an image is refused", alice, []string{"scan", writeFile(t, "qr.png", "not a png"), "--yes"}, "not a PNG or JPEG image"},
		{"--yes and --deny together are refused", alice, []string{"scan", pending.URI, "--yes", "--deny"}, "exclude each other"},
		{"scan needs its argument", alice, []string{"scan", "--yes"}, "scan takes one argument"},
		{"an unknown notification cannot be revoked", alice, []string{"notifications", "revoke", "nope"}, "no such notification"},
		{"an unknown command is a usage error", alice, []string{"fly"}, `unknown command "fly"`},
		{"revoke needs an id", alice, []string{"notifications", "revoke"}, "notifications [revoke <id>]"},
		{"an id starting with - is an id, not a flag", alice, []string{"notifications", "revoke", "-nk7QJzSD5ARygj7tpw8CA"}, "no such notification"},
		{"a bare QR id starting with - is explained", alice, []string{"scan", "-nk7QJzSD5ARygj7tpw8CA"}, "goes after --"},
		{"a bare QR id after -- is a QR id", alice, []string{"scan", "--yes", "--", "-nk7QJzSD5ARygj7tpw8CA"}, "unknown, expired or already used"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := tc.phone.run("", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q\nstdout: %s\nstderr: %s", err, tc.want, out, errOut)
			}
		})
	}
	if status, body := ts.poll(t, pending); body["qr_status"] != "pending" {
		t.Errorf("the pending QR was touched by a failed command: %d %v", status, body)
	}

	t.Run("a QR another account scanned is refused, and the second-scan alarm cancels the login", func(t *testing.T) {
		l := ts.startQR(t, nil)
		// Alice scans and, stdin left open, the decision waits; meanwhile
		// Bob scans the same QR. The client has the default qr_second_scan
		// (alarm): the QR was shown to two people, so the login is killed
		// (README "Defences against QR relay").
		pr, pw := io.Pipe()
		defer pw.Close()
		scanned := &notifyWriter{want: "[y/N]", seen: make(chan struct{})}
		done := make(chan error, 1)
		go func() {
			env := map[string]string{"QRPHONE_ISSUER": ts.URL, "QRPHONE_TOKEN_FILE": alice.tokenFile}
			done <- run(context.Background(), []string{"scan", l.URI}, func(k string) string { return env[k] }, pr, scanned, io.Discard)
		}()
		<-scanned.seen
		_, _, err := bob.run("", "scan", l.URI, "--yes")
		if err == nil || !strings.Contains(err.Error(), "another account has already scanned") {
			t.Errorf("bob's scan: %v", err)
		}
		io.WriteString(pw, "y\n")
		if err := <-done; err == nil || !strings.Contains(err.Error(), "already been confirmed or denied") {
			t.Errorf("alice's confirmation of a killed login: %v", err)
		}
		if status, body := ts.poll(t, l); status != 400 || body["error"] != "access_denied" {
			t.Errorf("poll: %d %v, want access_denied", status, body)
		}
	})
}

// notifyWriter closes seen once want has been written.
type notifyWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *notifyWriter) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.buf.String() }

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRefresh: an expired or rejected access token is refreshed, and the
// rotated refresh token is what the file keeps (RFC 9700 §4.14.2).
func TestRefresh(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*storedToken)
	}{
		{"an access token past its expiry is refreshed before use", func(st *storedToken) { st.Expiry = time.Now().Add(-time.Minute) }},
		{"an access token the provider rejects is refreshed and the request repeated", func(st *storedToken) { st.AccessToken = "revoked" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			p := newPhone(t, ts)
			p.login(t, "alice")
			before := p.token(t)
			edited := before
			tc.edit(&edited)
			if err := saveToken(p.tokenFile, &edited); err != nil {
				t.Fatal(err)
			}
			l := ts.startQR(t, nil)
			if out, errOut, err := p.run("", "scan", l.URI, "--yes"); err != nil {
				t.Fatalf("scan: %v\n%s%s", err, out, errOut)
			}
			after := p.token(t)
			if after.RefreshToken == before.RefreshToken || after.AccessToken == edited.AccessToken {
				t.Error("the refreshed tokens were not saved")
			}
			if !after.Expiry.After(time.Now()) {
				t.Errorf("saved expiry %v is not in the future", after.Expiry)
			}
			// The saved refresh token is the live one: a second refresh works.
			after.Expiry = time.Now().Add(-time.Minute)
			if err := saveToken(p.tokenFile, &after); err != nil {
				t.Fatal(err)
			}
			if _, _, err := p.run("", "notifications"); err != nil {
				t.Errorf("second refresh: %v", err)
			}
		})
	}

	t.Run("a rejected token without a refresh token says to log in again", func(t *testing.T) {
		ts := newTestServer(t)
		p := newPhone(t, ts)
		p.login(t, "alice")
		st := p.token(t)
		st.AccessToken, st.RefreshToken = "revoked", ""
		if err := saveToken(p.tokenFile, &st); err != nil {
			t.Fatal(err)
		}
		_, _, err := p.run("", "notifications")
		var ae *apiError
		if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "run qrphone login") {
			t.Errorf("err = %v, want the provider's 401 with a hint to log in", err)
		}
	})

	t.Run("a revoked session says to log in again", func(t *testing.T) {
		ts := newTestServer(t)
		p := newPhone(t, ts)
		p.login(t, "alice")
		st := p.token(t)
		st.AccessToken, st.RefreshToken = "revoked", "revoked"
		if err := saveToken(p.tokenFile, &st); err != nil {
			t.Fatal(err)
		}
		_, _, err := p.run("", "notifications")
		if err == nil || !strings.Contains(err.Error(), "run qrphone login") {
			t.Errorf("err = %v, want a hint to log in", err)
		}
	})
}

// TestLoginPasswordFromEnvironment: QRPHONE_PASSWORD is the password for
// --username, so it never shows in the process list.
func TestLoginPasswordFromEnvironment(t *testing.T) {
	ts := newTestServer(t)
	p := newPhone(t, ts)
	p.env = map[string]string{"QRPHONE_USERNAME": "bob", "QRPHONE_PASSWORD": "bob-password"}
	out, _, err := p.run("", "login")
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "the output", out, "Signed in to "+ts.URL)
	if _, _, err := p.run("", "notifications"); err != nil {
		t.Errorf("the token does not work: %v", err)
	}
}

// TestLoginErrors: a failed login says why and leaves no token file.
func TestLoginErrors(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"a wrong password is reported as such", "wrong\n", []string{"--username", "alice", "--password-stdin"}, "wrong username or password"},
		{"an unknown user looks like a wrong password", "x\n", []string{"--username", "mallory", "--password-stdin"}, "wrong username or password"},
		{"a username without a password is a usage error", "", []string{"--username", "alice"}, "needs --password-stdin"},
		{"an empty stdin is no password", "", []string{"--username", "alice", "--password-stdin"}, "reading the password"},
		{"an unregistered client is refused", "alice-password\n", []string{"--username", "alice", "--password-stdin", "--client-id", "nope"}, "the authorization URL answered HTTP"},
		{"an issuer that is not the provider's is refused", "alice-password\n", []string{"--username", "alice", "--password-stdin", "--issuer", strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)}, "the provider calls itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPhone(t, ts)
			_, _, err := p.run(tc.stdin, append([]string{"login"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(p.tokenFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed login left a token file: %v", err)
			}
		})
	}
}

// TestIssuerMismatch: a token is never sent to another provider.
func TestIssuerMismatch(t *testing.T) {
	ts := newTestServer(t)
	p := newPhone(t, ts)
	p.login(t, "alice")
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer other.Close()
	_, _, err := p.run("", "notifications", "--issuer", other.URL)
	if err == nil || !strings.Contains(err.Error(), "the token file is for "+ts.URL) {
		t.Errorf("err = %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the other provider got %d requests", n)
	}
}

var urlRe = regexp.MustCompile(`http://\S+/authorize\?\S+`)

// TestBrowserLogin drives the interactive login as a browser would: open
// the printed URL, sign in, follow the redirect to qrphone's loopback
// listener.
func TestBrowserLogin(t *testing.T) {
	ts := newTestServer(t)
	p := newPhone(t, ts)
	stderr := &notifyWriter{want: "Waiting for the browser", seen: make(chan struct{})}
	var stdout bytes.Buffer
	done := make(chan error, 1)
	go func() {
		env := map[string]string{"QRPHONE_ISSUER": ts.URL, "QRPHONE_TOKEN_FILE": p.tokenFile}
		done <- run(context.Background(), []string{"login"}, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, stderr)
	}()
	select {
	case <-stderr.seen:
	case err := <-done:
		t.Fatalf("login ended early: %v\n%s", err, stderr.String())
	}
	authURL := urlRe.FindString(stderr.String())
	u, err := url.Parse(authURL)
	if err != nil || authURL == "" {
		t.Fatalf("no authorization URL in %q", stderr.String())
	}
	q := u.Query()
	redirect, _ := url.Parse(q.Get("redirect_uri"))
	if redirect == nil || redirect.Hostname() != "127.0.0.1" || redirect.Port() == "" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("state") == "" || !strings.Contains(q.Get("scope"), "qr:approve") {
		t.Fatalf("authorization URL %s: want a loopback redirect with a port, S256 PKCE, state and qr:approve", authURL)
	}

	// Something else finding the port is turned away and does not end the wait.
	resp, err := http.Get(redirect.String() + "?code=forged&state=wrong")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a callback with the wrong state: %d, want 400", resp.StatusCode)
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err = browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	f, err := loginForm(page, resp.Request.URL)
	if err != nil {
		t.Fatal(err)
	}
	f.values.Set("username", "bob")
	f.values.Set("password", "bob-password")
	resp, err = browser.PostForm(f.action, f.values)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Host != redirect.Host {
		t.Fatalf("the browser ended at %s with %d: %s", resp.Request.URL, resp.StatusCode, body)
	}
	wantContains(t, "the page the browser is left on", string(body), "You can close this window")
	if err := <-done; err != nil {
		t.Fatalf("login: %v\n%s", err, stderr.String())
	}
	if st := p.token(t); st.RefreshToken == "" || st.Issuer != ts.URL {
		t.Errorf("token file after the browser login: refresh %t, issuer %q", st.RefreshToken != "", st.Issuer)
	}
	if _, _, err := p.run("", "notifications"); err != nil {
		t.Errorf("the browser login's token does not work: %v", err)
	}
}

// TestRevokeNotification: "this wasn't me" ends the session the confirmed
// sign-in created.
func TestRevokeNotification(t *testing.T) {
	ts := newTestServer(t)
	p := newPhone(t, ts)
	p.login(t, "alice")
	l := ts.startQR(t, nil)
	if _, _, err := p.run("", "scan", l.URI, "--yes"); err != nil {
		t.Fatal(err)
	}
	status, tokens := ts.poll(t, l)
	if status != 200 {
		t.Fatalf("poll: %d %v", status, tokens)
	}
	n, err := ts.store.Notifications(context.Background(), "user-alice", 10)
	if err != nil || len(n) != 1 {
		t.Fatalf("notifications in the store: %v %v", n, err)
	}
	out, _, err := p.run("", "notifications", "revoke", n[0].ID)
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	wantContains(t, "the output", out, "Revoked")

	// The relying party's access token is dead: /userinfo refuses it.
	req, _ := http.NewRequest("GET", ts.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tokens["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Error("the revoked session's access token still works at /userinfo")
	}
}

// TestReportedRequester: a requester the relying party reported is
// labelled so, and what it reported cannot drive the terminal.
func TestReportedRequester(t *testing.T) {
	ts := newTestServer(t)
	p := newPhone(t, ts)
	p.login(t, "alice")
	l := ts.startQR(t, url.Values{"scope": {"openid"}, "requester_ip": {"203.0.113.7"},
		"requester_user_agent": {"Firefox/140"}})
	out, _, err := p.run("", "scan", l.URI, "--deny")
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "the confirm screen", out, "203.0.113.7 (reported by the client)", "Firefox/140")
}

// TestQRTerminal: the QR printed on the terminal reads back as the text.
func TestQRTerminal(t *testing.T) {
	const text = "http://localhost:8080/q/0123456789abcdefghijkl"
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"show", text}, func(string) string { return "" }, nil, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := decodeTerminalQR(t, stdout.String()); got != text {
		t.Errorf("the terminal QR reads %q, want %q", got, text)
	}

	t.Run("scan --qr-terminal prints the scanned QR", func(t *testing.T) {
		ts := newTestServer(t)
		p := newPhone(t, ts)
		p.login(t, "alice")
		l := ts.startQR(t, nil)
		out, _, err := p.run("", "scan", l.pngFile(t), "--qr-terminal", "--deny")
		if err != nil {
			t.Fatal(err)
		}
		qr, _, _ := strings.Cut(out, "Sign-in request")
		if got := decodeTerminalQR(t, qr); got != l.URI {
			t.Errorf("the terminal QR reads %q, want %q", got, l.URI)
		}
	})
}

// TestChangePassword: qrphone password changes the account's password;
// this phone stays signed in, another phone of the account is signed out.
func TestChangePassword(t *testing.T) {
	ts := newTestServer(t)
	p, other := newPhone(t, ts), newPhone(t, ts)
	p.login(t, "alice")
	other.login(t, "alice")
	if _, _, err := p.run("wrong-password\na new password 1\n", "password"); err == nil || !strings.Contains(err.Error(), "current password is wrong") {
		t.Fatalf("a wrong current password: %v", err)
	}
	if _, _, err := p.run("alice-password\n", "password"); err == nil {
		t.Fatal("one line of stdin was accepted")
	}
	out, _, err := p.run("alice-password\na new password 1\n", "password")
	if err != nil || !strings.Contains(out, "Password changed") {
		t.Fatalf("password: %v\n%s", err, out)
	}
	if strings.Contains(out, "a new password 1") {
		t.Fatal("the password is echoed")
	}
	if _, _, err := p.run("", "notifications"); err != nil {
		t.Fatalf("the phone that changed the password was signed out: %v", err)
	}
	if _, _, err := other.run("", "notifications"); err == nil {
		t.Fatal("the other phone of the account is still signed in")
	}
	if _, _, err := newPhone(t, ts).run("a new password 1\n", "login", "--username", "alice", "--password-stdin"); err != nil {
		t.Fatalf("the new password does not sign in: %v", err)
	}
}

// TestSessions: qrphone lists the browsers signed in to the account
// (which of them may approve) and signs one out.
func TestSessions(t *testing.T) {
	ts := newTestServer(t)
	p := newPhone(t, ts)
	p.login(t, "alice") // its own sign-in, in a browser that then closes

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(ts.URL + "/login?return=%2Fdevice")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if csrf == nil {
		t.Fatalf("no login form: %s", page)
	}
	resp, err = browser.PostForm(ts.URL+"/login", url.Values{"return": {"/device"}, "csrf": {string(csrf[1])},
		"username": {"alice"}, "password": {"alice-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/device" {
		t.Fatalf("the phone browser's sign-in ended at %s", resp.Request.URL)
	}

	out, _, err := p.run("", "sessions")
	if err != nil {
		t.Fatalf("sessions: %v", err)
	}
	wantContains(t, "the sessions", out, "SIGNED IN", "127.0.0.1", "yes", "no", "sessions end <ID>")
	list, err := ts.store.BrowserSessions(context.Background(), "user-alice", time.Now())
	if err != nil || len(list) != 2 || !list[0].Approver {
		t.Fatalf("sessions in the store: %+v %v", list, err)
	}
	if out, _, err = p.run("", "sessions", "end", list[0].ID); err != nil {
		t.Fatalf("sessions end: %v", err)
	}
	wantContains(t, "the output", out, "Ended")
	resp, err = browser.Get(ts.URL + "/device")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("the signed-out browser still reaches %s", resp.Request.URL)
	}
	if _, _, err := p.run("", "sessions", "end", list[0].ID); err == nil || !strings.Contains(err.Error(), "no such session") {
		t.Fatalf("ending it again: %v", err)
	}
}
