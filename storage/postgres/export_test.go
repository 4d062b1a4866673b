package postgres

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"
)

// NotifyChannel exposes the LISTEN connection's channel to the external
// tests.
const NotifyChannel = notifyChannel

// OpenCounting opens a Store with a single pooled connection whose network
// writes are counted in writes: pgx sends each statement's messages in one
// write and then waits for the answer, so writes counts round trips.
func OpenCounting(ctx context.Context, cfg Config, writes *atomic.Int64) (*Store, error) {
	return open(ctx, cfg, hooks{pool: func(pc *pgxpool.Config) {
		pc.MaxConns, pc.MinConns = 1, 0
		// No liveness ping on acquire: it would be a round trip of its own.
		pc.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
		dial := pc.ConnConfig.DialFunc
		pc.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: c, writes: writes}, nil
		}
	}})
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// MigrateFS runs the migration runner on another set of files.
var MigrateFS = migrate

// Show returns a setting as a connection of the pool sees it.
func (s *Store) Show(ctx context.Context, name string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, "SHOW "+name).Scan(&v)
	return v, err
}

// WithSocket calls fn with the network connection under a pooled
// connection.
func (s *Store) WithSocket(ctx context.Context, fn func(net.Conn)) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	fn(c.Conn().PgConn().Conn())
	return nil
}

// MigrationLock is the advisory lock key migrations take.
const MigrationLock = migrationLock

// OpenGrouped opens a Store with n committers; hold runs after a
// committer took the first write of a batch and before it takes the
// others waiting (see groupCommit.hold).
func OpenGrouped(ctx context.Context, cfg Config, n int, hold func()) (*Store, error) {
	return open(ctx, cfg, hooks{committers: n, hold: hold})
}

// WaitingWrites reports how many writes wait to be taken into a batch.
func (s *Store) WaitingWrites() int { return int(s.gc.waiting.Load()) }

// MaxBatch is the most statements one batch carries.
const MaxBatch = maxBatch
