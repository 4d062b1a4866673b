package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gooauth2 "github.com/go-oauth2/oauth2/v4"
	"github.com/go-oauth2/oauth2/v4/models"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

const (
	adminID     = "admin"
	adminSecret = "s3cret-admin-secret-for-tests"
)

// clock is a settable Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// harness is one admin listener over a fresh memory store.
type harness struct {
	srv   *httptest.Server
	store storage.Store
	clock *clock
}

type option func(*Config)

func newHarness(t testing.TB, opts ...option) *harness {
	t.Helper()
	return newHarnessOn(t, memory.New(), opts...)
}

func newHarnessOn(t testing.TB, store storage.Store, opts ...option) *harness {
	t.Helper()
	h := &harness{
		store: store,
		clock: &clock{now: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)},
	}
	cfg := Config{
		Store:           h.store,
		AdminClientID:   adminID,
		AdminSecretHash: storage.Hash(adminSecret),
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:             h.clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	handler, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(handler)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *harness) ccConfig(secret string, style oauth2.AuthStyle) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:     adminID,
		ClientSecret: secret,
		TokenURL:     h.srv.URL + "/oauth/token",
		AuthStyle:    style,
	}
}

// token gets an admin access token the way the CLI does.
func (h *harness) token(t testing.TB) string {
	t.Helper()
	tok, err := h.ccConfig(adminSecret, oauth2.AuthStyleInHeader).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v: %s", a.status, err, a.body)
	}
	return m
}

// expectError checks an error answer's status and code.
func (a answer) expectError(t *testing.T, status int, code string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body %s", a.status, status, a.body)
	}
	if got := a.json(t)["error"]; got != code {
		t.Fatalf("error %v, want %q; body %s", got, code, a.body)
	}
}

func (h *harness) do(t *testing.T, method, path, token, body string) answer {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(t, req)
}

func send(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// postForm sends a raw token request.
func (h *harness) postForm(t *testing.T, form string, basic bool) answer {
	t.Helper()
	req, err := http.NewRequest("POST", h.srv.URL+"/oauth/token", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(adminID, adminSecret)
	}
	return send(t, req)
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	st := memory.New()
	good := Config{Store: st, AdminClientID: "a", AdminSecretHash: storage.Hash("s")}
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"no store", func(c *Config) { c.Store = nil }},
		{"no admin client id", func(c *Config) { c.AdminClientID = "" }},
		{"no secret hash", func(c *Config) { c.AdminSecretHash = nil }},
		{"a secret hash that is not SHA-256", func(c *Config) { c.AdminSecretHash = []byte("plaintext") }},
		{"a negative token TTL", func(c *Config) { c.TokenTTL = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.change(&cfg)
			if _, err := New(cfg); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
	if _, err := New(good); err != nil {
		t.Fatalf("New rejected a complete config: %v", err)
	}
}

func TestTokenWithClientCredentials(t *testing.T) {
	for _, tt := range []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"client_secret_basic", oauth2.AuthStyleInHeader},
		{"client_secret_post", oauth2.AuthStyleInParams},
	} {
		t.Run(tt.name+" gets a working token", func(t *testing.T) {
			h := newHarness(t)
			tok, err := h.ccConfig(adminSecret, tt.style).Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" {
				t.Errorf("token_type %q, want Bearer", tok.TokenType)
			}
			if got := tok.Expiry.Sub(time.Now()); got < DefaultTokenTTL-time.Minute || got > DefaultTokenTTL {
				t.Errorf("expires in %v, want about %v", got, DefaultTokenTTL)
			}
			// 256 random bits, base64url: opaque, not a UUID or a JWT.
			if len(tok.AccessToken) != 43 || strings.Contains(tok.AccessToken, ".") {
				t.Errorf("access token %q is not 43 base64url characters", tok.AccessToken)
			}
			if a := h.do(t, "GET", "/admin/v1/clients", tok.AccessToken, ""); a.status != http.StatusOK {
				t.Fatalf("the token was refused: %d %s", a.status, a.body)
			}
		})
	}
}

func TestTokenIsStoredByHashWithTheAdminClock(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.TokenTTL = 5 * time.Minute })
	tok := h.token(t)
	row, err := h.store.AdminToken(context.Background(), storage.Hash(tok), h.clock.Now())
	if err != nil {
		t.Fatalf("no admin token stored under the token's hash: %v", err)
	}
	if row.ClientID != adminID {
		t.Errorf("client %q, want %q", row.ClientID, adminID)
	}
	if want := h.clock.Now().Add(5 * time.Minute); !row.ExpiresAt.Equal(want) {
		t.Errorf("expires at %v, want %v", row.ExpiresAt, want)
	}
	if _, err := h.store.AdminToken(context.Background(), []byte(tok), h.clock.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a lookup by the plaintext token found something: %v", err)
	}
}

func TestTokenEndpointRejects(t *testing.T) {
	long := "grant_type=client_credentials&x=" + strings.Repeat("a", maxBody)
	tests := []struct {
		name   string
		form   string
		basic  bool
		status int
		code   string
	}{
		{"a wrong secret by post", "grant_type=client_credentials&client_id=admin&client_secret=wrong", false, 401, "invalid_client"},
		{"an empty secret by post", "grant_type=client_credentials&client_id=admin", false, 401, "invalid_client"},
		{"an unknown client", "grant_type=client_credentials&client_id=root&client_secret=" + adminSecret, false, 401, "invalid_client"},
		{"no client authentication", "grant_type=client_credentials", false, 401, "invalid_client"},
		{"the password grant", "grant_type=password&username=a&password=b", true, 400, "unsupported_grant_type"},
		{"the authorization_code grant", "grant_type=authorization_code&code=x&redirect_uri=https://a", true, 400, "unsupported_grant_type"},
		{"the refresh_token grant", "grant_type=refresh_token&refresh_token=x", true, 400, "unsupported_grant_type"},
		{"an unknown grant", "grant_type=urn:example:nope", true, 400, "unsupported_grant_type"},
		{"no grant_type", "client_id=admin", true, 400, "invalid_request"},
		{"a repeated parameter", "grant_type=client_credentials&grant_type=client_credentials", true, 400, "invalid_request"},
		{"two authentication methods (RFC 6749 §2.3)", "grant_type=client_credentials&client_secret=" + adminSecret, true, 400, "invalid_request"},
		{"a client_id that contradicts Basic", "grant_type=client_credentials&client_id=other", true, 400, "invalid_request"},
		{"a scope other than admin", "grant_type=client_credentials&scope=openid", true, 400, "invalid_scope"},
		{"a body over 64 KiB", long, true, 413, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			a := h.postForm(t, tt.form, tt.basic)
			a.expectError(t, tt.status, tt.code)
			if cc := a.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			// RFC 9110 §15.5.2: a 401 carries a challenge.
			if got := a.header.Get("WWW-Authenticate"); (a.status == 401) != strings.HasPrefix(got, "Basic ") {
				t.Errorf("status %d with WWW-Authenticate %q", a.status, got)
			}
		})
	}
}

func TestTokenEndpointWrongSecretWithRealClient(t *testing.T) {
	h := newHarness(t)
	_, err := h.ccConfig("wrong", oauth2.AuthStyleInHeader).Token(context.Background())
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want a RetrieveError", err)
	}
	if re.Response.StatusCode != 401 || re.ErrorCode != "invalid_client" {
		t.Fatalf("got %d %q, want 401 invalid_client", re.Response.StatusCode, re.ErrorCode)
	}
	// RFC 6749 §5.2: a client that used the Authorization header gets a
	// challenge with the 401.
	if got := re.Response.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic") {
		t.Errorf("WWW-Authenticate %q, want a Basic challenge", got)
	}
}

func TestTokenEndpointRejectsParametersInTheURI(t *testing.T) {
	h := newHarness(t)
	req, _ := http.NewRequest("POST", h.srv.URL+"/oauth/token?client_secret="+adminSecret,
		strings.NewReader("grant_type=client_credentials&client_id=admin"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	send(t, req).expectError(t, 400, "invalid_request")
}

func TestTokenEndpointAcceptsEscapedBasicCredentials(t *testing.T) {
	// RFC 6749 §2.3.1: client_id and secret are form-urlencoded before
	// Basic encoding; x/oauth2 does so.
	const id, secret = "ops admin", "p+ss/w%rd"
	st := memory.New()
	handler, err := New(Config{Store: st, AdminClientID: id, AdminSecretHash: storage.Hash(secret)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()
	cc := &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}
	if _, err := cc.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestTokenResponseHeadersAndScope(t *testing.T) {
	h := newHarness(t)
	a := h.postForm(t, "grant_type=client_credentials&scope=admin", true)
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store (RFC 6749 §5.1)", cc)
	}
	m := a.json(t)
	if m["scope"] != "admin" || m["expires_in"] != float64(900) || m["refresh_token"] != nil {
		t.Errorf("token response %s: want scope admin, expires_in 900, no refresh token", a.body)
	}
}

func TestBearerCheck(t *testing.T) {
	h := newHarness(t)
	good := h.token(t)
	tests := []struct {
		name      string
		auth      string
		challenge string
	}{
		{"no Authorization header", "", `Bearer realm="qrlogin-admin"`},
		{"another scheme", "Basic " + good, `Bearer realm="qrlogin-admin", error="invalid_request"`},
		{"an empty bearer token", "Bearer ", `Bearer realm="qrlogin-admin", error="invalid_request"`},
		{"a token with a space", "Bearer a b", `Bearer realm="qrlogin-admin", error="invalid_request"`},
		{"an unknown token", "Bearer " + storage.NewSecret(32), `Bearer realm="qrlogin-admin", error="invalid_token"`},
		{"a client secret instead of a token", "Bearer " + adminSecret, `Bearer realm="qrlogin-admin", error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", h.srv.URL+"/admin/v1/clients", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			a := send(t, req)
			a.expectError(t, 401, "invalid_token")
			if got := a.header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
		})
	}
	t.Run("the scheme is case-insensitive", func(t *testing.T) {
		req, _ := http.NewRequest("GET", h.srv.URL+"/admin/v1/clients", nil)
		req.Header.Set("Authorization", "bearer "+good)
		if a := send(t, req); a.status != 200 {
			t.Fatalf("status %d: %s", a.status, a.body)
		}
	})
	t.Run("authentication comes before routing", func(t *testing.T) {
		h.do(t, "GET", "/admin/v1/no-such-thing", "", "").expectError(t, 401, "invalid_token")
		h.do(t, "PUT", "/admin/v1/clients", "", "").expectError(t, 401, "invalid_token")
	})
}

func TestExpiredTokenIsRefused(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.TokenTTL = time.Minute })
	tok := h.token(t)
	h.clock.Advance(59 * time.Second)
	if a := h.do(t, "GET", "/admin/v1/users", tok, ""); a.status != 200 {
		t.Fatalf("token refused before expiry: %d %s", a.status, a.body)
	}
	h.clock.Advance(time.Second)
	a := h.do(t, "GET", "/admin/v1/users", tok, "")
	a.expectError(t, 401, "invalid_token")
	if got := a.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate %q lacks error=\"invalid_token\"", got)
	}
}

// unavailable is a store whose backend is down for the methods it
// overrides.
type unavailable struct{ storage.Store }

func (unavailable) ListClients(context.Context) ([]*storage.Client, error) {
	return nil, storage.ErrUnavailable
}

func (unavailable) CreateAdminToken(context.Context, *storage.AdminToken) error {
	return storage.ErrUnavailable
}

func (unavailable) ListUsers(context.Context) ([]*storage.User, error) {
	return nil, errors.New("pq: relation \"users\" does not exist")
}

func TestStorageFailures(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	handler, err := New(Config{
		Store:           unavailable{h.store},
		AdminClientID:   adminID,
		AdminSecretHash: storage.Hash(adminSecret),
		Now:             h.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.srv.Config.Handler = handler

	t.Run("an unavailable store answers 503", func(t *testing.T) {
		h.do(t, "GET", "/admin/v1/clients", tok, "").expectError(t, 503, "temporarily_unavailable")
	})
	t.Run("the token endpoint answers 503 too", func(t *testing.T) {
		a := h.postForm(t, "grant_type=client_credentials", true)
		a.expectError(t, 503, "temporarily_unavailable")
	})
	t.Run("any other failure answers 500 without its text", func(t *testing.T) {
		a := h.do(t, "GET", "/admin/v1/users", tok, "")
		a.expectError(t, 500, "server_error")
		if bytes.Contains(a.body, []byte("relation")) {
			t.Errorf("the body leaks the storage error: %s", a.body)
		}
	})
}

type fakeKeys struct {
	mu   sync.Mutex
	keys []KeyInfo
}

func (k *fakeKeys) Rotate(_ context.Context, alg string) ([]KeyInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch alg {
	case "":
		alg = "RS256"
	case "RS256", "ES256", "EdDSA":
	default:
		return nil, ErrUnknownAlg
	}
	ki := KeyInfo{ID: "k" + string(rune('0'+len(k.keys))), Algorithm: alg, Status: "next",
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotBefore: time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	k.keys = append(k.keys, ki)
	return []KeyInfo{ki}, nil
}

func (k *fakeKeys) List(context.Context) ([]KeyInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]KeyInfo(nil), k.keys...), nil
}

func TestKeys(t *testing.T) {
	t.Run("without a key manager the endpoints answer 501", func(t *testing.T) {
		h := newHarness(t)
		tok := h.token(t)
		h.do(t, "POST", "/admin/v1/keys/rotate", tok, "").expectError(t, 501, "not_implemented")
		h.do(t, "GET", "/admin/v1/keys", tok, "").expectError(t, 501, "not_implemented")
	})
	t.Run("rotate answers 201 with the new keys, list shows them", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.Keys = &fakeKeys{} })
		tok := h.token(t)
		a := h.do(t, "POST", "/admin/v1/keys/rotate", tok, "")
		if a.status != 201 {
			t.Fatalf("status %d: %s", a.status, a.body)
		}
		const want = `{"id":"k0","algorithm":"RS256","status":"next","created_at":"2026-01-01T00:00:00Z","not_before":"2026-01-01T01:00:00Z"}`
		if got := strings.TrimSpace(string(a.body)); got != `{"keys":[`+want+`]}` {
			t.Errorf("body\n%s\nwant\n%s", got, want)
		}
		h.do(t, "POST", "/admin/v1/keys/rotate?alg=HS256", tok, "").expectError(t, 400, "invalid_request")
		a = h.do(t, "GET", "/admin/v1/keys", tok, "")
		if got := strings.TrimSpace(string(a.body)); got != `{"keys":[`+want+`]}` {
			t.Errorf("list %s", got)
		}
	})
}

func TestMetrics(t *testing.T) {
	t.Run("not mounted without a handler", func(t *testing.T) {
		h := newHarness(t)
		if a := h.do(t, "GET", "/metrics", "", ""); a.status != 404 {
			t.Fatalf("status %d, want 404", a.status)
		}
	})
	t.Run("mounted and unauthenticated with one", func(t *testing.T) {
		h := newHarness(t, func(c *Config) {
			c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "up 1\n") })
		})
		if a := h.do(t, "GET", "/metrics", "", ""); a.status != 200 || string(a.body) != "up 1\n" {
			t.Fatalf("got %d %q", a.status, a.body)
		}
	})
}

func TestTokenStoreAdapter(t *testing.T) {
	st := memory.New()
	c := &clock{now: time.Date(2026, 5, 5, 5, 5, 5, 0, time.UTC)}
	ts := &tokenStore{store: st, now: c.Now}
	ctx := context.Background()
	ti := newTokenInfo("tok-1", "admin", time.Minute)
	if err := ts.Create(ctx, ti); err != nil {
		t.Fatal(err)
	}
	got, err := ts.GetByAccess(ctx, "tok-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetClientID() != "admin" || got.GetAccessExpiresIn() != time.Minute {
		t.Errorf("read back %+v", got)
	}
	if err := ts.RemoveByAccess(ctx, "tok-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.GetByAccess(ctx, "tok-1"); err == nil {
		t.Error("a removed token is still found")
	}
	withRefresh := newTokenInfo("tok-2", "admin", time.Minute)
	withRefresh.SetRefresh("refresh")
	if err := ts.Create(ctx, withRefresh); err == nil {
		t.Error("the adapter stored a refresh token it cannot keep by hash")
	}
	if _, err := ts.GetByRefresh(ctx, "refresh"); err == nil {
		t.Error("GetByRefresh succeeded")
	}
}

func newTokenInfo(access, clientID string, ttl time.Duration) gooauth2.TokenInfo {
	ti := models.NewToken()
	ti.SetAccess(access)
	ti.SetClientID(clientID)
	ti.SetAccessExpiresIn(ttl)
	return ti
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsNeverHoldSecrets(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	tok := h.token(t)
	a := h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"rp1","name":"RP"}`)
	first, _ := a.json(t)["client_secret"].(string)
	a = h.do(t, "POST", "/admin/v1/clients/rp1/secret", tok, "")
	second, _ := a.json(t)["client_secret"].(string)
	const pw = "users-password-123"
	h.do(t, "POST", "/admin/v1/users", tok, `{"username":"u","password":"`+pw+`"}`)
	h.postForm(t, "grant_type=client_credentials&client_id=admin&client_secret=wrong-secret-xyz", false)

	out := logs.String()
	if !strings.Contains(out, "client secret rotated") || !strings.Contains(out, "user created") {
		t.Fatalf("the admin actions were not logged:\n%s", out)
	}
	for name, secret := range map[string]string{
		"admin token": tok, "client secret": first, "rotated secret": second,
		"password": pw, "admin secret": adminSecret, "wrong secret": "wrong-secret-xyz",
	} {
		if secret == "" || strings.Contains(out, secret) {
			t.Errorf("the log holds the %s (%q):\n%s", name, secret, out)
		}
	}
}

// A refused admin credential is a security event: WARN, event
// admin_auth_failed, why and from where; never the credential, and no
// client id other than the admin's (it may be a pasted secret).
func TestAdminAuthFailuresAreLogged(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	h.postForm(t, "grant_type=client_credentials&client_id=admin&client_secret=wrong-secret-xyz", false)
	h.postForm(t, "grant_type=client_credentials&client_id=pasted-secret-abc&client_secret=x", false)
	h.do(t, "GET", "/admin/v1/clients", "not-a-valid-token-123", "")
	h.do(t, "GET", "/admin/v1/clients", "", "")
	h.do(t, "GET", "/admin/v1/clients", h.token(t), "") // succeeds: no event

	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		if m["event"] == "admin_auth_failed" {
			events = append(events, m)
		}
	}
	if len(events) != 4 {
		t.Fatalf("%d admin_auth_failed events, want 4:\n%s", len(events), logs.String())
	}
	for i, want := range []struct {
		reason string
		known  any
	}{
		{"bad client credentials", true},
		{"bad client credentials", false},
		{"invalid or expired bearer token", nil},
		{"missing bearer token", nil},
	} {
		e := events[i]
		if e["level"] != "WARN" || e["reason"] != want.reason || e["client_known"] != want.known || e["ip"] != "127.0.0.1" {
			t.Errorf("event %d: %v, want reason %q client_known %v", i, e, want.reason, want.known)
		}
	}
	for _, secret := range []string{"wrong-secret-xyz", "pasted-secret-abc", "not-a-valid-token-123", adminSecret} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}
