package demo_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"image"
	_ "image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/cmd/qrlogin/demo"
	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/idp/password"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

const (
	siteID     = "demo-site"
	siteSecret = "demo-site-secret"
	phoneID    = "qrphone"
	phoneRedir = "http://127.0.0.1/callback"
	userAgent  = "DemoTestBrowser/1.0 (phone-sized)"
)

// env is a real provider on the memory store with the demo mounted under
// /demo on the same server, as `qrlogin serve` wires them.
type env struct {
	*httptest.Server
	demo *demo.Demo
}

var (
	sharedOnce sync.Once
	shared     *env
	sharedErr  error
)

// TestMain closes the one environment the tests share: each test uses its
// own browser (cookie jar) and phone sign-in, so they do not interfere,
// and the provider's key generation runs once.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.Exit(code)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = startEnv() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func startEnv() (*env, error) {
	ctx := context.Background()
	ts := httptest.NewServer(nil)
	store := memory.New()
	srv, err := idp.New(ctx, idp.Config{Issuer: ts.URL, Store: store, RateLimit: -1})
	if err != nil {
		ts.Close()
		return nil, err
	}
	// PollWait 1 s: a held status check that sees no change comes back
	// quickly, so the tests run in seconds.
	d, err := demo.New(demo.Config{Issuer: ts.URL, ClientID: siteID, ClientSecret: siteSecret,
		BaseURL: ts.URL + "/demo", PollWait: time.Second})
	if err != nil {
		ts.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/demo", d)
	mux.Handle("/demo/", d)
	mux.Handle("/", srv)
	ts.Config.Handler = mux

	// The data cmd/qrlogin seeds (seedDemo), copied: a test of the demo
	// must not depend on package main.
	now := time.Now().UTC()
	grants := []string{"authorization_code", "refresh_token", idp.GrantDeviceCode, idp.GrantQR}
	for _, c := range []*storage.Client{
		{ID: siteID, Name: "qrlogin demo site", SecretHash: storage.Hash(siteSecret), Type: storage.ClientConfidential,
			RedirectURIs: []string{ts.URL + "/demo/callback"}, GrantTypes: grants, AccessTokenType: "opaque",
			ClientURI: ts.URL + "/demo", CreatedAt: now},
		{ID: phoneID, Name: "qrlogin phone app", Type: storage.ClientPublic, FirstParty: true,
			RedirectURIs: []string{phoneRedir}, GrantTypes: []string{"authorization_code", "refresh_token"},
			AccessTokenType: "opaque", CreatedAt: now},
	} {
		if err := store.CreateClient(ctx, c); err != nil {
			ts.Close()
			return nil, err
		}
	}
	h, err := password.Hash("demo-password")
	if err == nil {
		err = store.CreateUser(ctx, &storage.User{ID: "user-demo", Username: "demo", PasswordHash: h, Name: "Demo User",
			Email: "demo@example.com", EmailVerified: true, CreatedAt: now})
	}
	if err != nil {
		ts.Close()
		return nil, err
	}
	return &env{Server: ts, demo: d}, nil
}

// browser is a cookie-keeping client that follows redirects, as a browser
// without JavaScript would.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: e.URL, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	req.Header.Set("User-Agent", userAgent)
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// status asks the demo's status endpoint, as demo.js does.
func (b *browser) status() string {
	b.t.Helper()
	resp, body := b.get("/demo/qr/status")
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("status: %d %s", resp.StatusCode, body)
	}
	var a struct{ Status, Message string }
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.Message == "" {
		b.t.Fatalf("status answer %q: %v", body, err)
	}
	return a.Status
}

// pending is the demo's pending QR login for this browser's session.
func (b *browser) pending(d *demo.Demo) (deviceCode string, interval time.Duration, ok bool) {
	return demo.PendingQR(d, b.cookie())
}

func (b *browser) cookie() string {
	u, _ := url.Parse(b.base + "/demo")
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == "qrdemo" {
			return c.Value
		}
	}
	return ""
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func match(t *testing.T, re *regexp.Regexp, page string) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no match for %s in:\n%s", re, page)
	}
	return html.UnescapeString(m[1])
}

// signedOut opens the demo and returns its CSRF token.
func (b *browser) signedOut() string {
	b.t.Helper()
	resp, page := b.get("/demo")
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET /demo: %d", resp.StatusCode)
	}
	for _, id := range []string{`id="qr-signin"`, `id="code-signin"`} {
		if !strings.Contains(page, id) {
			b.t.Fatalf("signed-out page lacks %s:\n%s", id, page)
		}
	}
	return match(b.t, csrfRe, page)
}

var (
	qrImageRe  = regexp.MustCompile(`id="qr-image" class="qr" src="([^"]+)"`)
	userCodeRe = regexp.MustCompile(`id="user-code"[^>]*>([^<]+)<`)
)

// startQR presses "Sign in with QR" and returns the QR's text, decoded
// from the PNG on the page, and the user_code shown beside it.
func (b *browser) startQR() (qr, userCode string, page string) {
	b.t.Helper()
	csrf := b.signedOut()
	resp, page := b.post("/demo/qr/start", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/demo/qr" {
		b.t.Fatalf("start: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, page)
	}
	return decodeQR(b.t, match(b.t, qrImageRe, page)), match(b.t, userCodeRe, page), page
}

func decodeQR(t *testing.T, dataURI string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(dataURI, "data:image/png;base64,"))
	if err != nil {
		t.Fatalf("QR image: %v", err)
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("QR PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil { // gozxing's detector misses ~1 in 150 clean codes; a pure read gets them
		res, err = gozxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true})
	}
	if err != nil {
		t.Fatalf("decoding the QR: %v", err)
	}
	return res.GetText()
}

// phoneToken signs the demo user in to the phone app with the code flow
// and PKCE (RFC 8252) on the hosted login page.
func (e *env) phoneToken(t *testing.T) string {
	t.Helper()
	cfg := &oauth2.Config{ClientID: phoneID, RedirectURL: phoneRedir, Scopes: []string{"openid", "qr:approve"},
		Endpoint: oauth2.Endpoint{AuthURL: e.URL + "/authorize", TokenURL: e.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	b := e.browser(t)
	b.hc.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == "127.0.0.1" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	req, _ := http.NewRequest(http.MethodGet, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), nil)
	resp, page := b.do(req)
	resp = b.signIn(resp, page)
	code := ""
	if loc, err := url.Parse(resp.Header.Get("Location")); err == nil {
		code = loc.Query().Get("code")
	}
	if code == "" {
		t.Fatalf("phone sign-in: no code in %q", resp.Header.Get("Location"))
	}
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// signIn fills the provider's login page (resp is its GET) as the demo
// user and returns the answer after redirects.
func (b *browser) signIn(resp *http.Response, page string) *http.Response {
	b.t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login" {
		b.t.Fatalf("expected the login page, got %d at %s", resp.StatusCode, resp.Request.URL)
	}
	form := url.Values{"id": {resp.Request.URL.Query().Get("id")}, "csrf": {match(b.t, csrfRe, page)},
		"username": {"demo"}, "password": {"demo-password"}}
	resp, _ = b.post("/login", form)
	return resp
}

// phone calls the phone API with the app's token.
func (e *env) phone(t *testing.T, token, path string, body any) map[string]any {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, e.URL+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %v %v", path, resp.StatusCode, out, err)
	}
	return out
}

var (
	nameRe  = regexp.MustCompile(`id="claim-name">([^<]*)<`)
	amrRe   = regexp.MustCompile(`id="claim-amr">([^<]*)<`)
	audRe   = regexp.MustCompile(`id="claim-aud">([^<]*)<`)
	issRe   = regexp.MustCompile(`id="claim-iss">([^<]*)<`)
	nonceRe = regexp.MustCompile(`id="claim-nonce">([^<]*)<`)
	emailRe = regexp.MustCompile(`id="claim-email">([^<]*)<`)
)

// signedIn checks the demo shows the verified claims of the demo user.
func (b *browser) signedIn(amr string) {
	b.t.Helper()
	resp, page := b.get("/demo")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="claims"`) || !strings.Contains(page, `id="signout"`) {
		b.t.Fatalf("not signed in: %d\n%s", resp.StatusCode, page)
	}
	for re, want := range map[*regexp.Regexp]string{nameRe: "Demo User", amrRe: amr, audRe: siteID,
		issRe: b.base, emailRe: "demo@example.com"} {
		if got := match(b.t, re, page); got != want {
			b.t.Errorf("%s: got %q, want %q", re, got, want)
		}
	}
	if match(b.t, nonceRe, page) == "" {
		b.t.Error("the ID token shown has no nonce")
	}
}

func TestQRGrantSignsInThroughTheDemo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.phoneToken(t)
	b := e.browser(t)
	qr, userCode, page := b.startQR()
	if !strings.HasPrefix(qr, e.URL+"/q/") {
		t.Fatalf("QR text %q is not the provider's /q/ URL", qr)
	}
	if !strings.Contains(page, `src="/static/demo.js"`) || !strings.Contains(page, `id="qr-status"`) {
		t.Fatalf("QR page lacks its script or status line:\n%s", page)
	}
	if got := b.status(); got != "pending" {
		t.Fatalf("before the scan: %q, want pending", got)
	}

	scan := e.phone(t, token, "/qr/scan", map[string]string{"qr": qr})
	if scan["user_code"] != userCode {
		t.Errorf("phone shows user_code %v, page shows %q", scan["user_code"], userCode)
	}
	// The demo is a confidential client: the phone shows the browser as
	// the demo's backend saw it, labelled as reported (SPEC §2.1).
	req, _ := scan["requester"].(map[string]any)
	if req["reported_by_client"] != true || req["user_agent"] != userAgent || req["ip"] != "127.0.0.1" {
		t.Errorf("requester on the phone: %v", req)
	}
	if got := b.status(); got != "scanned" {
		t.Fatalf("after the scan: %q, want scanned", got)
	}

	before := b.cookie()
	e.phone(t, token, "/qr/confirm", map[string]string{"ticket": scan["ticket"].(string)})
	if got := b.status(); got != "signed_in" {
		t.Fatalf("after confirming: %q, want signed_in", got)
	}
	if after := b.cookie(); after == "" || after == before {
		t.Error("the session cookie was not renewed at sign-in")
	}
	b.signedIn("qr")
	if got := b.status(); got != "signed_in" {
		t.Errorf("status once signed in: %q", got)
	}
}

func TestQRGrantWorksWithoutJavaScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.phoneToken(t)
	b := e.browser(t)
	qr, _, _ := b.startQR()

	resp, page := b.get("/demo/qr/continue")
	if resp.Request.URL.Path != "/demo/qr" || !strings.Contains(page, `data-status="pending"`) {
		t.Fatalf("Continue before the scan: at %s\n%s", resp.Request.URL, page)
	}
	// A reload shows the same QR login, not a new one.
	if got := decodeQR(t, match(t, qrImageRe, page)); got != qr {
		t.Fatalf("reload shows another QR: %q, want %q", got, qr)
	}
	scan := e.phone(t, token, "/qr/scan", map[string]string{"qr": qr})
	e.phone(t, token, "/qr/confirm", map[string]string{"ticket": scan["ticket"].(string)})
	resp, _ = b.get("/demo/qr/continue")
	if resp.Request.URL.Path != "/demo" {
		t.Fatalf("Continue after confirming ended at %s", resp.Request.URL)
	}
	b.signedIn("qr")
}

func TestQRGrantFinalStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.phoneToken(t)
	b := e.browser(t)
	qr, _, _ := b.startQR()
	scan := e.phone(t, token, "/qr/scan", map[string]string{"qr": qr})
	e.phone(t, token, "/qr/deny", map[string]string{"ticket": scan["ticket"].(string)})

	t.Run("a denial on the phone is relayed as denied", func(t *testing.T) {
		if got := b.status(); got != "denied" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("after a final state nothing is pending and the QR page sends home", func(t *testing.T) {
		if got := b.status(); got != "none" {
			t.Fatalf("got %q", got)
		}
		resp, page := b.get("/demo/qr")
		if resp.Request.URL.Path != "/demo" || !strings.Contains(page, `id="qr-signin"`) {
			t.Fatalf("at %s:\n%s", resp.Request.URL, page)
		}
	})
	t.Run("without JavaScript the denial is shown on the home page", func(t *testing.T) {
		qr, _, _ := b.startQR()
		scan := e.phone(t, token, "/qr/scan", map[string]string{"qr": qr})
		e.phone(t, token, "/qr/deny", map[string]string{"ticket": scan["ticket"].(string)})
		resp, page := b.get("/demo/qr/continue")
		if resp.Request.URL.Path != "/demo" || !strings.Contains(page, "denied on the phone") {
			t.Fatalf("at %s:\n%s", resp.Request.URL, page)
		}
	})
	t.Run("cancel forgets the pending login", func(t *testing.T) {
		_, _, page := b.startQR()
		resp, _ := b.post("/demo/qr/cancel", url.Values{"csrf": {match(t, csrfRe, page)}})
		if _, _, ok := b.pending(e.demo); resp.Request.URL.Path != "/demo" || ok {
			t.Fatalf("at %s, pending %v", resp.Request.URL, ok)
		}
	})
}

// The device_code is the PC's poll secret (SPEC §1): the browser never
// sees it, in a page, a status answer or a cookie.
func TestDeviceCodeNeverReachesTheBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	_, _, page := b.startQR()
	code, _, ok := b.pending(e.demo)
	if !ok || len(code) < 32 {
		t.Fatalf("no pending QR login (%v) or a short device_code", ok)
	}
	_, status := b.get("/demo/qr/status")
	_, reload := b.get("/demo/qr")
	for name, s := range map[string]string{"QR page": page, "status answer": status, "reload": reload, "cookie": b.cookie()} {
		if strings.Contains(s, code) {
			t.Errorf("the %s contains the device_code", name)
		}
	}
}

// RFC 8628 §3.5: after slow_down the demo polls with the new interval.
// The test provokes a real slow_down by polling the provider itself just
// before the demo's unheld check.
func TestQRGrantObeysSlowDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.startQR()
	deviceCode, _, ok := b.pending(e.demo)
	if !ok {
		t.Fatal("no pending QR login")
	}
	form := url.Values{"grant_type": {demo.GrantQR}, "device_code": {deviceCode}}
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(siteID, siteSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	r, page := b.get("/demo/qr/continue") // unheld, right after the poll above: early
	if r.Request.URL.Path != "/demo/qr" || !strings.Contains(page, `data-status="pending"`) {
		t.Fatalf("after slow_down the page should still wait: at %s\n%s", r.Request.URL, page)
	}
	if _, got, _ := b.pending(e.demo); got != 6*time.Second {
		t.Fatalf("interval after slow_down: %v, want 6s (1 s + 5 s)", got)
	}
}

func TestCodeFlowSignsInThroughTheDemo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.signedOut()
	var callback *url.URL
	b.hc.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/authorize" && callback == nil && req.URL.Query().Get("client_id") == siteID {
			return http.ErrUseLastResponse // stop once to look at the request
		}
		if req.URL.Path == "/demo/callback" {
			callback = req.URL
		}
		return nil
	}
	resp, _ := b.get("/demo/login")
	authz, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// PKCE S256, state and nonce travel to the provider (RFC 7636 §4.3,
	// RFC 6749 §10.12, OIDC Core §3.1.2.1).
	q := authz.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" ||
		q.Get("nonce") == "" || q.Get("redirect_uri") != e.URL+"/demo/callback" {
		t.Fatalf("authorization request %s lacks PKCE, state, nonce or the redirect URI", authz)
	}
	callback = &url.URL{} // from now on follow everything, recording the callback
	resp, page := b.get(strings.TrimPrefix(authz.String(), e.URL))
	resp = b.signIn(resp, page)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/demo" {
		t.Fatalf("after the login page: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	b.signedIn("pwd")

	t.Run("a replayed callback is refused", func(t *testing.T) {
		if callback == nil || callback.Path != "/demo/callback" {
			t.Fatalf("no callback seen: %v", callback)
		}
		if r, page := b.get(callback.RequestURI()); r.StatusCode != http.StatusBadRequest || strings.Contains(page, `id="claims"`) {
			t.Fatalf("replayed callback: %d", r.StatusCode)
		}
	})
}

func TestCallbackRefusesForeignState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.signedOut()
	b.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if r, _ := b.get("/demo/login"); r.StatusCode != http.StatusFound {
		t.Fatalf("login: %d", r.StatusCode)
	}
	for _, tc := range []struct{ name, query string }{
		{"a state the demo never sent", "?code=x&state=forged"},
		{"no state at all", "?code=x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, page := b.get("/demo/callback" + tc.query); r.StatusCode != http.StatusBadRequest || strings.Contains(page, `id="claims"`) {
				t.Fatalf("got %d:\n%s", r.StatusCode, page)
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	withSession := e.browser(t)
	csrf := withSession.signedOut()
	for _, tc := range []struct {
		name string
		b    *browser
		path string
		form url.Values
	}{
		{"starting a QR login without the token", withSession, "/demo/qr/start", url.Values{}},
		{"starting a QR login with a wrong token", withSession, "/demo/qr/start", url.Values{"csrf": {csrf + "x"}}},
		{"starting a QR login without a session", e.browser(t), "/demo/qr/start", url.Values{"csrf": {csrf}}},
		{"signing out without the token", withSession, "/demo/logout", url.Values{}},
		{"cancelling without the token", withSession, "/demo/qr/cancel", url.Values{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, _ := tc.b.post(tc.path, tc.form); r.StatusCode != http.StatusForbidden {
				t.Fatalf("got %d, want 403", r.StatusCode)
			}
		})
	}
	if _, _, ok := withSession.pending(e.demo); ok {
		t.Error("a QR login started without a valid token")
	}
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.signedOut()
	resp, page := b.get("/demo/login")
	resp = b.signIn(resp, page)
	_, page = b.get("/demo")
	resp, page = b.post("/demo/logout", url.Values{"csrf": {match(t, csrfRe, page)}})
	if resp.Request.URL.Path != "/demo" || strings.Contains(page, `id="claims"`) || !strings.Contains(page, `id="qr-signin"`) {
		t.Fatalf("after sign-out at %s:\n%s", resp.Request.URL, page)
	}
}

// Every demo answer carries the headers (SPEC §7: frame-ancestors 'none').
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	_, page := b.get("/demo")
	csrf := match(t, csrfRe, page)
	for _, tc := range []struct{ name, method, path string }{
		{"the home page", "GET", "/demo"},
		{"the home page with a slash", "GET", "/demo/"},
		{"the QR start", "POST", "/demo/qr/start"},
		{"the QR page", "GET", "/demo/qr"},
		{"the status answer", "GET", "/demo/qr/status"},
		{"the login redirect", "GET", "/demo/login"},
		{"a refused CSRF", "POST", "/demo/logout"},
		{"an unknown path", "GET", "/demo/nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r *http.Response
			if tc.method == "POST" {
				form := url.Values{}
				if tc.path == "/demo/qr/start" {
					form.Set("csrf", csrf)
				}
				r, _ = b.post(tc.path, form)
			} else {
				r, _ = b.get(tc.path)
			}
			h := r.Header
			if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") ||
				!strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "img-src 'self' data:") {
				t.Errorf("CSP %q", csp)
			}
			if h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" {
				t.Errorf("X-Frame-Options %q, Cache-Control %q", h.Get("X-Frame-Options"), h.Get("Cache-Control"))
			}
		})
	}
	t.Run("the session cookie is HttpOnly and SameSite=Lax", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/demo", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		sc := resp.Header.Get("Set-Cookie")
		if !strings.Contains(sc, "qrdemo=") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") ||
			!strings.Contains(sc, "Path=/demo;") {
			t.Errorf("Set-Cookie %q", sc)
		}
	})
}

func TestDemoWaitsForTheProvider(t *testing.T) {
	t.Parallel()
	// Built before the provider listens (as serve does): the first request
	// fails cleanly, a later one succeeds.
	ts := httptest.NewUnstartedServer(nil)
	d, err := demo.New(demo.Config{Issuer: "http://" + ts.Listener.Addr().String(), ClientID: siteID,
		ClientSecret: siteSecret, BaseURL: "http://" + ts.Listener.Addr().String() + "/demo"})
	if err != nil {
		t.Fatal(err)
	}
	ts.Listener.Close()
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/demo/login", nil))
	if rec.Code != http.StatusBadGateway {
		t.Fatalf("provider down: %d, want 502", rec.Code)
	}

	e := newEnv(t)
	b := e.browser(t)
	b.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if r, _ := b.get("/demo/login"); r.StatusCode != http.StatusFound {
		t.Fatalf("provider up: %d", r.StatusCode)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	ok := demo.Config{Issuer: "http://op", ClientID: "c", ClientSecret: "s", BaseURL: "http://op/demo"}
	for _, tc := range []struct {
		name string
		edit func(*demo.Config)
	}{
		{"no issuer", func(c *demo.Config) { c.Issuer = "" }},
		{"a relative issuer", func(c *demo.Config) { c.Issuer = "op.example" }},
		{"no client secret", func(c *demo.Config) { c.ClientSecret = "" }},
		{"a relative base URL", func(c *demo.Config) { c.BaseURL = "/demo" }},
		{"a base URL with a query", func(c *demo.Config) { c.BaseURL = "http://op/demo?x=1" }},
		{"a base URL whose path is a routing pattern", func(c *demo.Config) { c.BaseURL = "http://op/{demo}" }},
		{"a poll wait past the provider's 30 s", func(c *demo.Config) { c.PollWait = 31 * time.Second }},
		{"a poll wait in fractions of a second", func(c *demo.Config) { c.PollWait = 1500 * time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if _, err := demo.New(c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := demo.New(ok); err != nil {
		t.Fatalf("a good config: %v", err)
	}
}

// RFC 6749 §4.1.2.1 errors come back in the URL anyone can craft: the page
// shows a well-formed error code and nothing else.
func TestCallbackShowsOnlyAnErrorCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct{ name, errParam, want, notWant string }{
		{"an error code is shown", "access_denied", "The provider answered: access_denied", ""},
		{"free text is not", "Call +1 555 0100 to unlock your account", "The provider answered: an error", "555"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser(t)
			b.signedOut()
			b.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			r, _ := b.get("/demo/login")
			authz, err := url.Parse(r.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			q := url.Values{"state": {authz.Query().Get("state")}, "error": {tc.errParam}}
			r, page := b.get("/demo/callback?" + q.Encode())
			if r.StatusCode != http.StatusOK || !strings.Contains(page, tc.want) ||
				(tc.notWant != "" && strings.Contains(page, tc.notWant)) {
				t.Fatalf("got %d:\n%s", r.StatusCode, page)
			}
		})
	}
}
