// Package pgtest gives tests a fresh, migrated PostgreSQL database each, so
// tests that use one can run in parallel.
//
// The server comes from QRLOGIN_TEST_DATABASE_URL, a URL whose user may
// create databases (postgres://qrlogin:qrlogin@127.0.0.1:5432/postgres?sslmode=disable).
// Without it, tests that ask for a database are skipped, unless the
// environment variable CI is set: then they fail, so a CI run can never
// pass by testing nothing.
//
// The first request in a test binary builds a template database holding
// the current migrations (named after their checksum, so it is reused
// across runs until a migration changes, and built under an advisory lock,
// so parallel test binaries do not race). Databases handed out are copies
// of it (CREATE DATABASE … TEMPLATE), emptied and reused by later tests of
// the same binary. Each binary holds an advisory lock per database it made
// for as long as it runs; the next binary drops those whose lock is free,
// so nothing piles up even when a run is killed.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	sqlfiles "github.com/qrlogin/qrlogin/sql"
	"github.com/qrlogin/qrlogin/storage/postgres"
)

// EnvURL names the environment variable holding the server's URL.
const EnvURL = "QRLOGIN_TEST_DATABASE_URL"

// KeyEncryptionKey is the fixed key OpenStore uses. Tests that open
// several stores on one database (two instances) must share a key.
var KeyEncryptionKey = []byte("qrlogin-test-key-encryption-key!")

// AdminURL returns the server URL from EnvURL, skipping t (or failing it
// under CI) when it is unset.
func AdminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set, and CI is: PostgreSQL tests must run in CI", EnvURL)
		}
		t.Skipf("%s is not set; skipping PostgreSQL test", EnvURL)
	}
	return u
}

// NewDatabase returns the URL of an empty database with every migration
// applied, for t alone. When t ends, every other session on it is
// terminated, its rows are deleted and it goes back to a per-process pool
// for the next test: copying a template costs about 300 ms on a small
// machine, emptying a database about 1 ms. Close whatever uses the database
// in a t.Cleanup registered after this call (cleanups run last-in,
// first-out), or it is cut off.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := setup(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name, err := e.take(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.give(ctx, name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	u, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// NewEmptyDatabase returns the URL of a database without any migration
// (for tests of migrating), dropped when t ends.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := setup(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name, err := e.create(ctx, "template0")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.drop(ctx, name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	u, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// OpenStore opens a Store on dbURL with KeyEncryptionKey and closes it when
// t ends.
func OpenStore(t testing.TB, dbURL string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, postgres.Config{URL: dbURL, KeyEncryptionKey: KeyEncryptionKey})
	if err != nil {
		t.Fatalf("pgtest: open store: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewStore is OpenStore on a NewDatabase.
func NewStore(t testing.TB) *postgres.Store {
	t.Helper()
	return OpenStore(t, NewDatabase(t))
}

// env is the per-process state: a pool on the admin database, the
// template's name, the databases waiting for their next test, and the
// connection holding this process's claim on each database it made.
type env struct {
	admin    string
	pool     *pgxpool.Pool
	template string

	mu   sync.Mutex
	idle []string
	// claims holds a session advisory lock per database this process
	// created. The session ends with the process, and with it the claims:
	// a database whose claim is free belongs to no running test binary and
	// is swept by the next one.
	claims *pgx.Conn
}

var (
	setupOnce sync.Once
	theEnv    *env
	setupErr  error
)

// Database names are prefix + 16 hex digits; the digits are the claim's
// advisory lock key.
const prefix = "qrlogin_test_"

func setup(ctx context.Context, admin string) (*env, error) {
	setupOnce.Do(func() {
		theEnv, setupErr = newEnv(ctx, admin)
	})
	return theEnv, setupErr
}

func newEnv(ctx context.Context, admin string) (*env, error) {
	if _, err := withDatabase(admin, "x"); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, admin)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", EnvURL, err)
	}
	claims, err := pgx.Connect(ctx, admin)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", EnvURL, err)
	}
	e := &env{admin: admin, pool: pool, claims: claims}
	if e.template, err = e.ensureTemplate(ctx); err != nil {
		return nil, err
	}
	if err := e.sweep(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// sweep drops the test databases of test binaries that are gone.
func (e *env) sweep(ctx context.Context) error {
	rows, err := e.pool.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'qrlogin\_test\_%'`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, name := range names {
		key, ok := claimKey(name)
		if !ok {
			continue
		}
		var free bool
		if err := e.claims.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&free); err != nil {
			return err
		}
		if !free {
			continue
		}
		_, err := e.pool.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
		if _, uerr := e.claims.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key); err == nil {
			err = uerr
		}
		if err != nil {
			return fmt.Errorf("drop stale database %s: %w", name, err)
		}
	}
	return nil
}

func claimKey(name string) (int64, bool) {
	digits, ok := strings.CutPrefix(name, prefix)
	if !ok || len(digits) != 16 {
		return 0, false
	}
	u, err := strconv.ParseUint(digits, 16, 64)
	return int64(u), err == nil
}

// take hands out an idle database or copies the template.
func (e *env) take(ctx context.Context) (string, error) {
	e.mu.Lock()
	if n := len(e.idle); n > 0 {
		name := e.idle[n-1]
		e.idle = e.idle[:n-1]
		e.mu.Unlock()
		return name, nil
	}
	e.mu.Unlock()
	return e.create(ctx, e.template)
}

// create claims a new name, then copies template to it.
func (e *env) create(ctx context.Context, template string) (string, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	key, _ := claimKey(name)
	e.mu.Lock()
	_, err := e.claims.Exec(ctx, `SELECT pg_advisory_lock($1)`, key)
	e.mu.Unlock()
	if err != nil {
		return "", err
	}
	// Identifiers cannot be parameters; both names are made here from hex
	// digits.
	if _, err := e.pool.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE `+template); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return name, nil
}

// give empties the database and puts it back for the next test; if it
// cannot be emptied it is dropped.
func (e *env) give(ctx context.Context, name string) error {
	if err := e.reset(ctx, name); err != nil {
		return e.drop(ctx, name)
	}
	e.mu.Lock()
	e.idle = append(e.idle, name)
	e.mu.Unlock()
	return nil
}

// reset terminates every session left on the database (a store a test
// forgot to close, its LISTEN connection) and deletes every row except the
// migration records. DELETE, not TRUNCATE: on these tiny tables it is a
// hundred times cheaper than creating new files.
func (e *env) reset(ctx context.Context, name string) error {
	if _, err := e.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, name); err != nil {
		return err
	}
	u, err := withDatabase(e.admin, name)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT quote_ident(tablename) FROM pg_tables
		WHERE schemaname = 'public' AND tablename <> 'schema_migrations' ORDER BY tablename`)
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("SET lock_timeout = '5s';")
	for _, t := range tables {
		b.WriteString("DELETE FROM " + t + ";")
	}
	// Several statements without arguments go as one simple-protocol
	// query, which PostgreSQL runs as one transaction.
	_, err = conn.Exec(ctx, b.String())
	return err
}

func (e *env) drop(ctx context.Context, name string) error {
	if _, err := e.pool.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	key, _ := claimKey(name)
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err := e.claims.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key)
	return err
}

// ensureTemplate builds the template under a session advisory lock: it is
// migrated under a temporary name and renamed when complete, so a build
// that died half way never passes for a template.
func (e *env) ensureTemplate(ctx context.Context) (string, error) {
	sum, err := migrationsSum()
	if err != nil {
		return "", err
	}
	name := "qrlogin_tmpl_" + sum
	conn, err := pgx.Connect(ctx, e.admin)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", EnvURL, err)
	}
	defer conn.Close(context.Background())
	const lock = 0x5172_6c6f_6769_6e54 // "QrloginT"
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(lock)); err != nil {
		return "", err
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	build := "qrlogin_build_" + randomHex()
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+build); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	buildURL, err := withDatabase(e.admin, build)
	if err != nil {
		return "", err
	}
	if _, err := postgres.MigrateURL(ctx, buildURL); err != nil {
		_, _ = conn.Exec(context.Background(), `DROP DATABASE IF EXISTS `+build+` WITH (FORCE)`)
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.Exec(ctx, `ALTER DATABASE `+build+` RENAME TO `+name); err != nil {
		return "", fmt.Errorf("rename template: %w", err)
	}
	return name, nil
}

// migrationsSum names the template after the migrations it holds.
func migrationsSum() (string, error) {
	names, err := fs.Glob(sqlfiles.FS, "*.sql")
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(sqlfiles.FS, n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// withDatabase returns admin with its database replaced by name.
func withDatabase(admin, name string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("%s must be a postgres:// URL", EnvURL)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
