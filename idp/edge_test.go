package idp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/idp/admin"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

// eachServer runs f against a server on each store (eachStore).
func eachServer(t *testing.T, f func(t *testing.T, s *testServer)) {
	eachStore(t, func(t *testing.T, store storage.Store) { f(t, newServerOn(t, store)) })
}

// rawAnswer is one raw HTTP answer.
type rawAnswer struct {
	status int
	header http.Header
	body   string
}

func sendRaw(t *testing.T, req *http.Request) rawAnswer {
	t.Helper()
	resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawAnswer{resp.StatusCode, resp.Header, string(b)}
}

// leaksStore reports whether an answer shows anything of the database.
func leaksStore(body string) bool {
	b := strings.ToLower(body)
	for _, w := range []string{"postgres", "sqlstate", "pgx", "pgconn", "invalid byte sequence", "storage:", "dial tcp", "127.0.0.1:5432", "error:"} {
		if strings.Contains(b, w) {
			return true
		}
	}
	return false
}

// Issue 8, finding 6: inputs that reached PostgreSQL as they came and
// turned into a 500, a database error text, or both.
func TestFinding6BadBytesNeverReachTheStore(t *testing.T) {
	eachServer(t, func(t *testing.T, s *testServer) {
		get := func(path string) *http.Request {
			req, _ := http.NewRequest("GET", s.URL+path, nil)
			return req
		}
		badUA, _ := http.NewRequest("POST", s.URL+"/qr/authorize", strings.NewReader(url.Values{"scope": {"openid"}}.Encode()))
		badUA.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		badUA.Header.Set("User-Agent", "Mozilla/5.0 \xff\xfe")
		badUA.SetBasicAuth(rpID, rpSecret)
		for _, tc := range []struct {
			name string
			req  *http.Request
			html bool
		}{
			{"GET /end_session?client_id=%00", get("/end_session?client_id=%00"), true},
			{"GET /authorize?client_id=%00", get("/authorize?client_id=%00&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&response_type=code&scope=openid"), true},
			{"GET /authorize/callback?id=%ff", get("/authorize/callback?id=%ff"), true},
			{"a User-Agent with invalid UTF-8 at /qr/authorize", badUA, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := sendRaw(t, tc.req)
				wantBadInput(t, a, tc.html)
			})
		}
	})
}

// wantBadInput checks the edge's answer to a malformed input: 400 in the
// endpoint's own format, saying what is wrong and nothing of the store.
func wantBadInput(t *testing.T, a rawAnswer, html bool) {
	t.Helper()
	if a.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %.300s", a.status, a.body)
	}
	if leaksStore(a.body) {
		t.Fatalf("the answer shows the database: %.300s", a.body)
	}
	ct := a.header.Get("Content-Type")
	if html {
		if !strings.HasPrefix(ct, "text/html") {
			t.Fatalf("Content-Type %q, want an HTML page: %.300s", ct, a.body)
		}
	} else if !strings.HasPrefix(ct, "application/json") || !strings.Contains(a.body, `"invalid_request"`) {
		t.Fatalf("want a JSON invalid_request, got %q: %.300s", ct, a.body)
	}
	if !strings.Contains(a.body, "UTF-8") && !strings.Contains(a.body, "too long") {
		t.Fatalf("the answer does not say what is wrong: %.300s", a.body)
	}
}

// A bad value in any place a route reads: every route, every parameter,
// path segment, header and JSON field that could reach the store, with a
// NUL, invalid UTF-8 and one byte over its cap. Each is a 400 in the
// route's own format (a page for browser routes, OAuth JSON otherwise)
// that names the culprit, on both stores, before anything is read: no
// CSRF token, client secret or bearer token is sent, and the rawAnswer is
// still the edge's.
func TestEveryRouteRefusesBadInput(t *testing.T) {
	type route struct {
		method, path string   // "{}" in path is a path segment under test
		params       []string // query (GET) or form (POST) parameters
		json         []string // JSON body fields
		html         bool
	}
	routes := []route{
		{"POST", "/oauth/token", []string{"grant_type", "client_id", "client_secret", "device_code", "code", "refresh_token", "code_verifier", "redirect_uri", "wait"}, nil, false},
		{"GET", "/authorize", []string{"client_id", "redirect_uri", "state", "nonce", "scope", "login_hint", "id_token_hint", "code_challenge", "prompt"}, nil, true},
		{"POST", "/authorize", []string{"client_id", "redirect_uri", "state", "nonce"}, nil, true},
		{"GET", "/authorize/callback", []string{"id"}, nil, true},
		{"POST", "/qr/authorize", []string{"client_id", "client_secret", "scope", "nonce", "requester_ip", "requester_user_agent"}, nil, false},
		{"POST", "/qr/scan", nil, []string{"qr"}, false},
		{"POST", "/qr/confirm", nil, []string{"ticket"}, false},
		{"POST", "/qr/deny", nil, []string{"ticket"}, false},
		{"GET", "/account/notifications", nil, nil, false},
		{"POST", "/account/notifications/{}/revoke", nil, nil, false},
		{"POST", "/account/password", nil, []string{"current_password", "new_password"}, false},
		{"GET", "/login", []string{"id", "return", "new"}, nil, true},
		{"POST", "/login", []string{"id", "csrf", "username", "password", "return"}, nil, true},
		{"GET", "/login/status", []string{"id", "since"}, nil, false},
		{"POST", "/login/qr", []string{"id"}, nil, false},
		{"GET", "/device", nil, nil, true},
		{"POST", "/device", []string{"user_code", "csrf"}, nil, true},
		{"GET", "/q/{}", nil, nil, true},
		{"POST", "/q/decide", []string{"ticket", "csrf", "action"}, nil, true},
		{"GET", "/userinfo", []string{"access_token"}, nil, false},
		{"POST", "/userinfo", []string{"access_token"}, nil, false},
		{"POST", "/oauth/introspect", []string{"token", "client_id"}, nil, false},
		{"POST", "/revoke", []string{"token", "client_id", "token_type_hint"}, nil, false},
		{"GET", "/end_session", []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"}, nil, true},
		{"POST", "/end_session/confirm", []string{"csrf", "client_id", "post_logout_redirect_uri", "state", "action"}, nil, true},
		{"GET", "/keys", nil, nil, false},
		{"GET", "/ready", nil, nil, false},
		{"GET", "/.well-known/openid-configuration", nil, nil, false},
	}
	// What a stranger sends: the name is what the rawAnswer must mention.
	type bad struct{ kind, value string }
	bads := func(limit int) []bad {
		return []bad{{"NUL", "a\x00b"}, {"invalid UTF-8", "a\xffb"}, {"over-long", strings.Repeat("a", limit+1)}}
	}
	eachServer(t, func(t *testing.T, s *testServer) {
		build := func(rt route, path string, q url.Values, body string, ctype string) *http.Request {
			target := s.URL + path
			if rt.method == "GET" && len(q) > 0 {
				target += "?" + q.Encode()
			}
			if rt.method == "POST" && body == "" && q != nil {
				body, ctype = q.Encode(), "application/x-www-form-urlencoded"
			}
			req, err := http.NewRequest(rt.method, target, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			return req
		}
		check := func(t *testing.T, rt route, culprit string, req *http.Request) {
			t.Helper()
			a := sendRaw(t, req)
			wantBadInput(t, a, rt.html)
			if !strings.Contains(a.body, culprit) {
				t.Fatalf("the rawAnswer does not name %s: %.300s", culprit, a.body)
			}
		}
		for _, rt := range routes {
			plain := strings.ReplaceAll(rt.path, "{}", "x")
			for _, p := range rt.params {
				for _, b := range bads(idp.ParamCap(p)) {
					t.Run(rt.method+" "+rt.path+" "+p+" "+b.kind, func(t *testing.T) {
						check(t, rt, p, build(rt, plain, url.Values{p: {b.value}}, "", ""))
					})
				}
			}
			for _, f := range rt.json {
				for _, b := range bads(0)[:2] {
					t.Run(rt.method+" "+rt.path+" JSON "+f+" "+b.kind, func(t *testing.T) {
						// JSON carries a NUL as the escape \u0000.
						v := strings.ReplaceAll(b.value, "\x00", `\u0000`)
						check(t, rt, "body", build(rt, plain, nil, `{"`+f+`":"`+v+`"}`, "application/json"))
					})
				}
			}
			if strings.Contains(rt.path, "{}") {
				for _, b := range bads(256) {
					t.Run(rt.method+" "+rt.path+" path "+b.kind, func(t *testing.T) {
						seg := url.PathEscape(b.value)
						check(t, rt, "path", build(rt, strings.ReplaceAll(rt.path, "{}", seg), nil, "", ""))
					})
				}
			}
			// Go's server itself refuses a NUL in a header; the rest is ours.
			for _, h := range []struct{ name, prefix string }{{"User-Agent", "Mozilla/5.0 "}, {"Authorization", "Bearer "}, {"X-CSRF-Token", ""}} {
				limit := map[string]int{"User-Agent": 1024, "Authorization": 8192, "X-CSRF-Token": 128}[h.name]
				for _, b := range bads(limit)[1:] {
					t.Run(rt.method+" "+rt.path+" header "+h.name+" "+b.kind, func(t *testing.T) {
						req := build(rt, plain, nil, "", "")
						req.Header.Set(h.name, h.prefix+b.value)
						check(t, rt, h.name, req)
					})
				}
			}
			t.Run(rt.method+" "+rt.path+" Basic client_id NUL", func(t *testing.T) {
				req := build(rt, plain, nil, "", "")
				req.SetBasicAuth("rp%00", "secret")
				check(t, rt, "client_id", req)
			})
		}
	})
}

// failingStore is the memory store, except that while fail is set the
// reads every endpoint begins with fail as a database would with an error
// that is no outage (a bug, a broken schema): text that must never reach
// a client.
type failingStore struct {
	storage.Store
	fail *atomic.Bool
}

const dbText = `ERROR: relation "clients" does not exist (SQLSTATE 42P01) user=qrlogin host=db.internal port=5432`

func (f failingStore) err() error { return fmt.Errorf("postgres: client: %s", dbText) }

func (f failingStore) Client(ctx context.Context, id string) (*storage.Client, error) {
	if f.fail.Load() {
		return nil, f.err()
	}
	return f.Store.Client(ctx, id)
}

func (f failingStore) AccessToken(ctx context.Context, id string, now time.Time) (*storage.AccessToken, error) {
	if f.fail.Load() {
		return nil, f.err()
	}
	return f.Store.AccessToken(ctx, id, now)
}

func (f failingStore) AuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error) {
	if f.fail.Load() {
		return nil, f.err()
	}
	return f.Store.AuthRequest(ctx, id, now)
}

func (f failingStore) RefreshTokenByHash(ctx context.Context, hash []byte) (*storage.RefreshToken, error) {
	if f.fail.Load() {
		return nil, f.err()
	}
	return f.Store.RefreshTokenByHash(ctx, hash)
}

// safeBuffer is a log sink safe for the server's goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *safeBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// A store failure that is not an outage is a 500 whose body says nothing
// of the database — not a 401 (the client's secret or token is not at
// fault), not a 403, not "inactive", not zitadel's text — and its cause is
// logged on a line with the request id the client was given.
func TestStoreFailuresAre500WithoutTheirText(t *testing.T) {
	var fail atomic.Bool
	var logs safeBuffer
	s := newServerOn(t, failingStore{memory.New(), &fail}, func(c *idp.Config) {
		c.ClientCacheTTL = -1
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	phone := s.phoneToken(t, "alice")
	tok := s.codeFlowToken(t, rpID, rpSecret, "https://shop.example/cb", "alice", []string{"openid", "offline_access"})
	form := func(path string, v url.Values) *http.Request {
		req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(rpID, rpSecret)
		return req
	}
	bearer := func(method, path, token, body string) *http.Request {
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		return req
	}
	get := func(path string) *http.Request { req, _ := http.NewRequest("GET", s.URL+path, nil); return req }
	fail.Store(true)
	for _, tc := range []struct {
		name string
		req  *http.Request
		html bool
	}{
		{"POST /qr/authorize", form("/qr/authorize", url.Values{"scope": {"openid"}}), false},
		{"POST /oauth/token, QR grant", form("/oauth/token", url.Values{"grant_type": {idp.GrantQR}, "device_code": {"x"}}), false},
		{"POST /oauth/token, refresh_token grant", form("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}), false},
		{"POST /qr/scan", bearer("POST", "/qr/scan", phone, `{"qr":"x"}`), false},
		{"GET /userinfo", bearer("GET", "/userinfo", tok.AccessToken, ""), false},
		{"POST /revoke", form("/revoke", url.Values{"token": {tok.RefreshToken}}), false},
		{"GET /authorize", get("/authorize?client_id=" + rpID + "&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&response_type=code&scope=openid"), true},
		{"GET /authorize/callback", get("/authorize/callback?id=abc"), true},
		{"GET /login?id=", get("/login?id=abc"), true},
		{"GET /end_session?client_id=", get("/end_session?client_id=" + rpID), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := sendRaw(t, tc.req)
			if a.status != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500: %.300s", a.status, a.body)
			}
			if leaksStore(a.body) || strings.Contains(a.body, "relation") || strings.Contains(a.body, "db.internal") {
				t.Fatalf("the answer shows the database: %.300s", a.body)
			}
			if ct := a.header.Get("Content-Type"); tc.html != strings.HasPrefix(ct, "text/html") {
				t.Fatalf("Content-Type %q", ct)
			}
			id := a.header.Get("X-Request-Id")
			var line string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "request_id="+id) && strings.Contains(l, "relation") {
					line = l
				}
			}
			if id == "" || line == "" {
				t.Fatalf("no log line with request_id=%s and the cause:\n%s", id, logs.String())
			}
			// A page quotes the id, for the person to give the operator.
			if tc.html && !strings.Contains(a.body, `<code id="error-reference">`+id+`</code>`) {
				t.Fatalf("the page does not quote the request id %s: %.600s", id, a.body)
			}
		})
	}
}

func (f failingStore) ListClients(ctx context.Context) ([]*storage.Client, error) {
	if f.fail.Load() {
		return nil, f.err()
	}
	return f.Store.ListClients(ctx)
}

func (f failingStore) CreateAdminToken(ctx context.Context, t *storage.AdminToken) error {
	if f.fail.Load() {
		return f.err()
	}
	return f.Store.CreateAdminToken(ctx, t)
}

// The admin listener as serve wires it (idp.RequestIDs around it, its
// logger from idp.LogWithRequestIDs): a store failure that is no outage is
// a 500 without its text, on the API and on its token endpoint, and the
// cause is logged under the request id the answer carries.
func TestAdminStoreFailuresAreLoggedWithTheRequestID(t *testing.T) {
	var fail atomic.Bool
	var logs safeBuffer
	const secret = "admin-secret-0123456789"
	h, err := admin.New(admin.Config{Store: failingStore{memory.New(), &fail}, AdminClientID: "admin",
		AdminSecretHash: storage.Hash(secret), Logger: idp.LogWithRequestIDs(slog.New(slog.NewTextHandler(&logs, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(idp.RequestIDs(h))
	t.Cleanup(srv.Close)
	token := func() *http.Request {
		req, _ := http.NewRequest("POST", srv.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("admin", secret)
		return req
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if a := sendRaw(t, token()); a.status != 200 || json.Unmarshal([]byte(a.body), &tok) != nil {
		t.Fatalf("admin token: %d %s", a.status, a.body)
	}
	list, _ := http.NewRequest("GET", srv.URL+"/admin/v1/clients", nil)
	list.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	fail.Store(true)
	for name, req := range map[string]*http.Request{"GET /admin/v1/clients": list, "POST /oauth/token": token()} {
		t.Run(name, func(t *testing.T) {
			a := sendRaw(t, req)
			if a.status != http.StatusInternalServerError || strings.Contains(a.body, "relation") {
				t.Fatalf("%d %s", a.status, a.body)
			}
			id := a.header.Get("X-Request-Id")
			found := false
			for _, l := range strings.Split(logs.String(), "\n") {
				found = found || id != "" && strings.Contains(l, "request_id="+id) && strings.Contains(l, "relation")
			}
			if !found {
				t.Fatalf("no log line with request_id=%s and the cause:\n%s", id, logs.String())
			}
		})
	}
}
