package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	sqlfiles "github.com/qrlogin/qrlogin/sql"
)

// migrationLock is the pg_advisory_xact_lock key every migration
// transaction takes first: the ASCII bytes "QrloginM". Advisory lock keys
// are database-wide, so the key only has to differ from other applications'
// keys on the same database.
const migrationLock int64 = 0x5172_6c6f_6769_6e4d // "QrloginM"

var migrationName = regexp.MustCompile(`^[0-9]{4}_[a-z0-9_]+\.sql$`)

type migration struct {
	name string
	body string
	sum  string // hex SHA-256 of body
}

// migrations lists the embedded files in the order they apply.
func migrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]migration, 0, len(names))
	for _, n := range names {
		if !migrationName.MatchString(n) {
			return nil, fmt.Errorf("postgres: migration %q: name must be NNNN_name.sql", n)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, migration{name: n, body: string(b), sum: hex.EncodeToString(sum[:])})
	}
	return out, nil
}

// Migrate applies the embedded migrations (package sql) that the database
// has not seen yet, in order, and returns the names it applied.
//
// Each file runs in its own transaction, which first takes a
// transaction-scoped advisory lock, so any number of instances may migrate
// one database at once: they queue on the lock, and each file is applied
// exactly once. The schema_migrations table is created under the same lock
// (two sessions racing on CREATE TABLE IF NOT EXISTS can both decide to
// create it, and one then fails on the catalog's unique index). A file
// recorded with a different checksum than the embedded one is an error:
// released migrations must never change.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	return migrate(ctx, pool, sqlfiles.FS)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) ([]string, error) {
	ms, err := migrations(fsys)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range ms {
		did := false
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			// A migration may rewrite a large table, and waits for the
			// lock while another instance migrates: the connections'
			// statement_timeout (DefaultStatementTimeout) is not for it.
			if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				name       text        PRIMARY KEY,
				sha256     text        NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
				return err
			}
			var sum string
			err := tx.QueryRow(ctx, `SELECT sha256 FROM schema_migrations WHERE name = $1`, m.name).Scan(&sum)
			switch {
			case err == nil:
				if sum != m.sum {
					return fmt.Errorf("postgres: migration %s was applied with checksum %s but the embedded file has %s: released migrations must not change", m.name, sum, m.sum)
				}
				return nil
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			// No arguments: pgx sends the file with the simple protocol,
			// which allows several statements.
			if _, err := tx.Exec(ctx, m.body); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name, sha256) VALUES ($1, $2)`, m.name, m.sum); err != nil {
				return err
			}
			did = true
			return nil
		})
		if err != nil {
			return applied, mapErr("migrate", err)
		}
		if did {
			applied = append(applied, m.name)
		}
	}
	return applied, nil
}

// MigrateURL connects to url, applies pending migrations and disconnects;
// it serves the migrate command, which has no key encryption key and needs
// no Store.
func MigrateURL(ctx context.Context, url string) ([]string, error) {
	pool, err := newPool(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return Migrate(ctx, pool)
}
