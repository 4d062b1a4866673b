package main

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// --db-statement-timeout (QRLOGIN_DB_STATEMENT_TIMEOUT) reaches the
// store: a statement blocked behind a lock past it fails as unavailable
// with SQLSTATE 57014, well before the 5 s default would have; a negative
// value leaves statements unbounded (only the caller's deadline ends one).
func TestDBStatementTimeoutReachesTheStore(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `LOCK TABLE qr_logins IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		value     string
		wait      time.Duration
		cancelled bool // by the statement timeout, else by the deadline
	}{
		{"200ms", 3 * time.Second, true},
		{"-1s", 500 * time.Millisecond, false},
	} {
		t.Run(tc.value, func(t *testing.T) {
			fs, c := serveFlagSet(io.Discard)
			env := map[string]string{"QRLOGIN_DB_STATEMENT_TIMEOUT": tc.value}
			if err := parseFlags(fs, nil, func(k string) string { return env[k] }); err != nil {
				t.Fatal(err)
			}
			s, err := openPostgres(ctx, db, base64.StdEncoding.EncodeToString(pgtest.KeyEncryptionKey), c.dbStatementTimeout,
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			wait, cancel := context.WithTimeout(ctx, tc.wait)
			defer cancel()
			_, err = s.QRLogin(wait, "x")
			if !errors.Is(err, storage.ErrUnavailable) || strings.Contains(err.Error(), "57014") != tc.cancelled {
				t.Fatalf("got %v, want ErrUnavailable, by the statement timeout (57014): %v", err, tc.cancelled)
			}
		})
	}
}
