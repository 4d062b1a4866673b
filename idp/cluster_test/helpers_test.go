// Package clustertest runs several qrlogin instances on one PostgreSQL
// database, the way a deployment behind a load balancer does, and breaks
// things under them: an instance restarts between two steps of a flow, the
// database goes away and comes back. It holds tests only.
//
// Every instance is an idp.Server behind its own httptest.Server, with its
// own postgres.Store (its own pool and LISTEN connection). All instances
// share one issuer, the name a load balancer would answer to; requests are
// sent to each instance's own address, and redirects that name the issuer
// are followed to whichever instance the test chooses.
//
// The tests need QRLOGIN_TEST_DATABASE_URL (see storage/postgres/pgtest):
// they skip without it, and fail without it when CI is set.
package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/idp/password"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/postgres"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// issuer is the one name every instance answers to. It resolves nowhere:
// the tests rewrite it to the address of the instance they mean.
const issuer = "http://qrlogin.cluster.test"

// Fixtures seeded once per database.
const (
	rpID       = "shop"
	rpSecret   = "shop-secret-0123456789abcdef"
	rpRedirect = "https://shop.example/cb"
	phoneID    = "phone"
	phoneRedir = "http://127.0.0.1/callback"
	user       = "alice"
	userPass   = "alice-password"
)

var rpScopes = []string{"openid", "profile", "email", "offline_access"}

// clock is a settable clock shared by the instances of a cluster. It
// starts at the real time: zitadel checks some times against time.Now.
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

// cluster is one database and the configuration its instances share.
type cluster struct {
	t      *testing.T
	dbURL  string
	clock  *clock
	config func(*idp.Config)
	userID string
}

// newCluster takes a fresh migrated database and seeds the relying party,
// the phone app and the user. config, if not nil, adjusts every
// instance's idp.Config.
func newCluster(t *testing.T, config func(*idp.Config)) *cluster {
	t.Helper()
	return clusterOn(t, pgtest.NewDatabase(t), config)
}

// clusterOn is newCluster on a migrated database of the test's own.
func clusterOn(t *testing.T, dbURL string, config func(*idp.Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, dbURL: dbURL, clock: &clock{t: time.Now()}, config: config}
	c.seed()
	return c
}

func (c *cluster) seed() {
	t := c.t
	t.Helper()
	ctx := context.Background()
	s := pgtest.OpenStore(t, c.dbURL)
	defer s.Close()
	now := time.Now().UTC()
	for _, cl := range []*storage.Client{
		{ID: rpID, Name: "Shop", SecretHash: storage.Hash(rpSecret), Type: storage.ClientConfidential,
			RedirectURIs: []string{rpRedirect}, PostLogoutRedirectURIs: []string{rpRedirect}, CreatedAt: now,
			GrantTypes: []string{"authorization_code", "refresh_token", idp.GrantDeviceCode, idp.GrantQR}},
		{ID: phoneID, Name: "Phone", Type: storage.ClientPublic, FirstParty: true, RedirectURIs: []string{phoneRedir},
			GrantTypes: []string{"authorization_code", "refresh_token"}, CreatedAt: now},
	} {
		if err := s.CreateClient(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	h, err := password.Hash(userPass)
	if err != nil {
		t.Fatal(err)
	}
	u := &storage.User{ID: "user-" + user, Username: user, PasswordHash: h, Name: "Alice",
		Email: "alice@example.com", EmailVerified: true, CreatedAt: now}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	c.userID = u.ID
}

// instance is one qrlogin process: a server, its pool, its address.
type instance struct {
	name  string
	url   string
	srv   *idp.Server
	store *postgres.Store
	stop  func()
}

// start starts an instance on the cluster's database.
func (c *cluster) start(name string) *instance {
	c.t.Helper()
	return c.startOn(name, c.dbURL)
}

// startOn starts an instance whose store connects to dbURL (the cluster's
// database, possibly through a proxy).
func (c *cluster) startOn(name, dbURL string) *instance {
	c.t.Helper()
	return c.startWith(name, dbURL, nil)
}

// startWith is startOn with the server's view of the store passed through
// wrap (for injecting faults), if not nil.
func (c *cluster) startWith(name, dbURL string, wrap func(storage.Store) storage.Store) *instance {
	t := c.t
	t.Helper()
	store := pgtest.OpenStore(t, dbURL)
	var served storage.Store = store
	if wrap != nil {
		served = wrap(store)
	}
	cfg := idp.Config{Issuer: issuer, Store: served, Now: c.clock.Now, RateLimit: -1}
	if c.config != nil {
		c.config(&cfg)
	}
	srv, err := idp.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	ts := httptest.NewServer(srv)
	var once sync.Once
	in := &instance{name: name, url: ts.URL, srv: srv, store: store}
	in.stop = func() {
		once.Do(func() {
			ts.Close()
			store.Close()
		})
	}
	t.Cleanup(in.stop)
	return in
}

// local rewrites a URL that names the issuer to this instance's address.
func (in *instance) local(u string) string {
	if rest, ok := strings.CutPrefix(u, issuer); ok {
		return in.url + rest
	}
	return u
}

// --- HTTP --------------------------------------------------------------------

// client is shared by every request: no cookies (sign-in uses its own jar),
// no redirects followed, and a timeout so a hanging server fails the test
// instead of stalling the run.
var client = &http.Client{
	Timeout:       60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// reply is an HTTP answer; took is how long it took to arrive.
type reply struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

func (r reply) json() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	return m
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body)) }

// send does req; it never calls t, so goroutines may use it.
func send(req *http.Request) (reply, error) {
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b, took: time.Since(start)}, err
}

// postForm POSTs a form, with HTTP Basic client authentication if id != "".
func postForm(ctx context.Context, u, id, secret string, form url.Values) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return send(req)
}

// postJSON POSTs a JSON body with a bearer token.
func postJSON(ctx context.Context, u, token string, body any) (reply, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(b))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	return send(req)
}

func get(ctx context.Context, u, token string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return reply{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(req)
}

// must(t)(call()) fails t if call returned an error.
func must(t testing.TB) func(reply, error) reply {
	return func(r reply, err error) reply {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

// --- the QR flow ---------------------------------------------------------------

// qrLogin is a started QR login as the PC sees it.
type qrLogin struct {
	DeviceCode string `json:"device_code"`
	QR         string `json:"verification_uri_complete"`
}

// qrStart starts a QR login at in as the relying party.
func qrStart(t testing.TB, in *instance) *qrLogin {
	t.Helper()
	r := must(t)(postForm(context.Background(), in.url+"/qr/authorize", rpID, rpSecret,
		url.Values{"scope": {strings.Join(rpScopes, " ")}, "nonce": {"n-cluster"}}))
	if r.status != http.StatusOK {
		t.Fatalf("%s /qr/authorize: %v", in.name, r)
	}
	var l qrLogin
	if err := json.Unmarshal(r.body, &l); err != nil || l.DeviceCode == "" || l.QR == "" {
		t.Fatalf("%s /qr/authorize: %v", in.name, r)
	}
	return &l
}

// poll asks the token endpoint of in for the login's tokens; wait is the
// long-poll parameter in seconds ("" for none).
func poll(ctx context.Context, in *instance, l *qrLogin, wait string) (reply, error) {
	form := url.Values{"grant_type": {idp.GrantQR}, "device_code": {l.DeviceCode}}
	if wait != "" {
		form.Set("wait", wait)
	}
	return postForm(ctx, in.url+"/oauth/token", rpID, rpSecret, form)
}

// scan scans the login's QR at in with the phone's token; it returns the
// ticket.
func scan(t testing.TB, in *instance, phone string, l *qrLogin) string {
	t.Helper()
	r := must(t)(postJSON(context.Background(), in.url+"/qr/scan", phone, map[string]string{"qr": l.QR}))
	ticket, _ := r.json()["ticket"].(string)
	if r.status != http.StatusOK || ticket == "" {
		t.Fatalf("%s /qr/scan: %v", in.name, r)
	}
	return ticket
}

func confirm(t testing.TB, in *instance, phone, ticket string) {
	t.Helper()
	r := must(t)(postJSON(context.Background(), in.url+"/qr/confirm", phone, map[string]string{"ticket": ticket}))
	if r.status != http.StatusOK {
		t.Fatalf("%s /qr/confirm: %v", in.name, r)
	}
}

// tokens is a token endpoint's success answer.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

func tokensOf(t testing.TB, what string, r reply) *tokens {
	t.Helper()
	var tok tokens
	if r.status != http.StatusOK || json.Unmarshal(r.body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("%s: want tokens, got %v", what, r)
	}
	return &tok
}

// refresh uses a refresh token at in (RFC 6749 §6).
func refresh(t testing.TB, in *instance, rt string) reply {
	t.Helper()
	return must(t)(postForm(context.Background(), in.url+"/oauth/token", rpID, rpSecret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}))
}

// loginByQR runs a whole QR login: start and redeem at pc, scan and
// confirm at phoneAt.
func loginByQR(t testing.TB, pc, phoneAt *instance, phone string) *tokens {
	t.Helper()
	l := qrStart(t, pc)
	confirm(t, phoneAt, phone, scan(t, phoneAt, phone, l))
	return tokensOf(t, pc.name+" redeem", redeemAt(t, pc, l))
}

// redeemAt long-polls pc for l's tokens as a PC does: an instance answers
// polls from its view of the login, which a change made on another
// instance reaches through the database's announcement (milliseconds
// later); a long-poll is answered when it arrives, and a poll that
// reports a change ("scanned") is followed at once by the next.
func redeemAt(t testing.TB, pc *instance, l *qrLogin) reply {
	t.Helper()
	for range 5 {
		r := must(t)(poll(context.Background(), pc, l, "5"))
		if r.json()["error"] != "authorization_pending" {
			return r
		}
	}
	t.Fatalf("%s: no tokens after 5 long-polls", pc.name)
	return reply{}
}

// wantError checks an OAuth error answer (RFC 6749 §5.2).
func wantError(t testing.TB, what string, r reply, status int, code string) {
	t.Helper()
	if got := r.json()["error"]; r.status != status || got != code {
		t.Fatalf("%s: want %d %s, got %v", what, status, code, r)
	}
}

// redeemedCount counts the login's "redeemed" audit events: the store's
// own record of how many times tokens were handed out for it.
func redeemedCount(t testing.TB, s storage.Store, l *qrLogin) int {
	t.Helper()
	ctx := context.Background()
	_, qrID, _ := strings.Cut(l.QR, "/q/")
	row, err := s.QRLoginByQRIDHash(ctx, storage.Hash(qrID))
	if err != nil {
		t.Fatal(err)
	}
	events, err := s.QRAuditEvents(ctx, row.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Event == "redeemed" {
			n++
		}
	}
	return n
}

// waitHeld returns once in holds n long-polls: then a change cannot be
// missed because the poll had not started waiting yet.
func waitHeld(t testing.TB, in *instance, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for in.srv.QR().Held() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the long-poll was never held", in.name)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// --- signing in on the hosted page -----------------------------------------------

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signInSteps names the instance that serves each step of a sign-in: the
// authorization request, the login page, the login form's POST, the
// callback that issues the code, and the code exchange.
type signInSteps struct{ authorize, page, post, callback, exchange *instance }

func everyStepAt(in *instance) signInSteps { return signInSteps{in, in, in, in, in} }

// signIn runs the authorization code flow with PKCE through the hosted
// login page, each step at the instance steps names, and returns the
// tokens of the exchange. The browser's cookie jar is shared by the
// instances (same host), as one site's cookie is behind a load balancer.
func signIn(t testing.TB, steps signInSteps, clientID, secret, redirect string, scopes []string) *oauth2.Token {
	t.Helper()
	cfg, code, verifier := signInCode(t, steps, clientID, secret, redirect, scopes)
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange at %s: %v", steps.exchange.name, err)
	}
	return tok
}

// signInCode is signIn up to the code: it returns the client's config
// (token endpoint at steps.exchange), the code and the PKCE verifier.
func signInCode(t testing.TB, steps signInSteps, clientID, secret, redirect string, scopes []string) (cfg *oauth2.Config, code, verifier string) {
	t.Helper()
	cfg = &oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: steps.authorize.url + "/authorize",
			TokenURL: steps.exchange.url + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	if secret != "" {
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// step(what, statuses…)(browser.Get(…)) checks one step's answer.
	step := func(what string, want ...int) func(*http.Response, error) (*http.Response, []byte) {
		return func(resp *http.Response, err error) (*http.Response, []byte) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if !slices.Contains(want, resp.StatusCode) {
				t.Fatalf("%s: got %d: %s", what, resp.StatusCode, b)
			}
			return resp, b
		}
	}
	redirected := []int{http.StatusFound, http.StatusSeeOther}

	verifier = oauth2.GenerateVerifier()
	resp, _ := step("authorize", redirected...)(browser.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("nonce", "n-sign-in"))))
	loginURL := steps.page.local(resp.Header.Get("Location"))
	u, err := url.Parse(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	_, page := step("login page", http.StatusOK)(browser.Get(loginURL))
	m := csrfRe.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf token on the login page: %s", page)
	}
	resp, _ = step("login", redirected...)(browser.PostForm(steps.post.url+"/login", url.Values{"id": {u.Query().Get("id")},
		"csrf": {string(m[1])}, "username": {user}, "password": {userPass}}))
	resp, _ = step("callback", redirected...)(browser.Get(steps.callback.local(resp.Header.Get("Location"))))
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Query().Get("code") == "" {
		t.Fatalf("callback: no code in %q", resp.Header.Get("Location"))
	}
	return cfg, back.Query().Get("code"), verifier
}

// phoneToken signs the user in to the phone app and returns its access
// token (scope qr:approve).
func phoneToken(t testing.TB, steps signInSteps) string {
	t.Helper()
	return signIn(t, steps, phoneID, "", phoneRedir, []string{"openid", idp.ScopeQRApprove}).AccessToken
}

// --- ID tokens -------------------------------------------------------------------

// verifyIDToken verifies an ID token with zitadel's relying-party verifier
// against the JWKS that instance in publishes at /keys.
func verifyIDToken(t testing.TB, in *instance, raw, nonce string) *oidc.IDTokenClaims {
	t.Helper()
	keys := rp.NewRemoteKeySet(client, in.url+"/keys")
	v := rp.NewIDTokenVerifier(issuer, rpID, keys,
		rp.WithNonce(func(context.Context) string { return nonce }))
	claims, err := rp.VerifyIDToken[*oidc.IDTokenClaims](context.Background(), raw, v)
	if err != nil {
		t.Fatalf("ID token does not verify against %s's /keys: %v", in.name, err)
	}
	return claims
}
