// Package postgres is the PostgreSQL backend of storage.Store, on pgx/v5
// and pgxpool. It owns the SQL that reads and writes the schema in package
// sql, the migration runner, the LISTEN connection that wakes long-polls
// across instances, and the encryption at rest of signing keys and shared
// secrets. It holds no policy: which transition is allowed is the table of
// package grants/rules; the WHERE clauses of ApplyQR's statements are this
// package's mechanism for it, and storagetest's cases, generated from the
// table, hold them to its rows.
//
// Every hot path is one SQL statement, one network round trip, one
// transaction: a QR step (ApplyQR) finds the login by its key, locks it,
// checks the phone's bearer token, applies the conditional UPDATE and, as
// CTEs over its RETURNING, inserts the audit row, the sign-in notification
// or the redeem's tokens and sends the pg_notify, so they commit together
// or not at all, and a refused step writes nothing.
//
// Group commit (commit.go): the hot-path writes (CreateQRLogin, ApplyQR)
// that arrive while others are in flight are sent together as one pgx
// batch, one round trip and one implicit transaction: one commit for many
// requests. A lone write goes out at once, alone. Each caller gets its own
// statement's result once the batch has committed; a statement that fails
// fails alone (the others run again, each on its own).
//
// Announcements: each Store keeps one dedicated connection outside the pool
// that LISTENs on the channel qrlogin_qr_login; the payload of each NOTIFY
// is the QR login's row id and its new status, fanned out through a
// storage.Hub. The connection is pinged after listenQuiet of silence. When
// it is lost (or a ping goes unanswered) the Store announces that changes
// may have been missed, reconnects with backoff and announces it again,
// because notifications sent meanwhile are gone. LISTEN needs a
// session: point the URL at PostgreSQL or at a session-pooling proxy, never
// at PgBouncer in transaction pooling mode, where notifications are silently
// lost.
//
// Outages: connecting is bounded by DefaultConnectTimeout unless the URL
// sets connect_timeout, every statement by DefaultStatementTimeout
// (PostgreSQL's statement_timeout on each connection; Config and the URL
// may change it), and a silent network by TCP keep-alive and
// TCP_USER_TIMEOUT on every socket, so requests fail with
// storage.ErrUnavailable instead of hanging when the database host stops
// answering, a statement waits behind a lock, or the network drops
// everything. Losing the
// LISTEN connection is taken as losing the server: until it is back every
// pool acquire pings its connection first, and once it is back the pool is
// reset, so the connections to the server that went away are not handed
// to requests after it returned.
//
// Failover: the URL may list several hosts (postgres://h1,h2/db), and
// every connection must reach a server that accepts writes
// (target_session_attrs=read-write is the default here, values that allow
// a standby are refused), so after a failover new connections skip the
// old primary and any standby and land on the new primary, and so does
// the LISTEN connection's reconnect. A connection whose server turns
// read-only under it (SQLSTATE 25006: an old primary fenced in place) is
// closed instead of pooled; if the LISTEN connection is on that server it
// moves as well, which resets the pool.
//
// Errors: a unique violation is storage.ErrConflict, no row is
// storage.ErrNotFound, and anything that means "not now" (any connect
// failure, lost connections, timeouts, PostgreSQL refusing connections,
// shutting down or out of connections; the SQLSTATEs are listed at
// mapErr) wraps storage.ErrUnavailable.
package postgres
