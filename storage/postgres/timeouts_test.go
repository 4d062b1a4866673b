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

// Every connection of the pool carries a statement_timeout: the default,
// the Config's, or the URL's; a negative Config turns it off.
func TestStatementTimeoutIsSetOnEveryConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	for _, tc := range []struct {
		name    string
		url     string
		timeout time.Duration
		want    string
	}{
		{"the default", db, 0, "5s"},
		{"Config.StatementTimeout", db, 250 * time.Millisecond, "250ms"},
		{"the URL's statement_timeout", db + "&statement_timeout=1500", 0, "1500ms"},
		{"Config wins over the URL", db + "&statement_timeout=1500", 2 * time.Second, "2s"},
		{"negative: none", db, -1, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := postgres.Open(ctx, postgres.Config{URL: tc.url, KeyEncryptionKey: pgtest.KeyEncryptionKey, StatementTimeout: tc.timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got, err := s.Show(ctx, "statement_timeout"); err != nil || got != tc.want {
				t.Fatalf("statement_timeout = %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

// holdLock takes sql's lock on db from a connection of its own and keeps
// it until the returned function (also run when t ends) releases it.
func holdLock(t *testing.T, db, sql string, args ...any) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			_ = tx.Rollback(ctx)
			conn.Close(ctx)
		}
	}
	t.Cleanup(release)
	return release
}

// A statement blocked longer than the timeout (here behind a lock another
// session holds) is cancelled by the server and comes back unavailable,
// so its request can answer 503 instead of waiting for the lock.
func TestBlockedStatementIsUnavailableAfterTheTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, postgres.Config{URL: db, KeyEncryptionKey: pgtest.KeyEncryptionKey, StatementTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	holdLock(t, db, `LOCK TABLE qr_logins IN ACCESS EXCLUSIVE MODE`)
	// If the timeout did not hold, this would wait for the lock, which is
	// released only when the test ends: the deadline turns that into a
	// failure instead of a hang.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = s.QRLogin(ctx, "some-login")
	if !errors.Is(err, storage.ErrUnavailable) || ctx.Err() != nil {
		t.Fatalf("got %v (context: %v), want ErrUnavailable from the statement timeout", err, ctx.Err())
	}
	if !strings.Contains(err.Error(), "57014") {
		t.Fatalf("got %v, want SQLSTATE 57014 (statement timeout)", err)
	}
}

// Migrations are not bounded by the statement timeout: one that waits
// for another instance's migration lock longer than it still applies.
func TestMigrationIsNotBoundedByTheStatementTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewEmptyDatabase(t)
	s, err := postgres.Open(ctx, postgres.Config{URL: db, KeyEncryptionKey: pgtest.KeyEncryptionKey, StatementTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := holdLock(t, db, `SELECT pg_advisory_xact_lock($1)`, postgres.MigrationLock)
	time.AfterFunc(500*time.Millisecond, release)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrating behind another instance's lock: %v", err)
	}
}
