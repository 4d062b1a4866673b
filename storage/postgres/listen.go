package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/qrlogin/qrlogin/storage"
)

// notifyChannel is the NOTIFY channel of QR login changes. The payload is
// the login's row id (storage.QRLogin.ID, not secret), a space and its new
// status, so a woken waiter knows the answer without reading the row. A
// payload without a status (an older instance during a rolling upgrade)
// announces a change of unknown status: read the row.
const notifyChannel = "qrlogin_qr_login"

// ListenAppName is the application_name of each instance's LISTEN
// connection: pg_stat_activity shows where every instance listens (after
// a failover, on the new primary).
const ListenAppName = "qrlogin-listen"

// Reconnect backoff of the LISTEN connection.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// listen owns the LISTEN connection until ctx ends. It reports the first
// LISTEN's outcome on ready, then keeps reconnecting with backoff. When the
// connection is lost, and again after each reconnect, it announces that
// changes may have been missed (storage.QRChange with no ID): notifications
// sent while no connection listened are lost, and every subscriber must
// read what it relies on again.
//
// After a failover the reconnect lands on the new primary (the connection
// config requires a server that accepts writes and tries the URL's hosts
// in order) and LISTENs there: NOTIFY is delivered only to sessions of the
// server where the transaction committed, so a LISTEN left on the old
// server would hear nothing.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, ready chan<- error) {
	defer close(s.done)
	cfg.RuntimeParams["application_name"] = ListenAppName
	first := true
	backoff := minBackoff
	for {
		conn, err := listenConn(ctx, cfg)
		if first {
			ready <- err
			if err != nil {
				return
			}
			first = false
		} else if err == nil {
			s.log.Info("postgres listen connection restored")
			// The server came back: drop the pooled connections to the one
			// that went away before the waiters re-read through the pool.
			s.pool.Reset()
			s.suspect.Store(false)
			s.hub.NotifyAll()
		}
		if err == nil {
			backoff = minBackoff
			err = s.receive(ctx, conn)
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(closeCtx)
			cancel()
		}
		if ctx.Err() != nil {
			return
		}
		if !s.suspect.Swap(true) {
			// From now on changes may go unheard: every subscriber stops
			// trusting what it knows (grants reads again, and its
			// long-polls wake to do so), until the reconnect says so again.
			s.hub.NotifyAll()
		}
		s.log.Warn("postgres listen connection lost; reconnecting", "error", err, "backoff", backoff)
		// Jitter keeps instances that lost the database together from
		// reconnecting in lockstep.
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func listenConn(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// notifyChannel is a constant identifier, not input.
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// errListenReadOnly ends a LISTEN connection whose server turned
// read-only (see Store.leaveReadOnly).
var errListenReadOnly = errors.New("the server no longer accepts writes")

// listening is a LISTEN connection in use: its server's address, and
// what ends its wait.
type listening struct {
	addr string
	stop context.CancelCauseFunc
}

// listenQuiet is how long the LISTEN connection may stay silent before it
// is asked to answer a ping; listenPingTimeout bounds the answer. A host
// that vanished without closing the connection (a partition, a black hole)
// is so found within about their sum, instead of after TCP keep-alive's
// dozen seconds, during which announcements would be lost unnoticed and
// the instance would trust its views of QR logins (grants).
const (
	listenQuiet       = 2 * time.Second
	listenPingTimeout = 2 * time.Second
)

// receive fans notifications out to the hub until the connection fails
// (or does not answer a ping), its server turns read-only, or ctx ends.
func (s *Store) receive(ctx context.Context, conn *pgx.Conn) error {
	rctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	s.listening.Store(&listening{addr: conn.PgConn().Conn().RemoteAddr().String(), stop: stop})
	defer s.listening.Store(nil)
	for {
		wait, cancel := context.WithTimeout(rctx, listenQuiet)
		n, err := conn.WaitForNotification(wait)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if cause := context.Cause(rctx); errors.Is(cause, errListenReadOnly) {
				return cause
			}
			if pgconn.Timeout(err) && rctx.Err() == nil {
				ping, cancel := context.WithTimeout(rctx, listenPingTimeout)
				err = conn.Ping(ping)
				cancel()
				if err == nil {
					continue
				}
			}
			return err
		}
		if n.Channel == notifyChannel {
			s.hub.Notify(parseChange(n.Payload))
		}
	}
}

// parseChange reads a notification's payload (see notifyChannel).
func parseChange(payload string) storage.QRChange {
	id, status, _ := strings.Cut(payload, " ")
	return storage.QRChange{ID: id, Status: storage.ParseStatus(status)}
}
