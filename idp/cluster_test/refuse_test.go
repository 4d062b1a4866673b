package clustertest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/idp/admin"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// refuseConnections makes PostgreSQL refuse every new connection to the
// database of dbURL (ALTER DATABASE … ALLOW_CONNECTIONS false: SQLSTATE
// 55000 at connect) and ends the sessions it has (pg_terminate_backend:
// 57P01 on their next use). It returns the function that lets connections
// in again, also run when t ends, before pgtest takes the database back.
func refuseConnections(t *testing.T, dbURL string) (restore func()) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	exec := func(sql string) {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Errorf("%s: %v", sql, err)
		}
	}
	ident := pgx.Identifier{name}.Sanitize()
	exec("ALTER DATABASE " + ident + " ALLOW_CONNECTIONS false")
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name); err != nil {
		t.Fatal(err)
	}
	done := false
	restore = func() {
		if done {
			return
		}
		done = true
		exec("ALTER DATABASE " + ident + " ALLOW_CONNECTIONS true")
		conn.Close(ctx)
	}
	t.Cleanup(restore)
	return restore
}

// noDatabaseText fails t if an answer shows anything of the database: its
// name, user, host, port or PostgreSQL's own words.
func noDatabaseText(t *testing.T, r reply, dbURL string) {
	t.Helper()
	u, _ := url.Parse(dbURL)
	body := strings.ToLower(string(r.body))
	for _, w := range []string{strings.TrimPrefix(u.Path, "/"), "user=", "database=", u.Host, u.Port(), "127.0.0.1",
		"sqlstate", "postgres", "failed to connect", "not currently accepting", "pgx", "storage:"} {
		if w != "" && strings.Contains(body, strings.ToLower(w)) {
			t.Errorf("the answer shows %q: %s", w, r.body)
		}
	}
}

// Issue 8, finding 6: a database that refuses connections (ALLOW_CONNECTIONS
// false, SQLSTATE 55000) was 401 invalid_client at /qr/authorize and the
// token endpoint — a relying party would think its secret wrong — 401 at
// /qr/scan, and a 500 page at /authorize showing the database's user, name,
// host and port. Every endpoint that needs the store answers 503 with
// Retry-After and says nothing of the database; when connections are let
// in again, the instance serves by itself.
func TestDatabaseRefusingConnectionsIs503(t *testing.T) {
	t.Parallel()
	// No client cache: every request looks its client up, as a request for
	// a client this instance has not seen recently does.
	c := newCluster(t, func(cfg *idp.Config) { cfg.ClientCacheTTL = -1 })
	a := c.start("A")
	ctx := context.Background()
	phone := phoneToken(t, everyStepAt(a))
	earlier := loginByQR(t, a, a, phone)
	pending := qrStart(t, a)

	// The admin listener, on its own pool, with a token from before.
	adminStore := pgtest.OpenStore(t, c.dbURL)
	const adminID, adminSecret = "admin", "admin-secret-for-the-refusal-test"
	adminHandler, err := admin.New(admin.Config{Store: adminStore, AdminClientID: adminID,
		AdminSecretHash: storage.Hash(adminSecret), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	adminSrv := httptest.NewServer(adminHandler)
	t.Cleanup(adminSrv.Close)
	adminTok := tokensOf(t, "admin token", must(t)(postForm(ctx, adminSrv.URL+"/oauth/token", adminID, adminSecret,
		url.Values{"grant_type": {"client_credentials"}})))

	authorizeURL := a.url + "/authorize?" + url.Values{"client_id": {rpID}, "redirect_uri": {rpRedirect},
		"response_type": {"code"}, "scope": {"openid"}, "state": {"s"}, "nonce": {"n"}}.Encode()
	restore := refuseConnections(t, c.dbURL)
	for _, tc := range []struct {
		name string
		do   func() (reply, error)
	}{
		{"POST /qr/authorize", func() (reply, error) {
			return postForm(ctx, a.url+"/qr/authorize", rpID, rpSecret, url.Values{"scope": {"openid"}})
		}},
		{"POST /oauth/token, QR grant", func() (reply, error) { return poll(ctx, a, pending, "") }},
		{"POST /oauth/token, refresh_token grant", func() (reply, error) {
			return postForm(ctx, a.url+"/oauth/token", rpID, rpSecret,
				url.Values{"grant_type": {"refresh_token"}, "refresh_token": {earlier.RefreshToken}})
		}},
		{"POST /oauth/token, authorization_code grant", func() (reply, error) {
			return postForm(ctx, a.url+"/oauth/token", rpID, rpSecret,
				url.Values{"grant_type": {"authorization_code"}, "code": {"some-code"}, "redirect_uri": {rpRedirect}})
		}},
		{"POST /qr/scan", func() (reply, error) {
			return postJSON(ctx, a.url+"/qr/scan", phone, map[string]string{"qr": pending.QR})
		}},
		{"GET /authorize (a page)", func() (reply, error) { return get(ctx, authorizeURL, "") }},
		{"GET /login?id=… (a page)", func() (reply, error) { return get(ctx, a.url+"/login?id=abcdefghijklmnopqrstuv", "") }},
		{"GET /authorize/callback (a page)", func() (reply, error) {
			return get(ctx, a.url+"/authorize/callback?id=abcdefghijklmnopqrstuv", "")
		}},
		{"GET /userinfo", func() (reply, error) { return get(ctx, a.url+"/userinfo", earlier.AccessToken) }},
		{"POST /oauth/introspect", func() (reply, error) {
			return postForm(ctx, a.url+"/oauth/introspect", rpID, rpSecret, url.Values{"token": {earlier.AccessToken}})
		}},
		{"POST /revoke", func() (reply, error) {
			return postForm(ctx, a.url+"/revoke", rpID, rpSecret, url.Values{"token": {earlier.AccessToken}})
		}},
		{"GET /account/notifications", func() (reply, error) { return get(ctx, a.url+"/account/notifications", phone) }},
		{"GET /ready", func() (reply, error) { return get(ctx, a.url+"/ready", "") }},
		{"admin GET /admin/v1/clients", func() (reply, error) { return get(ctx, adminSrv.URL+"/admin/v1/clients", adminTok.AccessToken) }},
		{"admin POST /oauth/token", func() (reply, error) {
			return postForm(ctx, adminSrv.URL+"/oauth/token", adminID, adminSecret, url.Values{"grant_type": {"client_credentials"}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.do()
			if err != nil {
				t.Fatal(err)
			}
			if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
				t.Errorf("got %d (Retry-After %q), want 503 with Retry-After: %.400s", r.status, r.header.Get("Retry-After"), r.body)
			}
			if strings.HasPrefix(r.header.Get("Content-Type"), "application/json") && r.json()["error"] != "temporarily_unavailable" {
				t.Errorf("error %v, want temporarily_unavailable", r.json()["error"])
			}
			noDatabaseText(t, r, c.dbURL)
		})
	}

	restore()
	waitReady(t, a, time.Now())
	confirm(t, a, phone, scan(t, a, phone, pending))
	tokensOf(t, "the pending login, redeemed once the database lets connections in", must(t)(poll(ctx, a, pending, "")))
	if r := must(t)(get(ctx, adminSrv.URL+"/admin/v1/clients", adminTok.AccessToken)); r.status != http.StatusOK {
		t.Fatalf("admin API after the outage: %v", r)
	}
}

// A statement blocked longer than statement_timeout — here behind a lock
// another session holds on qr_logins — is cancelled by PostgreSQL, and the
// request answers 503 with Retry-After instead of waiting for the lock
// (which this test releases only at its end: a request that waited for it
// would run into the client's deadline and fail the test).
func TestStatementBlockedBehindALockAnswers503(t *testing.T) {
	t.Parallel()
	c := newCluster(t, nil)
	a := c.startOn("A", c.dbURL+"&statement_timeout=250")
	pending := qrStart(t, a)
	// A pending poll needs no statement (the instance answers it from its
	// view of the login): the poll that reaches the table is the redeem.
	phone := phoneToken(t, everyStepAt(a))
	confirmed := qrStart(t, a)
	confirm(t, a, phone, scan(t, a, phone, confirmed))

	conn, err := pgx.Connect(context.Background(), c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), `LOCK TABLE qr_logins IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		do   func() (reply, error)
	}{
		{"POST /qr/authorize", func() (reply, error) {
			return postForm(ctx, a.url+"/qr/authorize", rpID, rpSecret, url.Values{"scope": {"openid"}})
		}},
		{"POST /oauth/token, QR grant (the redeem)", func() (reply, error) { return poll(ctx, a, confirmed, "") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.do()
			if err != nil {
				t.Fatalf("%v (the request waited for the lock)", err)
			}
			if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.json()["error"] != "temporarily_unavailable" {
				t.Fatalf("got %v (Retry-After %q), want 503 temporarily_unavailable with Retry-After", r, r.header.Get("Retry-After"))
			}
			noDatabaseText(t, r, c.dbURL)
		})
	}
	_ = tx.Rollback(context.Background())
	wantError(t, "a poll once the lock is gone", must(t)(poll(context.Background(), a, pending, "")), http.StatusBadRequest, "authorization_pending")
	tokensOf(t, "the redeem once the lock is gone", must(t)(poll(context.Background(), a, confirmed, "")))
}
