package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
)

// Helpers of the browser tests (browser_test.go): the browser, the parts a
// phone app and a relying party play over plain HTTP, and the screenshots.

// browserTestTimeout bounds each browser test, every wait inside it
// included, so a page that never changes fails the test instead of
// hanging it. It is a guard, not a measure: the longest tests (several
// pages, two browsers) took over 30 s under -race on a loaded 2-core
// machine while passing in 15 s alone.
const browserTestTimeout = 90 * time.Second

// chromiumPath finds Debian's chromium. Locally a machine without it skips
// the browser tests; in CI (.ci/run installs it) its absence fails them.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is needed in CI (.ci/run installs it): %v", err)
		}
		t.Skipf("chromium not installed: %v", err)
	}
	return p
}

// startBrowser launches one headless chromium for a whole test and returns
// its context; subtests open their own isolated browser contexts in it
// (newTab), which is much cheaper than a browser each.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// The first run starts the browser and binds its life to browserCtx,
	// so it cannot carry a timeout itself: a watchdog bounds it instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(browserCtx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting chromium: %v", err)
		}
	case <-time.After(browserTestTimeout):
		cancelBrowser()
		t.Fatal("chromium did not start")
	}
	return browserCtx
}

// newTab opens a tab in a new browser context (its own cookies, like a
// separate browser profile) that lives until the test's timeout. The
// returned context bounds every action run on it.
func newTab(t *testing.T, deadline context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(deadline, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return tab
}

// phoneTab is newTab with a phone-sized viewport (390×844 CSS pixels, a
// mobile device), for the pages a phone's camera opens.
func phoneTab(t *testing.T, deadline context.Context) context.Context {
	t.Helper()
	tab := newTab(t, deadline)
	browse(t, tab, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulatePortrait))
	return tab
}

// noScriptTab is newTab with JavaScript disabled in the page.
func noScriptTab(t *testing.T, deadline context.Context) context.Context {
	t.Helper()
	tab := newTab(t, deadline)
	if _, err := chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disabling scripts: %v", err)
	}
	return tab
}

// browse runs browser actions and fails the test with the page's address on
// error, which is usually what explains a wait that timed out.
func browse(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tab, steps...); err != nil {
		t.Fatalf("browser: %v (page: %s)", err, location(tab))
	}
}

// read runs one browser action that returns a value.
func read[T any](t *testing.T, tab context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(tab, a)
	if err != nil {
		t.Fatalf("browser: %v (page: %s)", err, location(tab))
	}
	return v
}

// location is the tab's address, for failure messages; it must not block a
// failing test, so it has its own short timeout.
func location(tab context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(tab), 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown: " + err.Error()
	}
	return loc
}

// waitText waits until the element with id shows text containing want.
func waitText(id, want string) chromedp.Action[chromedp.Void] {
	return chromedp.PollFunction[chromedp.Void](
		`(id, want) => { const e = document.getElementById(id); return !!e && e.textContent.includes(want); }`,
		chromedp.WithPollingArgs(id, want), chromedp.WithPollingTimeout(browserTestTimeout))
}

// qrOnPage reads the page's #qr-image (a data: URI) and decodes it with a
// real QR decoder, as a phone's camera would. The image must be drawn
// square: a stretched QR is what a camera sees, and scanners tolerate only
// so much distortion.
func qrOnPage(t *testing.T, tab context.Context) string {
	t.Helper()
	browse(t, tab, chromedp.WaitVisible(chromedp.ID("qr-image")))
	if box := read(t, tab, chromedp.Dimensions(chromedp.ID("qr-image"))); box.Width != box.Height || box.Width < 120 {
		t.Errorf("#qr-image is drawn %d×%d CSS px, want a square of at least 120", box.Width, box.Height)
	}
	src := read(t, tab, chromedp.AttributeValue(chromedp.ID("qr-image"), "src"))
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(src.Value, prefix) {
		t.Fatalf("#qr-image src is not a PNG data URI: %.40q", src.Value)
	}
	raw, err := base64.StdEncoding.DecodeString(src.Value[len(prefix):])
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return decodeQRImage(t, img)
}

func decodeQRImage(t *testing.T, img image.Image) string {
	t.Helper()
	text, err := findQR(img)
	if err != nil {
		t.Fatalf("decoding the QR: %v", err)
	}
	return text
}

// findQR reads the QR code in img, as a phone's camera pointed at it
// would; an error when there is none to read.
func findQR(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil { // gozxing's detector misses ~1 in 150 clean codes; a pure read gets them
		res, err = gozxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true})
	}
	if err != nil { // on a whole page it sometimes misjudges the size: look harder
		res, err = gozxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true})
	}
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// cropTo is the part of a screenshot of tab where the element id is drawn,
// with a margin: what a phone's camera pointed at it frames.
func cropTo(t *testing.T, tab context.Context, img image.Image, id string) image.Image {
	t.Helper()
	box := read(t, tab, chromedp.Evaluate[map[string]float64](`(() => {
		const r = document.getElementById(`+jsString(id)+`).getBoundingClientRect();
		return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height};
	})()`))
	const margin = 24
	r := image.Rect(int(box["x"])-margin, int(box["y"])-margin, int(box["x"]+box["w"])+margin, int(box["y"]+box["h"])+margin).Intersect(img.Bounds())
	sub, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	if !ok {
		t.Fatalf("cannot crop a %T", img)
	}
	return sub.SubImage(r)
}

// visible reports, for each element id, whether chromium renders it
// (Element.checkVisibility: not display:none, in a hidden subtree, or
// visibility:hidden); a missing element is not visible.
func visible(t *testing.T, tab context.Context, ids ...string) map[string]bool {
	t.Helper()
	got := read(t, tab, chromedp.Evaluate[map[string]bool](`(ids => Object.fromEntries(ids.map(id => {
		const e = document.getElementById(id);
		return [id, !!e && e.checkVisibility({visibilityProperty: true})];
	})))(`+jsString(ids)+`)`))
	return got
}

// jsString is v as a JavaScript literal.
func jsString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// --- the provider over HTTP -------------------------------------------------

var adminAddrRe = regexp.MustCompile(`\(public\), (\S+) \(admin\)`)

// provider is a running `qrlogin serve` with demo data, as the tests see
// it from outside.
type provider struct {
	issuer      string
	adminURL    string
	adminSecret string
	hc          *http.Client
}

func startProvider(t *testing.T, extra ...string) *provider {
	t.Helper()
	const adminSecret = "browser-test-admin-secret"
	issuer, out := startServe(t, append([]string{"--admin-client-secret", adminSecret}, extra...)...)
	m := adminAddrRe.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no admin address in the banner:\n%s", out)
	}
	return &provider{issuer: issuer, adminURL: "http://" + m[1], adminSecret: adminSecret,
		hc: &http.Client{Timeout: browserTestTimeout}}
}

// post sends body as JSON (form when body is url.Values) and decodes
// the JSON answer into out; it returns the status.
func (p *provider) post(t *testing.T, u string, body any, auth func(*http.Request), out any) int {
	t.Helper()
	var req *http.Request
	if form, ok := body.(url.Values); ok {
		req, _ = http.NewRequest("POST", u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		b, _ := json.Marshal(body)
		req, _ = http.NewRequest("POST", u, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("POST %s: %d, not JSON: %q", u, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

func basic(id, secret string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
}

func bearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// registerClient registers a confidential code-flow client through the
// admin API, as an operator would, and returns its secret.
func (p *provider) registerClient(t *testing.T, id, redirectURI string, postLogout ...string) string {
	t.Helper()
	return p.registerClientWith(t, map[string]any{"client_id": id, "name": "Browser Test Shop", "redirect_uris": []string{redirectURI},
		"post_logout_redirect_uris": postLogout})
}

// registerClientWith registers the client req describes (the admin API's
// JSON) and returns its secret, if it has one.
func (p *provider) registerClientWith(t *testing.T, req map[string]any) string {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st := p.post(t, p.adminURL+"/oauth/token", url.Values{"grant_type": {"client_credentials"}},
		basic("admin", p.adminSecret), &tok); st != 200 || tok.AccessToken == "" {
		t.Fatalf("admin token: %d", st)
	}
	var c struct {
		ClientSecret string `json:"client_secret"`
	}
	if st := p.post(t, p.adminURL+"/admin/v1/clients", req, bearer(tok.AccessToken), &c); st != http.StatusCreated ||
		(c.ClientSecret == "" && req["type"] != "public") {
		t.Fatalf("registering client %v: %d", req["client_id"], st)
	}
	return c.ClientSecret
}

// phoneToken signs the demo user in the way the phone app does: the
// authorization code flow with PKCE on the hosted login form (RFC 8252),
// here over plain HTTP.
func (p *provider) phoneToken(t *testing.T) string {
	t.Helper()
	const redirect = "http://127.0.0.1/callback"
	cfg := &oauth2.Config{ClientID: phoneAppID, RedirectURL: redirect, Scopes: []string{"openid", "qr:approve"},
		Endpoint: oauth2.Endpoint{AuthURL: p.issuer + "/authorize", TokenURL: p.issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	issuerHost := strings.TrimPrefix(p.issuer, "http://")
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: browserTestTimeout, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != issuerHost {
			return http.ErrUseLastResponse // the app's redirect URI: read, not followed
		}
		return nil
	}}
	resp, err := hc.Get(cfg.AuthCodeURL("phone-state", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/login" || m == nil {
		t.Fatalf("phone login page: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	resp, err = hc.PostForm(p.issuer+"/login", url.Values{"id": {resp.Request.URL.Query().Get("id")}, "csrf": {string(m[1])},
		"username": {demoUser}, "password": {demoPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != "phone-state" {
		t.Fatalf("phone login: %d, redirect %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("phone code exchange: %v", err)
	}
	return tok.AccessToken
}

// scanAnswer is the part of POST /qr/scan's answer the tests read.
type scanAnswer struct {
	Ticket   string `json:"ticket"`
	UserCode string `json:"user_code"`
}

// scan is the phone app scanning qr.
func (p *provider) scan(t *testing.T, phone, qr string) scanAnswer {
	t.Helper()
	var a scanAnswer
	if st := p.post(t, p.issuer+"/qr/scan", map[string]string{"qr": qr}, bearer(phone), &a); st != 200 || a.Ticket == "" {
		t.Fatalf("scan: %d", st)
	}
	return a
}

// confirm is the phone app confirming the scanned login.
func (p *provider) confirm(t *testing.T, phone, ticket string) {
	t.Helper()
	p.decide(t, phone, ticket, "confirm", "confirmed")
}

// deny is the phone app denying the scanned login.
func (p *provider) deny(t *testing.T, phone, ticket string) {
	t.Helper()
	p.decide(t, phone, ticket, "deny", "denied")
}

func (p *provider) decide(t *testing.T, phone, ticket, action, want string) {
	t.Helper()
	var a struct {
		Status string `json:"status"`
	}
	if st := p.post(t, p.issuer+"/qr/"+action, map[string]string{"ticket": ticket}, bearer(phone), &a); st != 200 || a.Status != want {
		t.Fatalf("%s: %d %q", action, st, a.Status)
	}
}

// verifyIDToken checks raw's signature against the provider's keys, its
// issuer, audience, expiry and nonce, as a relying party does.
func (p *provider) verifyIDToken(t *testing.T, clientID, secret, raw, nonce string) *oidc.IDTokenClaims {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	defer cancel()
	party, err := rp.NewRelyingPartyOIDC(ctx, p.issuer, clientID, secret, "http://127.0.0.1/unused", []string{"openid"},
		rp.WithVerifierOpts(rp.WithNonce(func(context.Context) string { return nonce })))
	if err != nil {
		t.Fatalf("relying party: %v", err)
	}
	claims, err := rp.VerifyIDToken[*oidc.IDTokenClaims](ctx, raw, party.IDTokenVerifier())
	if err != nil {
		t.Fatalf("ID token does not verify: %v", err)
	}
	return claims
}

// --- a stock relying party ---------------------------------------------------

// relyingParty is a stock golang.org/x/oauth2 code-flow client whose
// redirect URI is a loopback server that records what arrives.
type relyingParty struct {
	logout   string // its registered post_logout_redirect_uri
	cfg      *oauth2.Config
	verifier string
	state    string
	nonce    string
	got      chan url.Values
	// methods records the HTTP method of each callback: GET for a
	// redirect, POST for response_mode=form_post.
	methods chan string
}

// newRelyingParty starts the client's callback server and registers the
// client (named id) at the provider.
func newRelyingParty(t *testing.T, p *provider, id string) *relyingParty {
	t.Helper()
	return newRelyingPartyWith(t, p, id, nil)
}

// newRelyingPartyWith is newRelyingParty registering the client with the
// admin API's fields in extra too.
func newRelyingPartyWith(t *testing.T, p *provider, id string, extra map[string]any) *relyingParty {
	t.Helper()
	got, methods := make(chan url.Values, 4), make(chan string, 4)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cb" && r.URL.Path != "/bye" {
			http.NotFound(w, r)
			return
		}
		// The answer arrives in the query, or as a form_post POST.
		_ = r.ParseForm()
		q := r.Form
		q.Set("_path", r.URL.Path)
		select {
		case got <- q:
			select { // read by the form_post test only
			case methods <- r.Method:
			default:
			}
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>client</title><p id="client-callback">callback received</p>`)
	}))
	t.Cleanup(cb.Close)
	redirect := cb.URL + "/cb" // http://127.0.0.1:<port>/cb: loopback, RFC 8252 §7.3
	req := map[string]any{"client_id": id, "name": "Browser Test Shop", "redirect_uris": []string{redirect},
		"post_logout_redirect_uris": []string{cb.URL + "/bye"}}
	for k, v := range extra {
		req[k] = v
	}
	secret := p.registerClientWith(t, req)
	return &relyingParty{logout: cb.URL + "/bye",
		cfg: &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: redirect,
			Scopes: []string{"openid", "profile", "email"},
			Endpoint: oauth2.Endpoint{AuthURL: p.issuer + "/authorize", TokenURL: p.issuer + "/oauth/token",
				AuthStyle: oauth2.AuthStyleInHeader}},
		verifier: oauth2.GenerateVerifier(), state: "state-" + id, nonce: "nonce-" + id, got: got, methods: methods,
	}
}

// authURL is where the client sends the browser: PKCE S256 (RFC 7636),
// state and nonce.
func (c *relyingParty) authURL() string {
	return c.cfg.AuthCodeURL(c.state, oauth2.S256ChallengeOption(c.verifier), oauth2.SetAuthURLParam("nonce", c.nonce))
}

// code waits for the browser to arrive at the callback and returns the
// authorization code after checking state (RFC 6749 §10.12).
func (c *relyingParty) code(t *testing.T, tab context.Context) string {
	t.Helper()
	q := c.arrival(t, tab)
	if q.Get("state") != c.state || q.Get("code") == "" {
		t.Fatalf("callback with state %q code %q error %q", q.Get("state"), q.Get("code"), q.Get("error"))
	}
	return q.Get("code")
}

// arrival waits for the browser to arrive at the client (its callback or
// its post-logout page) and returns what it brought; _path says where.
func (c *relyingParty) arrival(t *testing.T, tab context.Context) url.Values {
	t.Helper()
	select {
	case q := <-c.got:
		return q
	case <-tab.Done():
		t.Fatalf("the browser never reached the client (page: %s)", location(tab))
		return nil
	}
}

// exchange redeems code with the PKCE verifier and verifies the ID token.
func (c *relyingParty) exchange(t *testing.T, p *provider, code string) *oidc.IDTokenClaims {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	defer cancel()
	tok, err := c.cfg.Exchange(ctx, code, oauth2.VerifierOption(c.verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token in the token response")
	}
	return p.verifyIDToken(t, c.cfg.ClientID, c.cfg.ClientSecret, raw, c.nonce)
}

// --- screenshots ------------------------------------------------------------

// screenshotDir is where screenshots go for a person to look at:
// $QRLOGIN_TEST_OUTPUT, else testout/screenshots at the repository root
// (ignored by git).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("QRLOGIN_TEST_OUTPUT")
	if dir == "" {
		dir = filepath.Join("..", "..", "testout", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves a full-page PNG of the tab as name and returns it
// decoded, checking it is as wide as the viewport (a page that overflows
// sideways is broken on a phone) and not blank.
func screenshot(t *testing.T, tab context.Context, dir, name string, wantWidth int) image.Image {
	t.Helper()
	buf := read(t, tab, chromedp.FullScreenshot(100)) // quality 100 is PNG
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("%s: not a PNG: %v", name, err)
	}
	if w := img.Bounds().Dx(); w != wantWidth {
		t.Errorf("%s is %d px wide, want the viewport's %d", name, w, wantWidth)
	}
	if colors(img) < 3 {
		t.Errorf("%s is blank", name)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot: %s", abs)
	return img
}

// colors counts distinct colors, stopping early: a blank page has one.
func colors(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) >= 16 {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// loginPageWithQR registers a relying party named id and opens its
// sign-in in a new tab: the hosted login page, waiting for a scan. It
// returns the client, the tab and the QR's text.
func loginPageWithQR(t *testing.T, p *provider, deadline context.Context, id string) (*relyingParty, context.Context, string) {
	t.Helper()
	c := newRelyingParty(t, p, id)
	tab := newTab(t, deadline)
	browse(t, tab, chromedp.Navigate(c.authURL()))
	qr := qrOnPage(t, tab)
	browse(t, tab, waitText("qr-status", "Waiting"))
	return c, tab, qr
}

// sameBrowserTab opens another tab in tab's browser context: the same
// cookies, as a person opening a second tab of the same browser.
func sameBrowserTab(t *testing.T, tab context.Context) context.Context {
	t.Helper()
	second, cancel := chromedp.NewContext(tab)
	t.Cleanup(cancel)
	if err := chromedp.Do(second); err != nil {
		t.Fatalf("opening a second tab: %v", err)
	}
	return second
}

// signInOnForm fills the hosted password form as the demo user.
func signInOnForm(t *testing.T, tab context.Context) {
	t.Helper()
	browse(t, tab,
		chromedp.WaitVisible(chromedp.ID("password-form")),
		chromedp.SendKeys(chromedp.ID("username"), demoUser),
		chromedp.SendKeys(chromedp.ID("password"), demoPassword),
		chromedp.Click(chromedp.ID("signin")),
	)
}
