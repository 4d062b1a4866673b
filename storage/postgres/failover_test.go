package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/postgres"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// A URL that asks for a server that may not take writes is refused before
// any connection is made: qrlogin writes on nearly every request.
func TestTargetSessionAttrsThatCannotWriteAreRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, attrs := range []string{"read-only", "standby", "prefer-standby"} {
		url := "postgres://u@127.0.0.1:1,127.0.0.1:2/db?sslmode=disable&target_session_attrs=" + attrs
		_, err := postgres.Open(ctx, postgres.Config{URL: url, KeyEncryptionKey: pgtest.KeyEncryptionKey})
		if err == nil || !strings.Contains(err.Error(), "target_session_attrs") || errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Open with target_session_attrs=%s: %v, want a bad-URL error", attrs, err)
		}
		if _, err := postgres.MigrateURL(ctx, url); err == nil || !strings.Contains(err.Error(), "target_session_attrs") {
			t.Errorf("MigrateURL with target_session_attrs=%s: %v, want a bad-URL error", attrs, err)
		}
	}
}

// listenersOn counts the LISTEN connections on srv's database db.
func listenersOn(t *testing.T, srv *pgtest.Server, db string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`,
		db, postgres.ListenAppName).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// hasLogin reports whether the QR login's row is on srv's database db.
func hasLogin(t *testing.T, srv *pgtest.Server, db string, l *storage.QRLogin) bool {
	t.Helper()
	ok, err := loginOn(srv, db, l)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func loginOn(srv *pgtest.Server, db string, l *storage.QRLogin) (bool, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.URL(db))
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM qr_logins WHERE id = $1`, l.ID).Scan(&n)
	return n == 1, err
}

// Failover on a real streaming replica (two servers of the test's own,
// PostgreSQL's binaries, synchronous replication):
//
//  1. the URL lists the standby first and says nothing of
//     target_session_attrs: the store still connects to the primary only
//     (libpq's default, any, would take the standby, and every write would
//     fail);
//  2. the standby is promoted and the old primary is fenced in place
//     (default_transaction_read_only, not stopped, so the store's
//     connections to it stay open): the first write meets the read-only
//     server and answers ErrUnavailable, nothing is written there, and
//     the store moves by itself — writes land on the new primary and the
//     LISTEN connection re-subscribes there, so a change committed on the
//     new primary wakes a subscriber.
func TestWritesFollowTheServerThatAcceptsThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	primary := pgtest.StartServer(t, "primary")
	standby := primary.StartStandby(t, "standby")
	primary.RequireSyncStandby(t)
	const db = "qrlogin"
	primary.CreateDatabase(t, db)

	url := pgtest.HostsURL(db, standby, primary)
	if _, err := postgres.MigrateURL(ctx, url); err != nil {
		t.Fatalf("migrate through a URL listing the standby first: %v", err)
	}
	s := pgtest.OpenStore(t, url)
	before := newLogin(t0, "BEFOREFO")
	mustCreate(t, s, before)
	// Synchronous commit waits for the standby's flush, not its replay.
	waitFor(t, "the standby to replay a commit", func() bool {
		ok, _ := loginOn(standby, db, before)
		return ok
	})
	if n, m := listenersOn(t, primary, db), listenersOn(t, standby, db); n != 1 || m != 0 {
		t.Fatalf("LISTEN connections: %d on the primary, %d on the standby; want 1 and 0", n, m)
	}

	standby.Promote(t)
	fence, err := pgx.Connect(ctx, primary.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer fence.Close(ctx)
	for _, q := range []string{`ALTER SYSTEM SET default_transaction_read_only = on`, `SELECT pg_reload_conf()`} {
		if _, err := fence.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the old primary to turn read-only", func() bool {
		c, err := pgx.Connect(ctx, primary.URL(db))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var ro string
		_ = c.QueryRow(ctx, `SHOW default_transaction_read_only`).Scan(&ro)
		return ro == "on"
	})

	refused := newLogin(t0, "REFUSEDW")
	if err := s.CreateQRLogin(ctx, refused); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("a write meeting the fenced old primary: %v, want ErrUnavailable", err)
	}
	if hasLogin(t, primary, db, refused) || hasLogin(t, standby, db, refused) {
		t.Fatal("the refused write was applied")
	}
	// The store moves by itself; each try is a request a client retried.
	after := newLogin(t0, "AFTERFOV")
	var tries int
	waitFor(t, "a write to succeed on the new primary", func() bool {
		tries++
		err := s.CreateQRLogin(ctx, after)
		if err != nil && !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("write after the failover: %v", err)
		}
		return err == nil
	})
	t.Logf("writes refused before the store moved: %d", tries)
	if !hasLogin(t, standby, db, after) || hasLogin(t, primary, db, after) {
		t.Fatal("the write did not land on the new primary alone")
	}
	waitFor(t, "the LISTEN connection to move", func() bool {
		return listenersOn(t, standby, db) == 1 && listenersOn(t, primary, db) == 0
	})

	ch := subscribe(t, s, after.ID)
	other := pgtest.OpenStore(t, standby.URL(db))
	if _, err := other.ApplyQR(ctx, scan(after.ID, "alice", "t1", t0)); err != nil {
		t.Fatal(err)
	}
	waitChange(t, ch, storage.QRChange{ID: after.ID, Status: storage.StatusScanned}, "a scan committed on the new primary")
}

// waitFor polls cond until it holds; the bound only keeps a broken run
// from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
