package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qrlogin/qrlogin/storage"
)

// KeyEncryptionKeySize is the size of Config.KeyEncryptionKey: an AES-256
// key.
const KeyEncryptionKeySize = 32

// DefaultConnectTimeout bounds a connection attempt (TCP, TLS and
// startup) when the URL sets no connect_timeout.
const DefaultConnectTimeout = 5 * time.Second

// DefaultStatementTimeout bounds every statement (PostgreSQL's
// statement_timeout, set on each connection) unless Config or the URL say
// otherwise. qrlogin's statements take milliseconds; one blocked behind a
// lock, or on a server too loaded to answer, is cancelled by the server
// (SQLSTATE 57014, storage.ErrUnavailable) and its request answers 503,
// instead of holding a connection of the pool and a client.
const DefaultStatementTimeout = 5 * time.Second

// TCP keep-alive and TCP_USER_TIMEOUT on every connection: a database
// host that vanished without closing (a network partition, a crash of the
// machine) is noticed after about keepAliveIdle + keepAliveCount ×
// keepAliveInterval of silence, or when data sent stays unacknowledged for
// tcpUserTimeout (RFC 5482; Linux), and the connection fails: a request
// waiting on it answers 503 instead of hanging for the kernel's default of
// about two hours (keep-alive) or fifteen minutes (retransmissions).
const (
	keepAliveIdle     = 5 * time.Second
	keepAliveInterval = 2 * time.Second
	keepAliveCount    = 3
	tcpUserTimeout    = 10 * time.Second
)

// Config configures Open.
type Config struct {
	// URL is a PostgreSQL connection URL
	// (postgres://user:password@host:5432/db?sslmode=verify-full).
	// pgxpool parameters such as pool_max_conns may be added to it. It may
	// list several hosts (postgres://h1:5432,h2:5432/db): each connection
	// goes to the first that accepts writes (see Open).
	URL string
	// KeyEncryptionKey is the 32-byte AES-256-GCM key that encrypts signing
	// keys' private keys and shared secrets at rest. Every instance sharing
	// the database needs the same key. Required.
	KeyEncryptionKey []byte
	// Logger receives the LISTEN connection's reconnects. nil discards.
	Logger *slog.Logger
	// StatementTimeout is the statement_timeout of every connection: 0
	// means the URL's statement_timeout if it has one, else
	// DefaultStatementTimeout; negative means none. Migrations are not
	// bounded by it.
	StatementTimeout time.Duration
}

// Store implements storage.Store on PostgreSQL. Create it with Open; it is
// safe for concurrent use, also by several instances on one database.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	aead *keyCipher
	hub  storage.Hub
	// suspect is set while the LISTEN connection is lost: the server went
	// away, so every idle pooled connection may be dead too (see open).
	suspect atomic.Bool
	// listening is the LISTEN connection while it is up (see
	// leaveReadOnly).
	listening atomic.Pointer[listening]
	// gc queues the hot-path writes for group commit (see commit.go).
	gc         groupCommit
	committing sync.WaitGroup

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

var _ storage.Store = (*Store)(nil)

// Open connects to cfg.URL and starts the LISTEN connection. It returns once
// the database answered and LISTEN is in place, so a subscription made
// after Open returns cannot miss a notification. It does not migrate: call
// Migrate (or the migrate command) first. An unreachable database gives an
// error wrapping storage.ErrUnavailable.
//
// Failover: every connection, pooled or LISTEN, goes to a server that
// accepts writes (target_session_attrs=read-write unless the URL asks for
// primary; any other value is refused), trying the URL's hosts in order,
// so after a failover new connections find the new primary and never a
// standby. A server that turns read-only under an open connection (an old
// primary fenced or demoted in place) answers a write with SQLSTATE 25006:
// that connection is closed rather than returned to the pool, and if the
// LISTEN connection is on the same server it reconnects too, which resets
// the pool (see leaveReadOnly).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	return open(ctx, cfg, hooks{})
}

// hooks are the tests' ways into open.
type hooks struct {
	// pool adjusts the pool's configuration (tests count network writes
	// through it).
	pool func(*pgxpool.Config)
	// hold is groupCommit.hold.
	hold func()
	// committers replaces the constant committers when positive.
	committers int
}

// open is Open with the tests' hooks.
func open(ctx context.Context, cfg Config, h hooks) (*Store, error) {
	if len(cfg.KeyEncryptionKey) != KeyEncryptionKeySize {
		return nil, fmt.Errorf("postgres: key encryption key must be %d bytes, got %d", KeyEncryptionKeySize, len(cfg.KeyEncryptionKey))
	}
	aead, err := newKeyCipher(cfg.KeyEncryptionKey)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: log, aead: aead, done: make(chan struct{}),
		gc: groupCommit{writes: make(chan *write), quit: make(chan struct{}), hold: h.hold}}
	// After PostgreSQL restarts, the pool's idle connections are dead but
	// look alive until used, and pgx pings only those idle for over a
	// second: the first requests after the database returned would fail.
	// While the LISTEN connection is lost, every acquire pings (a round
	// trip spent only then); when it is back, listen resets the pool.
	s.pool, err = newPool(ctx, cfg.URL, func(pc *pgxpool.Config) {
		pc.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool {
			return s.suspect.Load() || p.IdleDuration > time.Second
		}
		if cfg.StatementTimeout != 0 {
			pc.ConnConfig.RuntimeParams["statement_timeout"] = milliseconds(max(cfg.StatementTimeout, 0))
		}
		onPgError := pc.ConnConfig.OnPgError
		pc.ConnConfig.OnPgError = func(c *pgconn.PgConn, e *pgconn.PgError) bool {
			if e.Code == sqlstateReadOnly {
				s.leaveReadOnly(c)
				return false // close it: its server no longer takes writes
			}
			return onPgError == nil || onPgError(c, e)
		}
		if h.pool != nil {
			h.pool(pc)
		}
	})
	if err != nil {
		return nil, err
	}
	n := committers
	if h.committers > 0 {
		n = h.committers
	}
	for range n {
		s.committing.Go(s.committer)
	}
	pool := s.pool
	lctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	ready := make(chan error, 1)
	go s.listen(lctx, pool.Config().ConnConfig.Copy(), ready)
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		s.Close()
		return nil, mapErr("listen", err)
	}
	return s, nil
}

// newPool parses url and connects, checking the server answers.
// DefaultMaxConns is the pool size unless the URL sets pool_max_conns.
// Every instance takes up to this many of PostgreSQL's max_connections
// (100 by default), plus one for LISTEN.
const DefaultMaxConns = 24

func newPool(ctx context.Context, url string, tweak func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	if url == "" {
		return nil, errors.New("postgres: database URL is empty")
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn redacts the password in its parse errors.
		return nil, fmt.Errorf("postgres: bad database URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default, max(4, NumCPU), queues requests behind four
		// connections while PostgreSQL itself sits idle waiting for WAL
		// flushes: qrlogin's statements are short and mostly wait on commit,
		// so more of them in flight is what lets group commit work. Measured
		// with qrlogin bench: polls 1,948/s at 4 connections, 5,578/s at 32.
		pcfg.MaxConns = DefaultMaxConns
	}
	if err := requireWritable(&pcfg.ConnConfig.Config); err != nil {
		return nil, err
	}
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		// Without connect_timeout in the URL, pgx waits for the operating
		// system: a database host that drops packets would hold every
		// request needing a new connection (and the LISTEN reconnect) for
		// minutes. Bounded, those requests answer 503 instead. With several
		// hosts the bound applies to each in turn.
		pcfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if _, ok := pcfg.ConnConfig.RuntimeParams["statement_timeout"]; !ok {
		pcfg.ConnConfig.RuntimeParams["statement_timeout"] = milliseconds(DefaultStatementTimeout)
	}
	// pgx's own dialer leaves keep-alive to Go's defaults (15 s idle, then
	// probes every 15 s, 9 of them) and sets no TCP_USER_TIMEOUT.
	dialer := &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount},
		Control:         setUserTimeout,
	}
	pcfg.ConnConfig.DialFunc = dialer.DialContext
	if tweak != nil {
		tweak(pcfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, mapErr("connect", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, mapErr("connect", err)
	}
	return pool, nil
}

// milliseconds formats d as PostgreSQL reads a bare duration setting.
func milliseconds(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// sqlstateReadOnly is read_only_sql_transaction: a write sent to a
// standby, or to a primary made read-only (default_transaction_read_only).
const sqlstateReadOnly = "25006"

// requireWritable makes every connection of cfg check, before it is used,
// that its server accepts writes, as libpq's target_session_attrs=read-write
// does: qrlogin writes on nearly every request, and with several hosts in
// the URL the default (any) would connect to a standby whenever it is
// listed first or the primary is down. pgx runs the check on each host in
// turn and keeps the first that passes. target_session_attrs=primary (not
// in recovery) is kept if asked for; read-only, standby and prefer-standby
// are refused.
func requireWritable(cfg *pgconn.Config) error {
	switch v := cfg.ValidateConnect; {
	case v == nil: // any, or not given
		cfg.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
	case sameFunc(v, pgconn.ValidateConnectTargetSessionAttrsReadWrite),
		sameFunc(v, pgconn.ValidateConnectTargetSessionAttrsPrimary):
	default:
		return errors.New("postgres: bad database URL: target_session_attrs must be read-write (the default) or primary: qrlogin writes on nearly every request")
	}
	return nil
}

// sameFunc reports whether f is the function g. pgconn records
// target_session_attrs only as the validation function it chose.
func sameFunc(f, g pgconn.ValidateConnectFunc) bool {
	return reflect.ValueOf(f).Pointer() == reflect.ValueOf(g).Pointer()
}

// leaveReadOnly is called when a pooled connection met a read-only server.
// The connection itself is closed by the caller. If the LISTEN connection
// is on that server it is moved as well: it never writes, so it would stay
// there, deaf to the notifications of the primary that took over, and its
// reconnect resets the pool, dropping every other connection to that
// server at once instead of one failed request each.
func (s *Store) leaveReadOnly(c *pgconn.PgConn) {
	if l := s.listening.Load(); l != nil && c.Conn() != nil && c.Conn().RemoteAddr().String() == l.addr {
		l.stop(errListenReadOnly)
	}
}

// Close stops the LISTEN connection and closes the pool. It waits for both,
// and may be called more than once.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.done
		// Committers finish the batch they are sending; writes still
		// waiting get errStoreClosed.
		close(s.gc.quit)
		s.committing.Wait()
		s.pool.Close()
	})
}

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error {
	return mapErr("ping", s.pool.Ping(ctx))
}

// Migrate applies pending migrations (see the package function Migrate).
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	return Migrate(ctx, s.pool)
}

// SubscribeQRLogins implements storage.QRLoginStore. Changes come from the
// LISTEN connection, so they arrive for changes made by any instance; after
// a reconnect, a change with no ID says that some may have been missed.
func (s *Store) SubscribeQRLogins(fn func(storage.QRChange)) func() { return s.hub.Subscribe(fn) }

// Subscribers reports how many subscriptions are open (tests).
func (s *Store) Subscribers() int { return s.hub.Subscribers() }

// mapErr turns a pgx error into the storage contract's errors. op names the
// operation for logs; the database's own text stays in the wrapped chain
// for logging and is never meant for clients (the HTTP layer maps the
// sentinels and hides the rest).
//
// Unavailable (storage.ErrUnavailable: the request changed nothing, try
// again) is every failure to connect, whatever the server said (a
// database not accepting connections answers 55000 at connect time, a
// wrong password 28P01: neither is the client's fault), a lost or broken
// connection, a timeout, and these SQLSTATEs:
//
//   - class 08, connection exception;
//   - class 53, insufficient resources (too many connections, disk full,
//     out of memory);
//   - 55000, object not in prerequisite state (ALLOW_CONNECTIONS false);
//   - 57P01–57P03, the server is shutting down, crashed or starting up;
//   - 57014, query canceled: statement_timeout ran out (see
//     Config.StatementTimeout) or the query was cancelled;
//   - 25006, read-only transaction: the server is a standby, as the old
//     primary is after a failover until connections move;
//   - 40001 and 40P01, serialization failure and deadlock: the
//     transaction was rolled back and a retry may pass.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrUnavailable, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Code == "23505" { // unique_violation
			return fmt.Errorf("postgres: %s: %w (%s)", op, storage.ErrConflict, pgErr.ConstraintName)
		}
		if unavailableCode(pgErr.Code) {
			return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrUnavailable, err)
		}
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up; the database may be fine.
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if unreachable(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// unavailableCode reports whether a SQLSTATE means "not now" rather than
// "not this request" (see mapErr).
func unavailableCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
		return true
	}
	switch code {
	case "55000", "57P01", "57P02", "57P03", "57014", "25006", "40001", "40P01":
		return true
	}
	return false
}

// unreachable reports whether err means the database could not be reached
// or the connection was lost: connecting failed, a pool acquire ran out of
// time, the pool is closed, or the socket broke.
func unreachable(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) ||
		errors.As(err, &netErr) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, errStoreClosed) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) ||
		strings.Contains(err.Error(), "closed pool")
}

// Values crossing into SQL: the contract's zero time and nil slices become
// NULL and '{}' respectively, and come back as the zero time (UTC) and an
// empty slice.

func nullTime(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

func timeOf(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ints is list for integer arrays.
func ints(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

// mustAffect turns an UPDATE or DELETE that matched nothing into
// ErrNotFound.
func mustAffect(op string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return mapErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	return nil
}
