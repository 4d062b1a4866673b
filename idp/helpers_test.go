package idp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/idp/password"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

// Fixtures every test server gets.
const (
	rpID       = "rp"
	rpSecret   = "rp-secret-0123456789"
	otherID    = "other-rp"
	otherSec   = "other-secret-0123456789"
	publicRPID = "desktop-app"
	phoneID    = "phone"
	phoneRedir = "http://127.0.0.1/callback"
)

var allGrants = []string{"authorization_code", "refresh_token", idp.GrantDeviceCode, idp.GrantQR}

// clock is a settable test clock; it starts at the real time so tokens
// zitadel validates against time.Now stay valid.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type testServer struct {
	*httptest.Server
	idp   *idp.Server
	store storage.Store
	clock *clock
	users map[string]string // username → user id
}

type serverOpt func(*idp.Config)

// newServer starts the provider over httptest on a memory store with two
// confidential relying parties, a public one, the phone app and two users.
func newServer(t testing.TB, opts ...serverOpt) *testServer {
	t.Helper()
	return newServerOn(t, memory.New(), opts...)
}

func newServerOn(t testing.TB, store storage.Store, opts ...serverOpt) *testServer {
	t.Helper()
	ctx := context.Background()
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	t.Cleanup(ts.Close)
	clk := &clock{t: time.Now()}
	cfg := idp.Config{Issuer: ts.URL, Store: store, Now: clk.Now, RateLimit: -1}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := idp.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	t.Cleanup(func() {
		// Parked long-polls outlive their requests: answer them before the
		// store goes (ts.Close does not wait for hijacked connections).
		srv.Drain()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := srv.WaitParked(ctx); err != nil {
			t.Errorf("parked long-polls not answered at the end of the test: %v", err)
		}
	})
	s := &testServer{Server: ts, idp: srv, store: store, clock: clk, users: map[string]string{}}
	now := time.Now().UTC()
	for _, c := range []*storage.Client{
		{ID: rpID, Name: "Example Shop", SecretHash: storage.Hash(rpSecret), Type: storage.ClientConfidential,
			RedirectURIs: []string{"https://shop.example/cb"}, GrantTypes: allGrants, LogoURI: "https://shop.example/logo.png",
			PostLogoutRedirectURIs: []string{"https://shop.example/bye"},
			ClientURI:              "https://shop.example", CreatedAt: now},
		{ID: otherID, Name: "Other", SecretHash: storage.Hash(otherSec), Type: storage.ClientConfidential,
			RedirectURIs: []string{"https://other.example/cb"}, GrantTypes: allGrants, CreatedAt: now,
			PostLogoutRedirectURIs: []string{"https://other.example/bye"}},
		{ID: publicRPID, Name: "Desktop App", Type: storage.ClientPublic,
			RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: allGrants, CreatedAt: now},
		{ID: phoneID, Name: "Phone", Type: storage.ClientPublic, FirstParty: true,
			RedirectURIs: []string{phoneRedir}, GrantTypes: []string{"authorization_code", "refresh_token"}, CreatedAt: now},
	} {
		if err := store.CreateClient(ctx, c); err != nil && !isConflict(err) {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"alice", "bob"} {
		h, err := password.Hash(name + "-password")
		if err != nil {
			t.Fatal(err)
		}
		u := &storage.User{ID: "user-" + name, Username: name, PasswordHash: h, Name: strings.ToUpper(name[:1]) + name[1:],
			Email: name + "@example.com", EmailVerified: true, CreatedAt: now}
		if err := store.CreateUser(ctx, u); err != nil && !isConflict(err) {
			t.Fatal(err)
		}
		s.users[name] = u.ID
	}
	return s
}

func isConflict(err error) bool { return err != nil && strings.Contains(err.Error(), "conflict") }

// rpConfig is a stock x/oauth2 config for the confidential relying party.
func (s *testServer) rpConfig(id, secret string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: id, ClientSecret: secret, Scopes: []string{"openid", "profile", "email", "offline_access"},
		Endpoint: oauth2.Endpoint{
			AuthURL: s.URL + "/authorize", TokenURL: s.URL + "/oauth/token", DeviceAuthURL: s.URL + "/qr/authorize",
			AuthStyle: oauth2.AuthStyleInHeader, // explicit: auto-detect doubles failed polls
		},
	}
}

// phoneToken signs user in on the hosted login page with the phone app's
// authorization code + PKCE flow (RFC 8252) and returns its access token.
func (s *testServer) phoneToken(t testing.TB, user string) string {
	t.Helper()
	return s.codeFlowToken(t, phoneID, "", phoneRedir, user, []string{"openid", "qr:approve", "offline_access"}).AccessToken
}

// codeFlowToken runs the authorization code flow with PKCE through the
// hosted login page, with a stock x/oauth2 client.
func (s *testServer) codeFlowToken(t testing.TB, clientID, secret, redirect, user string, scopes []string) *oauth2.Token {
	t.Helper()
	cfg := &oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/authorize", TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	if secret != "" {
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	}
	verifier := oauth2.GenerateVerifier()
	code := s.authorize(t, cfg.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "n-1")), user)
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	return tok
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// authorize follows /authorize to the login page, signs in and returns the
// code from the redirect to the client.
func (s *testServer) authorize(t testing.TB, authURL, user string) string {
	t.Helper()
	return s.authorizeMode(t, authURL, user, "query")
}

var formCodeRe = regexp.MustCompile(`name="code" value="([^"]+)"`)

// authorizeMode follows /authorize to the login page, signs user in and
// reads the code where the response_mode puts it: the query or the
// fragment of the redirect to the client, or the form of the form_post
// page.
func (s *testServer) authorizeMode(t testing.TB, authURL, user, mode string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != strings.TrimPrefix(s.URL, "http://") {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRe.FindSubmatch(page)
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/login" || m == nil {
		t.Fatalf("authorize: got %d at %s: %s", resp.StatusCode, resp.Request.URL, page)
	}
	resp, err = hc.PostForm(s.URL+"/login", url.Values{"id": {resp.Request.URL.Query().Get("id")}, "csrf": {string(m[1])},
		"username": {user}, "password": {user + "-password"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch mode {
	case "form_post":
		m := formCodeRe.FindSubmatch(body)
		if resp.StatusCode != 200 || m == nil || !bytes.Contains(body, []byte(`action="https://shop.example/cb"`)) {
			t.Fatalf("form_post: %d %s", resp.StatusCode, body)
		}
		return html.UnescapeString(string(m[1]))
	case "fragment":
		loc, _ := url.Parse(resp.Header.Get("Location"))
		f, _ := url.ParseQuery(loc.Fragment)
		if loc.Query().Get("code") != "" || f.Get("code") == "" {
			t.Fatalf("fragment: %q", resp.Header.Get("Location"))
		}
		return f.Get("code")
	default:
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc.Query().Get("code") == "" {
			t.Fatalf("%s: %d %q %s", mode, resp.StatusCode, resp.Header.Get("Location"), body)
		}
		return loc.Query().Get("code")
	}
}

// qrStart is the raw answer of /qr/authorize.
type qrStart struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	QRImage                 string `json:"qr_image"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// start calls /qr/authorize as the confidential relying party.
func (s *testServer) start(t testing.TB, extra url.Values) *qrStart {
	t.Helper()
	form := url.Values{"scope": {"openid profile email offline_access"}}
	for k, v := range extra {
		form[k] = v
	}
	status, body := s.form(t, "/qr/authorize", rpID, rpSecret, form)
	if status != 200 {
		t.Fatalf("/qr/authorize: %d %s", status, body)
	}
	var r qrStart
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// form POSTs a form with HTTP Basic client authentication (if id != "").
func (s *testServer) form(t testing.TB, path, id, secret string, form url.Values) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return do(t, req)
}

// poll polls the token endpoint for a QR login.
func (s *testServer) poll(t testing.TB, grant, deviceCode string, extra url.Values) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {grant}, "device_code": {deviceCode}}
	for k, v := range extra {
		form[k] = v
	}
	status, body := s.form(t, "/oauth/token", rpID, rpSecret, form)
	return status, decode(t, body)
}

// phone calls the phone API with a bearer token and a JSON body.
func (s *testServer) phone(t testing.TB, token, path string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", s.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	status, raw := do(t, req)
	return status, decode(t, raw)
}

// scan scans the QR as user (with token) and returns the ticket.
func (s *testServer) scan(t testing.TB, token, qr string) string {
	t.Helper()
	status, body := s.phone(t, token, "/qr/scan", map[string]string{"qr": qr})
	if status != 200 {
		t.Fatalf("scan: %d %v", status, body)
	}
	return body["ticket"].(string)
}

func do(t testing.TB, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %q", b)
	}
	return m
}

// decodeQR reads a data:image/png;base64 URI with a real QR decoder.
func decodeQR(t testing.TB, dataURI string) string {
	t.Helper()
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(dataURI, prefix) {
		t.Fatalf("qr_image is not a PNG data URI: %.40q", dataURI)
	}
	raw, err := base64.StdEncoding.DecodeString(dataURI[len(prefix):])
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		// gozxing's finder-pattern detector misses about 1 in 150 clean
		// codes; read as a pure (unrotated, quiet-zoned) code they all decode.
		res, err = gozxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true})
	}
	if err != nil {
		t.Fatalf("decoding the QR: %v", err)
	}
	return res.GetText()
}

func s256(v string) string {
	h := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
