package postgres

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Group commit. Each hot-path write (CreateQRLogin, ApplyQR) is one
// statement, and on its own it is one transaction: PostgreSQL wakes a
// backend, runs it, commits and flushes the WAL, and the pool spends a
// round trip, for every request. Under load most of that is per
// transaction, not per statement. So these writes are queued, and a few
// committers each send whatever is queued as one pgx.Batch: one round
// trip, one implicit transaction (pgx sends a batch as one pipeline ending
// in a single Sync, and PostgreSQL runs the statements before a Sync as
// one transaction unless they BEGIN themselves), one commit.
//
// Batching is natural, with no timer: an idle committer sends a write at
// once, alone; writes arriving while every committer has a batch in
// flight wait, and the next free committer takes all of them (at most
// maxBatch). A lone request waits no longer than before; under load the
// batches grow by themselves.
//
// What a caller sees does not change:
//
//   - Its result is its own statement's (the rows it returned, the rows
//     it affected), handed over only once the batch has committed, so
//     nothing it reports can still be rolled back, and what it wrote is
//     visible to every later statement. NOTIFY is delivered at commit,
//     as before.
//   - A statement that fails (any server error aborts the implicit
//     transaction, and with it everyone's statements) fails alone: it
//     gets its own error, mapped as before, and the others run again,
//     each on its own. A batch that failed as a whole (a deadlock or
//     serialization failure, which batching itself can cause, or an error
//     preparing or encoding it) runs every statement again on its own.
//     None of qrlogin's hot statements raises on purpose: a refused
//     transition or a taken user code matches no row, it does not fail,
//     so it never spoils a batch.
//   - A lost connection, or any failure after which the commit's outcome
//     is unknown, fails every statement of the batch with that error
//     (storage.ErrUnavailable), as it would have failed each of them.
//   - A caller whose context ends before its statement was sent gets the
//     context's error, and its statement is never sent. One whose
//     context ends while its batch is in flight gets the context's error
//     at once; its statement, being one statement, is then applied
//     whole or not at all, as when a single statement's request is
//     cancelled mid-flight.
//   - statement_timeout bounds each statement of a batch (PostgreSQL
//     arms it per Execute message). A statement waiting behind a lock
//     holds back the commit of its batch, and the row locks taken by the
//     statements before it, until it gets the lock or times out; its
//     timeout is its own failure, and the others then run alone.
const (
	// committers is how many batches may be in flight at once: each is
	// one pooled connection and one PostgreSQL backend. Enough to keep
	// PostgreSQL busy while another batch is on the wire or waiting for
	// its WAL flush; few enough that under load batches fill up.
	committers = 4
	// maxBatch caps the statements of one batch: a batch's row locks are
	// held, and its callers wait, until its last statement has run.
	maxBatch = 64
)

// errStoreClosed answers a write queued after Close (unavailable: see
// unreachable).
var errStoreClosed = errors.New("postgres: store closed")

// errAlone tells a caller its batch was rolled back for another reason
// than its own statement: it runs the statement again on its own.
var errAlone = errors.New("postgres: batch rolled back")

// A write is one statement queued for group commit.
type write struct {
	ctx  context.Context
	sql  string
	args []any
	// read takes the statement's result from the batch into the caller's
	// variables. Its error is the statement's outcome: pgx.ErrNoRows is
	// an answer (a transition whose guards refused), not a failure.
	read func(pgx.BatchResults) error
	// err is read's outcome, or the batch's if it failed.
	err error
	// done hands err over once the batch has committed or failed. It is
	// buffered, so a committer never waits for a caller that left.
	done chan error
}

// groupCommit is the Store's queue and its committers.
type groupCommit struct {
	writes chan *write // unbuffered: a waiting write is a sender parked on it
	quit   chan struct{}
	// waiting counts the writes waiting to be taken.
	waiting atomic.Int32
	// hold, for tests only, runs after a committer took the first write
	// of a batch and before it takes the rest.
	hold func()
}

// commit sends the statement sql through group commit and waits for its
// outcome; read takes its result (see write.read). The error is pgx's or
// the context's, not yet mapped (see mapErr).
func (s *Store) commit(ctx context.Context, sql string, args []any, read func(pgx.BatchResults) error) error {
	w := &write{ctx: ctx, sql: sql, args: args, read: read, done: make(chan error, 1)}
	s.gc.waiting.Add(1)
	select {
	case s.gc.writes <- w:
		s.gc.waiting.Add(-1)
	case <-ctx.Done():
		s.gc.waiting.Add(-1)
		return ctx.Err()
	case <-s.gc.quit:
		s.gc.waiting.Add(-1)
		return errStoreClosed
	}
	var err error
	select {
	case err = <-w.done:
	case <-ctx.Done():
		select {
		case err = <-w.done: // it finished as the context ended
		default:
			return ctx.Err()
		}
	}
	if err == errAlone {
		s.send(ctx, []*write{w})
		err = w.err
	}
	return err
}

// committer takes the writes waiting at the moment, up to maxBatch, sends
// them as one batch, hands each its outcome, and starts over, until the
// Store closes.
func (s *Store) committer() {
	batch := make([]*write, 0, maxBatch)
	for {
		select {
		case w := <-s.gc.writes:
			batch = append(batch[:0], w)
		case <-s.gc.quit:
			return
		}
		if s.gc.hold != nil {
			s.gc.hold()
		}
	more:
		for len(batch) < maxBatch {
			select {
			case w := <-s.gc.writes:
				batch = append(batch, w)
			default:
				break more
			}
		}
		// A caller that left before its statement was sent: never send it.
		live := batch[:0]
		for _, w := range batch {
			if err := w.ctx.Err(); err != nil {
				w.done <- err
				continue
			}
			live = append(live, w)
		}
		if len(live) > 0 {
			// Not a caller's context: the batch is everyone's, and a
			// caller leaving must not cancel the others' statements.
			// statement_timeout, the connect timeout and TCP_USER_TIMEOUT
			// bound it.
			s.send(context.Background(), live)
			for _, w := range live {
				w.done <- w.err
			}
		}
		clear(batch)
	}
}

// send runs ws as one batch, one transaction, and sets each write's err:
// its own outcome if the batch committed; if the batch failed, the failing
// statement's error for that statement and errAlone for the others, or
// the batch's error for all when it failed as a whole (errAlone when
// nothing was applied, the error itself when the outcome is unknown). A
// batch of one never gets errAlone.
func (s *Store) send(ctx context.Context, ws []*write) {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(ws))}
	for _, w := range ws {
		b.Queue(w.sql, w.args...)
	}
	br := s.pool.SendBatch(ctx, b)
	failed := -1
	for i, w := range ws {
		// After a failure pgx answers every later read with the same
		// error: those statements never ran.
		w.err = w.read(br)
		if failed < 0 && w.err != nil && !errors.Is(w.err, pgx.ErrNoRows) {
			failed = i
		}
	}
	err := br.Close() // reads the Sync's answer: the commit
	if failed >= 0 {
		err = ws[failed].err
	}
	if err == nil {
		return
	}
	var pgErr *pgconn.PgError
	var prep pgx.ErrPreprocessingBatch
	var connect *pgconn.ConnectError
	switch {
	case len(ws) == 1:
		ws[0].err = err
	case errors.As(err, &connect):
		// No connection (whatever the server said while connecting):
		// nothing was sent, and running each alone would only try again.
		setAll(ws, err)
	case errors.As(err, &prep):
		// Preparing or encoding failed before anything ran, and the
		// statement to blame is not the first to read the error.
		setAll(ws, errAlone)
	case !errors.As(err, &pgErr):
		// No answer from the server (the connection broke, no connection
		// could be had): whether the batch committed is unknown.
		setAll(ws, err)
	case failed < 0 || pgErr.Code == "40001" || pgErr.Code == "40P01":
		// Rolled back at commit, or as a serialization failure or a
		// deadlock victim, which may be the batch's doing, not the
		// statement's.
		setAll(ws, errAlone)
	default:
		// Rolled back by the failing statement's own error.
		for i, w := range ws {
			if i != failed {
				w.err = errAlone
			}
		}
	}
}

func setAll(ws []*write, err error) {
	for _, w := range ws {
		w.err = err
	}
}
