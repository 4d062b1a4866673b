package postgres_test

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"

	sqlfiles "github.com/qrlogin/qrlogin/sql"
	"github.com/qrlogin/qrlogin/storage/postgres"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

func newPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	return newPoolTB(t, url)
}

func newPoolTB(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func embeddedNames(t *testing.T) []string {
	names, err := fs.Glob(sqlfiles.FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded migrations: %v %v", names, err)
	}
	return names
}

func TestMigrateConcurrentlyAppliesEachFileOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.NewEmptyDatabase(t)
	const instances = 3
	pools := make([]*pgxpool.Pool, instances)
	for i := range pools {
		pools[i] = newPool(t, url)
	}
	applied := make([][]string, instances)
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i := range instances {
		wg.Go(func() { applied[i], errs[i] = postgres.Migrate(context.Background(), pools[i]) })
	}
	wg.Wait()
	var all []string
	for i := range instances {
		if errs[i] != nil {
			t.Errorf("instance %d: %v", i, errs[i])
		}
		all = append(all, applied[i]...)
	}
	slices.Sort(all)
	if want := embeddedNames(t); !slices.Equal(all, want) {
		t.Errorf("applied %v in total, want each of %v once", all, want)
	}
	var rows int
	if err := pools[0].QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(embeddedNames(t)) {
		t.Errorf("schema_migrations has %d rows", rows)
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v1 := fstest.MapFS{"0001_a.sql": {Data: []byte("CREATE TABLE a (x int);")}}
	v2 := fstest.MapFS{
		"0001_a.sql": v1["0001_a.sql"],
		"0002_b.sql": {Data: []byte("CREATE TABLE b (x int); INSERT INTO b VALUES (1);")},
	}
	tests := []struct {
		name    string
		steps   []fstest.MapFS
		applied []string // by the last step
		err     string   // of the last step
	}{
		{"a second run applies nothing", []fstest.MapFS{v1, v1}, nil, ""},
		{"a new file is applied after the old ones", []fstest.MapFS{v1, v2}, []string{"0002_b.sql"}, ""},
		{"a released file that changed is refused", []fstest.MapFS{v1, {"0001_a.sql": {Data: []byte("CREATE TABLE a (y int);")}}}, nil, "must not change"},
		{"a failing file leaves no trace and stops the run", []fstest.MapFS{{
			"0001_a.sql":   v1["0001_a.sql"],
			"0002_bad.sql": {Data: []byte("CREATE TABLE c (x int); SELECT no_such_function();")},
			"0003_c.sql":   {Data: []byte("CREATE TABLE d (x int);")},
		}}, []string{"0001_a.sql"}, "0002_bad.sql"},
		{"a badly named file is refused", []fstest.MapFS{{"1_a.sql": v1["0001_a.sql"]}}, nil, "NNNN_name.sql"},
	}
	// One empty database; each case migrates its own schema (first on the
	// search path), which costs far less than a database each.
	url := pgtest.NewEmptyDatabase(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			schema := fmt.Sprintf("case_%d", i)
			if _, err := newPool(t, url).Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
				t.Fatal(err)
			}
			cfg, err := pgxpool.ParseConfig(url)
			if err != nil {
				t.Fatal(err)
			}
			cfg.ConnConfig.RuntimeParams["search_path"] = schema
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			var applied []string
			for _, step := range tt.steps {
				applied, err = postgres.MigrateFS(ctx, pool, step)
			}
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if !slices.Equal(applied, tt.applied) {
				t.Errorf("applied %v, want %v", applied, tt.applied)
			}
			if tt.name == "a failing file leaves no trace and stops the run" {
				var tables string
				pool.QueryRow(ctx, `SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&tables)
				if tables != "a,schema_migrations" {
					t.Errorf("tables after the failure: %s", tables)
				}
			}
		})
	}
}

// The schema in sql/ matches what the code expects: every table the store
// writes exists after Migrate. (Each store test also runs on it.)
func TestMigrateCreatesTheSchema(t *testing.T) {
	t.Parallel()
	pool := newPool(t, pgtest.NewDatabase(t))
	var got []string
	rows, err := pool.Query(context.Background(), `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		got = append(got, n)
	}
	want := "[access_tokens admin_tokens auth_requests browser_sessions clients dpop_proofs notifications qr_audit_events qr_logins qr_user_codes refresh_tokens revoked_sessions schema_migrations secrets signing_keys spent_auth_codes users]"
	if fmt.Sprint(got) != want {
		t.Errorf("tables %v\nwant %s", got, want)
	}
}
