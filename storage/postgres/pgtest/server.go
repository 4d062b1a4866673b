package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a PostgreSQL server of a test's own, for what the shared
// server of EnvURL must never be put through: streaming replication,
// promotion, being stopped. It runs PostgreSQL's own binaries (initdb,
// pg_ctl, pg_basebackup) on a data directory under a fresh temporary
// directory and a free loopback port, with trust authentication for the
// superuser postgres on 127.0.0.1 only. When the test ends it is stopped
// and its directory removed.
//
// The binaries are looked up in /usr/lib/postgresql/<newest>/bin (Debian)
// and then on PATH. Without them the test is skipped, or fails when CI is
// set. initdb refuses to run as root, so as root every binary runs as the
// system user postgres.
type Server struct {
	Name string
	Port int
	dir  string // the data directory
	logf string // the server's log
	pg   *pgEnv
}

// pgEnv is where the binaries are and whom they run as.
type pgEnv struct {
	bin  string
	cred *syscall.Credential // nil: as this process's user
	uid  int
	gid  int
	root string // the temporary directory: data directories, logs, sockets
}

// newPGEnv finds the binaries and makes the temporary directory, owned by
// whoever runs them.
func newPGEnv(t testing.TB) *pgEnv {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") != "" {
			t.Fatalf("%s, and CI is set: the PostgreSQL replication tests must run in CI", msg)
		}
		t.Skipf("%s; skipping PostgreSQL replication test", msg)
	}
	bin := binDir()
	if bin == "" {
		unavailable("PostgreSQL's initdb, pg_ctl and pg_basebackup were not found")
	}
	e := &pgEnv{bin: bin, uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable("running as root and there is no user postgres to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		e.uid, e.gid = uid, gid
		e.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	e.sweep()
	// A short path: it also holds the Unix sockets (at most 107 bytes).
	root, err := os.MkdirTemp("", rootPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	if e.cred != nil {
		if err := os.Chown(root, e.uid, e.gid); err != nil {
			t.Fatal(err)
		}
	}
	e.root = root
	t.Cleanup(func() { os.RemoveAll(root) })
	return e
}

// A server's temporary directory is rootPrefix + random, and holds the
// test process's id in ownerFile.
const (
	rootPrefix = "qrlogin-pg-"
	ownerFile  = "owner.pid"
)

// sweep stops the servers of test processes that are gone and removes
// their directories: a test binary killed by -timeout runs no cleanup,
// and its servers would otherwise run on.
func (e *pgEnv) sweep() {
	roots, _ := filepath.Glob(filepath.Join(os.TempDir(), rootPrefix+"*"))
	for _, root := range roots {
		b, err := os.ReadFile(filepath.Join(root, ownerFile))
		pid, _ := strconv.Atoi(string(b))
		if err != nil || pid <= 0 || alive(pid) {
			continue // being made, or its process still runs
		}
		pidFiles, _ := filepath.Glob(filepath.Join(root, "*", "postmaster.pid"))
		for _, f := range pidFiles {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_ = e.run(ctx, "pg_ctl", "stop", "-D", filepath.Dir(f), "-m", "immediate", "-w")
			cancel()
		}
		os.RemoveAll(root)
	}
}

// alive reports whether process pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// binDir returns the directory holding initdb, pg_ctl and pg_basebackup,
// or "".
func binDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va // newest first
	})
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		ok := true
		for _, b := range []string{"initdb", "pg_ctl", "pg_basebackup", "postgres"} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				ok = false
			}
		}
		if ok {
			return d
		}
	}
	return ""
}

// run runs one of the binaries; its output goes into the error.
func (e *pgEnv) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, name), args...)
	cmd.Dir = os.TempDir() // where the postgres user may be
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "LC_ALL=C", "TZ=UTC"}
	if e.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before the server binds it; on a test machine that is rare
// enough, and the start then fails loudly.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// StartServer initialises and starts a primary named name.
//
// Settings for a test server: fsync off (the test survives no machine
// crash, and the shared machine's disk is spared; commits still wait for
// a synchronous standby, which is what replication tests are about),
// small shared memory, WAL senders for standbys.
func StartServer(t testing.TB, name string) *Server {
	t.Helper()
	return newPGEnv(t).start(t, name)
}

func (e *pgEnv) start(t testing.TB, name string) *Server {
	t.Helper()
	s := e.server(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.run(ctx, "initdb", "-D", s.dir, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s.configure(t, "postgresql.conf", fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = off
synchronous_commit = on
shared_buffers = 32MB
max_connections = 120
wal_level = replica
max_wal_senders = 4
hot_standby = on
cluster_name = '%s'
`, s.Port, e.root, name))
	s.startServer(t)
	return s
}

func (e *pgEnv) server(t testing.TB, name string) *Server {
	s := &Server{Name: name, Port: freePort(t), dir: filepath.Join(e.root, name),
		logf: filepath.Join(e.root, name+".log"), pg: e}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(s.logf); err == nil {
				t.Logf("pgtest: the log of %s:\n%s", name, tail(b, 40))
			}
		}
		// Already stopped is fine; immediate: nothing of it is kept.
		_ = e.run(context.Background(), "pg_ctl", "stop", "-D", s.dir, "-m", "immediate", "-w")
	})
	return s
}

// tail returns the last n lines of b.
func tail(b []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	return bytes.Join(lines[max(0, len(lines)-n):], []byte("\n"))
}

// configure appends settings to one of the server's configuration files
// (later lines win).
func (s *Server) configure(t testing.TB, file, settings string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(s.dir, file), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString(settings); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

func (s *Server) startServer(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.pg.run(ctx, "pg_ctl", "start", "-D", s.dir, "-l", s.logf, "-w", "-t", "90"); err != nil {
		b, _ := os.ReadFile(s.logf)
		t.Fatalf("pgtest: %v\n%s", err, tail(b, 20))
	}
}

// StartStandby takes a base backup of s (pg_basebackup -R -X stream) and
// starts it as a hot standby streaming from s, on a port of its own. Its
// synchronous_standby_names is empty, so once promoted it commits without
// waiting for a standby it does not have.
func (s *Server) StartStandby(t testing.TB, name string) *Server {
	t.Helper()
	sb := s.pg.server(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.pg.run(ctx, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "postgres",
		"-D", sb.dir, "-R", "-X", "stream", "-c", "fast", "--no-sync"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// postgresql.auto.conf: read last, so these win over what the backup
	// copied from s, including anything set there with ALTER SYSTEM.
	sb.configure(t, "postgresql.auto.conf", fmt.Sprintf(`
port = %d
cluster_name = '%s'
synchronous_standby_names = ''
`, sb.Port, name))
	sb.startServer(t)
	return sb
}

// RequireSyncStandby makes every commit on s wait until a standby has
// flushed it (synchronous_standby_names = '*', synchronous_commit = on),
// and returns once a standby streams synchronously.
func (s *Server) RequireSyncStandby(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `ALTER SYSTEM SET synchronous_standby_names = '*'`); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'`).Scan(&n); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		if n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pgtest: no synchronous standby streams from %s", s.Name)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Promote turns a standby into a primary (pg_ctl promote) and returns once
// it accepts writes.
func (s *Server) Promote(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.pg.run(ctx, "pg_ctl", "promote", "-D", s.dir, "-w", "-t", "90"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Stop stops the server: mode is smart, fast or immediate (pg_ctl stop -m).
func (s *Server) Stop(t testing.TB, mode string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.pg.run(ctx, "pg_ctl", "stop", "-D", s.dir, "-m", mode, "-w", "-t", "90"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// URL is the URL of database db on s alone.
func (s *Server) URL(db string) string {
	return HostsURL(db, s)
}

// HostsURL is the URL of database db listing servers as its hosts, in
// order: postgres://postgres@127.0.0.1:p1,127.0.0.1:p2/db. It leaves
// target_session_attrs to the store (which requires read-write).
func HostsURL(db string, servers ...*Server) string {
	hosts := make([]string, len(servers))
	for i, s := range servers {
		hosts[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	}
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: strings.Join(hosts, ","),
		Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// CreateDatabase creates database db on s. With a synchronous standby it
// returns once the standby has applied it (remote_apply), so the database
// can be connected to there at once.
func (s *Server) CreateDatabase(t testing.TB, db string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{`SET synchronous_commit = remote_apply`, `CREATE DATABASE ` + pgx.Identifier{db}.Sanitize()} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
}
