package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/postgres"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// heldStore is a Store with one committer whose first batch is held open
// after it took its first write: the test queues more writes meanwhile
// and knows they ride the same batch.
type heldStore struct {
	*postgres.Store
	held    chan struct{} // receives when the first batch is held
	release chan struct{} // close to let it go on
}

func openHeld(t *testing.T, cfg postgres.Config) *heldStore {
	t.Helper()
	h := &heldStore{held: make(chan struct{}), release: make(chan struct{})}
	first := true // only the one committer reads it
	var err error
	h.Store, err = postgres.OpenGrouped(context.Background(), cfg, 1, func() {
		if first {
			first = false
			h.held <- struct{}{}
			<-h.release
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// queued waits until n writes wait behind the held batch, and lets it go.
func (h *heldStore) sendWhenQueued(t *testing.T, n int) {
	t.Helper()
	<-h.held
	waitFor(t, "the writes to queue", func() bool { return h.WaitingWrites() == n })
	close(h.release)
}

// xmins returns the distinct transaction ids that wrote the rows of
// qr_logins with the given ids, and the audit events of the test's
// writes (any but the created events of the logins made before): the
// xmin of a row version is the transaction that wrote it.
func xmins(t *testing.T, url string, ids, before []string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT DISTINCT xmin::text FROM qr_logins WHERE id = ANY ($1)
		UNION SELECT DISTINCT xmin::text FROM qr_audit_events
			WHERE qr_login_id = ANY ($1) AND NOT (event = 'created' AND qr_login_id = ANY ($2))`, ids, before)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Group commit: concurrent hot-path writes (device authorizations and QR
// steps) commit in one transaction, and each caller still gets its own
// statement's result: its own login, its own refused or applied step, a
// user code taken by the write before it in the same batch.
func TestConcurrentWritesShareOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	setup := pgtest.OpenStore(t, url)
	scanned := newLogin(t0, "SCANNED1")
	refused := newLogin(t0, "REFUSED1")
	refused.ExpiresAt = t0.Add(-time.Second) // a scan of an expired login matches no row
	mustCreate(t, setup, scanned)
	mustCreate(t, setup, refused)
	var creates []*storage.QRLogin
	for i := range 20 {
		creates = append(creates, newLogin(t0, "BATCH"+string(rune('A'+i))+"00"))
	}
	twinA, twinB := newLogin(t0, "SAMECODE"), newLogin(t0, "SAMECODE")

	s2 := openHeld(t, postgres.Config{URL: url, KeyEncryptionKey: pgtest.KeyEncryptionKey})
	var wg sync.WaitGroup
	createErrs := make([]error, len(creates))
	var twinErrs [2]error
	var scanGot *storage.Applied
	var scanErr, refusedErr error
	for i, l := range creates {
		wg.Go(func() { createErrs[i] = s2.CreateQRLogin(ctx, l) })
	}
	wg.Go(func() { twinErrs[0] = s2.CreateQRLogin(ctx, twinA) })
	wg.Go(func() { twinErrs[1] = s2.CreateQRLogin(ctx, twinB) })
	wg.Go(func() { scanGot, scanErr = s2.ApplyQR(ctx, scan(scanned.ID, "alice", "t-"+scanned.ID, t0)) })
	wg.Go(func() { _, refusedErr = s2.ApplyQR(ctx, scan(refused.ID, "alice", "t-"+refused.ID, t0)) })
	writes := len(creates) + 4
	// One write is taken; the others wait behind it and ride its batch.
	s2.sendWhenQueued(t, writes-1)
	wg.Wait()

	ids := []string{scanned.ID}
	for i, l := range creates {
		if createErrs[i] != nil {
			t.Fatalf("CreateQRLogin(%s): %v", l.UserCode, createErrs[i])
		}
		got, err := s2.QRLogin(ctx, l.ID)
		if err != nil || got.UserCode != l.UserCode || string(got.QRIDHash) != string(l.QRIDHash) || got.Status != storage.StatusPending {
			t.Fatalf("login %s reads back as %+v (%v)", l.ID, got, err)
		}
		ids = append(ids, l.ID)
	}
	// The twins share a user code: the first in the batch takes it, the
	// second sees it taken (the statement before it in the same
	// transaction) and gets a conflict, leaving nothing.
	winner, loser := twinA, twinB
	if twinErrs[0] != nil {
		winner, loser = twinB, twinA
		twinErrs[0], twinErrs[1] = twinErrs[1], twinErrs[0]
	}
	if twinErrs[0] != nil || !errors.Is(twinErrs[1], storage.ErrConflict) {
		t.Fatalf("two logins with one user code: %v and %v, want one created and one conflict", twinErrs[0], twinErrs[1])
	}
	if got, err := s2.QRLoginByUserCode(ctx, "SAMECODE", t0); err != nil || got.ID != winner.ID {
		t.Fatalf("user code SAMECODE belongs to %+v (%v), want %s", got, err, winner.ID)
	}
	if _, err := s2.QRLogin(ctx, loser.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the login that lost the user code: %v, want ErrNotFound", err)
	}
	ids = append(ids, winner.ID)
	if scanErr != nil || scanGot.From != storage.StatusPending || scanGot.Login.Status != storage.StatusScanned || scanGot.Login.Subject != "alice" {
		t.Fatalf("scan: %+v (%v), want pending → scanned by alice", scanGot, scanErr)
	}
	if !errors.Is(refusedErr, storage.ErrConflict) {
		t.Fatalf("scan of an expired login: %v, want ErrConflict", refusedErr)
	}
	if got := xmins(t, url, ids, []string{scanned.ID}); len(got) != 1 {
		t.Fatalf("%d writes committed in %d transactions, want 1", len(ids), len(got))
	}
}

// A statement that fails in a batch fails alone, with the error it gets
// on its own: here a login whose id is taken (a unique violation:
// ErrConflict) and a scan that waits on a row lock past the statement
// timeout (57014: ErrUnavailable). Either aborts the batch's transaction;
// the other writes of the batch are applied all the same, and the failed
// ones leave nothing (the duplicate's user code stays free).
func TestAFailingStatementFailsOnlyItsCaller(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	setup := pgtest.OpenStore(t, url)
	taken, locked := newLogin(t0, "TAKENID1"), newLogin(t0, "LOCKED01")
	mustCreate(t, setup, taken)
	mustCreate(t, setup, locked)
	holdLock(t, url, `SELECT 1 FROM qr_logins WHERE id = $1 FOR UPDATE`, locked.ID)

	s := openHeld(t, postgres.Config{URL: url, KeyEncryptionKey: pgtest.KeyEncryptionKey, StatementTimeout: 300 * time.Millisecond})
	var good []*storage.QRLogin
	for i := range 10 {
		good = append(good, newLogin(t0, "GOOD"+string(rune('A'+i))+"000"))
	}
	dup := newLogin(t0, "DUPLICAT")
	dup.ID = taken.ID
	goodErrs := make([]error, len(good))
	var dupErr, lockedErr error
	var wg sync.WaitGroup
	for i, l := range good {
		wg.Go(func() { goodErrs[i] = s.CreateQRLogin(ctx, l) })
	}
	wg.Go(func() { dupErr = s.CreateQRLogin(ctx, dup) })
	wg.Go(func() { _, lockedErr = s.ApplyQR(ctx, scan(locked.ID, "alice", "t-"+locked.ID, t0)) })
	s.sendWhenQueued(t, len(good)+1)
	wg.Wait()

	for i, l := range good {
		if goodErrs[i] != nil {
			t.Fatalf("CreateQRLogin(%s) in a batch with failing statements: %v", l.UserCode, goodErrs[i])
		}
		if got, err := s.QRLogin(ctx, l.ID); err != nil || got.UserCode != l.UserCode {
			t.Fatalf("login %s: %+v (%v)", l.ID, got, err)
		}
	}
	if !errors.Is(dupErr, storage.ErrConflict) {
		t.Fatalf("CreateQRLogin with a taken id: %v, want ErrConflict", dupErr)
	}
	if _, err := s.QRLoginByUserCode(ctx, "DUPLICAT", t0); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the failed create's user code: %v, want it free (ErrNotFound)", err)
	}
	if got, err := s.QRLogin(ctx, taken.ID); err != nil || got.UserCode != taken.UserCode {
		t.Fatalf("the login whose id was taken: %+v (%v), want it unchanged", got, err)
	}
	if !errors.Is(lockedErr, storage.ErrUnavailable) || !strings.Contains(lockedErr.Error(), "57014") {
		t.Fatalf("scan blocked past the statement timeout: %v, want ErrUnavailable (57014)", lockedErr)
	}
	if got, err := setup.QRLogin(ctx, good[0].ID); err != nil || got.Status != storage.StatusPending {
		t.Fatalf("another instance reads %+v (%v): the batch's writes must be committed", got, err)
	}
}

// A caller whose context ends while its write waits for a batch gets the
// context's error at once, and its statement is never sent.
func TestAWriteWhoseContextEndsWhileQueuedIsNeverSent(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := openHeld(t, postgres.Config{URL: url, KeyEncryptionKey: pgtest.KeyEncryptionKey})
	first, gone := newLogin(t0, "FIRST001"), newLogin(t0, "GONE0001")
	firstErr := make(chan error, 1)
	go func() { firstErr <- s.CreateQRLogin(context.Background(), first) }()
	<-s.held
	ctx, cancel := context.WithCancel(context.Background())
	goneErr := make(chan error, 1)
	go func() { goneErr <- s.CreateQRLogin(ctx, gone) }()
	waitFor(t, "the second write to queue", func() bool { return s.WaitingWrites() == 1 })
	cancel()
	if err := <-goneErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("a write whose context ended while queued: %v, want context.Canceled", err)
	}
	close(s.release)
	if err := <-firstErr; err != nil {
		t.Fatal(err)
	}
	if _, err := s.QRLogin(context.Background(), gone.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the abandoned write: %v, want ErrNotFound (never applied)", err)
	}
	if _, err := s.QRLogin(context.Background(), first.ID); err != nil {
		t.Fatal(err)
	}
}

// A batch whose connection is lost mid-way (here its backend is
// terminated while a statement waits on a lock: SQLSTATE 57P01) was not
// committed: the statement that met the loss is unavailable, as it would
// be alone, and the others of the batch run again on a new connection.
func TestABatchWhoseBackendIsTerminatedIsNotLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	setup := pgtest.OpenStore(t, url)
	locked := newLogin(t0, "LOCKED02")
	mustCreate(t, setup, locked)
	holdLock(t, url, `SELECT 1 FROM qr_logins WHERE id = $1 FOR UPDATE`, locked.ID)

	s := openHeld(t, postgres.Config{URL: url, KeyEncryptionKey: pgtest.KeyEncryptionKey})
	var good []*storage.QRLogin
	for i := range 5 {
		good = append(good, newLogin(t0, "KEPT"+string(rune('A'+i))+"000"))
	}
	goodErrs := make([]error, len(good))
	var lockedErr error
	var wg sync.WaitGroup
	// The batch: a create (run, then rolled back), the scan (waiting on
	// the lock when its backend goes), the other creates (never run).
	wg.Go(func() { goodErrs[0] = s.CreateQRLogin(ctx, good[0]) })
	<-s.held
	wg.Go(func() { _, lockedErr = s.ApplyQR(ctx, scan(locked.ID, "alice", "t-"+locked.ID, t0)) })
	waitFor(t, "the scan to queue", func() bool { return s.WaitingWrites() == 1 })
	for i, l := range good[1:] {
		wg.Go(func() { goodErrs[i+1] = s.CreateQRLogin(ctx, l) })
	}
	waitFor(t, "the writes to queue", func() bool { return s.WaitingWrites() == len(good) })
	close(s.release)

	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	waitFor(t, "the batch to wait on the lock", func() bool {
		var n int
		err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		return err == nil && n > 0
	})
	wg.Wait()

	if !errors.Is(lockedErr, storage.ErrUnavailable) {
		t.Fatalf("the statement whose backend was terminated: %v, want ErrUnavailable", lockedErr)
	}
	for i, l := range good {
		if goodErrs[i] != nil {
			t.Fatalf("CreateQRLogin(%s) in the batch that lost its backend: %v", l.UserCode, goodErrs[i])
		}
		if _, err := setup.QRLogin(ctx, l.ID); err != nil {
			t.Fatalf("login %s: %v", l.ID, err)
		}
	}
	if got, err := setup.QRLogin(ctx, locked.ID); err != nil || got.Status != storage.StatusPending {
		t.Fatalf("the locked login: %+v (%v), want it pending", got, err)
	}
}

// NOTIFY is delivered at commit: a step that ran in a batch that was then
// rolled back (here by another statement's unique violation) announces
// nothing, and announces once when it runs again alone and commits.
func TestARolledBackBatchAnnouncesOnlyWhatCommitted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	setup := pgtest.OpenStore(t, url)
	l, taken, marker := newLogin(t0, "ANNOUNCE"), newLogin(t0, "TAKENID2"), newLogin(t0, "MARKER01")
	for _, x := range []*storage.QRLogin{l, taken, marker} {
		mustCreate(t, setup, x)
	}
	s := openHeld(t, postgres.Config{URL: url, KeyEncryptionKey: pgtest.KeyEncryptionKey})
	heard := make(chan storage.QRChange, 16)
	t.Cleanup(s.SubscribeQRLogins(func(c storage.QRChange) {
		if c.ID == l.ID || c.ID == marker.ID {
			heard <- c
		}
	}))
	dup := newLogin(t0, "DUPLICA2")
	dup.ID = taken.ID
	var scanErr, dupErr error
	var wg sync.WaitGroup
	wg.Go(func() { _, scanErr = s.ApplyQR(ctx, scan(l.ID, "alice", "t-"+l.ID, t0)) })
	<-s.held // the scan runs first, then the duplicate fails the batch
	wg.Go(func() { dupErr = s.CreateQRLogin(ctx, dup) })
	waitFor(t, "the duplicate to queue", func() bool { return s.WaitingWrites() == 1 })
	close(s.release)
	wg.Wait()
	if scanErr != nil || !errors.Is(dupErr, storage.ErrConflict) {
		t.Fatalf("scan: %v, duplicate: %v; want the scan applied and the duplicate a conflict", scanErr, dupErr)
	}
	// A change committed after: notifications arrive in commit order, so
	// everything announced for the scan is heard before it.
	if _, err := setup.ApplyQR(ctx, scan(marker.ID, "alice", "t-"+marker.ID, t0)); err != nil {
		t.Fatal(err)
	}
	for i, want := range []storage.QRChange{{ID: l.ID, Status: storage.StatusScanned}, {ID: marker.ID, Status: storage.StatusScanned}} {
		select {
		case got := <-heard:
			if got != want {
				t.Fatalf("change %d heard: %+v, want %+v (the scan announced once, then the marker)", i, got, want)
			}
		case <-time.After(wakeWithin):
			t.Fatalf("change %d (%+v) not heard within %v", i, want, wakeWithin)
		}
	}
}
