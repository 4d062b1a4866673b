package grants_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

// feedStore is the memory store with the announcements in the test's
// hands: none reaches the grant unless the test sends it (as if every
// NOTIFY were lost or late), and reads by device code are counted, with a
// hook that runs while one is in progress.
type feedStore struct {
	*memory.Store
	mu     sync.Mutex
	heard  func(storage.QRChange)
	reads  atomic.Int64
	during func()
}

func (f *feedStore) SubscribeQRLogins(fn func(storage.QRChange)) func() {
	f.mu.Lock()
	f.heard = fn
	f.mu.Unlock()
	return func() {}
}

func (f *feedStore) announce(c storage.QRChange) {
	f.mu.Lock()
	fn := f.heard
	f.mu.Unlock()
	fn(c)
}

func (f *feedStore) QRLoginByDeviceCode(ctx context.Context, h []byte) (*storage.QRLogin, error) {
	f.reads.Add(1)
	l, err := f.Store.QRLoginByDeviceCode(ctx, h)
	if f.during != nil {
		f.during()
		f.during = nil
	}
	return l, err
}

var now = time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)

func setup(t *testing.T) (*grants.QR, *feedStore, *storage.QRLogin, string) {
	t.Helper()
	f := &feedStore{Store: memory.New()}
	q, err := grants.New(grants.Config{Store: f, Issuer: "https://op.example", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	// A login started by another instance: this one has no view of it.
	const deviceCode = "device-code-1"
	l := &storage.QRLogin{ID: "login-1", QRIDHash: storage.Hash("qr-1"), DeviceCodeHash: storage.Hash(deviceCode),
		UserCode: "BCDFGHJK", ClientID: "rp", Scopes: []string{"openid"}, Status: storage.StatusPending,
		CreatedAt: now, ExpiresAt: now.Add(2 * time.Minute), Interval: time.Second}
	if err := f.CreateQRLogin(t.Context(), l); err != nil {
		t.Fatal(err)
	}
	return q, f, l, deviceCode
}

func scan(t *testing.T, f *feedStore, l *storage.QRLogin) {
	t.Helper()
	_, err := f.ApplyQR(t.Context(), &storage.Attempt{Event: storage.EventScan, ID: l.ID, Subject: "alice",
		Session: "phone", NewTicketHash: storage.Hash("ticket"), TicketExpiresAt: now.Add(time.Minute), Now: now})
	if err != nil {
		t.Fatal(err)
	}
}

func qrStatus(t *testing.T, q *grants.QR, deviceCode string) string {
	t.Helper()
	_, err := q.Poll(t.Context(), grants.PollRequest{DeviceCode: deviceCode, ClientID: "rp"})
	var e *oauth.Error
	if !errors.As(err, &e) || e.Code != oauth.AuthorizationPending {
		t.Fatalf("poll: %v, want authorization_pending", err)
	}
	s, _ := e.Extra["qr_status"].(string)
	return s
}

// A login's first poll on an instance reads it once; a poll whose answer
// did not change reads nothing.
func TestPollsOfAnUnchangedLoginReadOnce(t *testing.T) {
	q, f, _, dc := setup(t)
	for range 3 {
		if s := qrStatus(t, q, dc); s != "pending" {
			t.Fatalf("qr_status %q, want pending", s)
		}
		now = now.Add(2 * time.Second) // past the interval: no slow_down
	}
	if n := f.reads.Load(); n != 1 {
		t.Fatalf("3 polls read the login %d times, want 1", n)
	}
}

// A change announced while the login was being read (a NOTIFY racing a
// SELECT) is not lost: the view takes the newer of the two.
func TestAChangeAnnouncedDuringTheReadIsKept(t *testing.T) {
	q, f, l, dc := setup(t)
	f.during = func() {
		scan(t, f, l) // after the read saw pending
		f.announce(storage.QRChange{ID: l.ID, Status: storage.StatusScanned})
	}
	if s := qrStatus(t, q, dc); s != "scanned" {
		t.Fatalf("qr_status %q, want scanned (announced during the read)", s)
	}
}

// After "changes may have been missed" (a lost LISTEN connection) the
// view is not trusted: the next poll reads the login again.
func TestAfterMissedChangesThePollReadsAgain(t *testing.T) {
	q, f, l, dc := setup(t)
	if s := qrStatus(t, q, dc); s != "pending" {
		t.Fatalf("qr_status %q, want pending", s)
	}
	scan(t, f, l) // its announcement is lost
	now = now.Add(2 * time.Second)
	if s := qrStatus(t, q, dc); s != "pending" {
		t.Fatalf("qr_status %q: the view knew of an unannounced change", s)
	}
	f.announce(storage.QRChange{})
	now = now.Add(2 * time.Second)
	if s := qrStatus(t, q, dc); s != "scanned" {
		t.Fatalf("qr_status %q after the missed changes were announced, want scanned", s)
	}
	if n := f.reads.Load(); n != 2 {
		t.Fatalf("%d reads, want 2 (the first poll, and the one after the missed changes)", n)
	}
}

// An announcement without a status (an older instance's NOTIFY) makes
// the view read the login, and wakes a held long-poll to do so.
func TestAChangeOfUnknownStatusIsRead(t *testing.T) {
	q, f, l, dc := setup(t)
	qrStatus(t, q, dc)
	now = now.Add(2 * time.Second)
	done := make(chan string)
	go func() {
		_, err := q.Poll(context.Background(), grants.PollRequest{DeviceCode: dc, ClientID: "rp", Wait: 10 * time.Second})
		var e *oauth.Error
		errors.As(err, &e)
		s, _ := e.Extra["qr_status"].(string)
		done <- s
	}()
	for q.Held() == 0 {
		time.Sleep(time.Millisecond)
	}
	scan(t, f, l)
	f.announce(storage.QRChange{ID: l.ID})
	select {
	case s := <-done:
		if s != "scanned" {
			t.Fatalf("the held long-poll answered %q, want scanned", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held long-poll was not woken by a change of unknown status")
	}
}

// another creates a pending login as another instance would, expiring
// ttl from now, and returns its device code.
func another(t *testing.T, f *feedStore, n string, ttl time.Duration) (*storage.QRLogin, string) {
	t.Helper()
	dc := "device-code-" + n
	l := &storage.QRLogin{ID: "login-" + n, QRIDHash: storage.Hash("qr-" + n), DeviceCodeHash: storage.Hash(dc),
		UserCode: "BCDFGHJ" + n, ClientID: "rp", Scopes: []string{"openid"}, Status: storage.StatusPending,
		CreatedAt: now, ExpiresAt: now.Add(ttl), Interval: time.Second}
	if err := f.CreateQRLogin(t.Context(), l); err != nil {
		t.Fatal(err)
	}
	return l, dc
}

// longPoll starts a long-poll of dc and returns where its qr_status (or
// the error) arrives, once it is held or answered.
func longPoll(t *testing.T, q *grants.QR, dc string) <-chan string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		_, err := q.Poll(context.Background(), grants.PollRequest{DeviceCode: dc, ClientID: "rp", Wait: time.Hour})
		var e *oauth.Error
		if !errors.As(err, &e) {
			done <- "error: " + err.Error()
			return
		}
		s, _ := e.Extra["qr_status"].(string)
		done <- s
	}()
	return done
}

// Past maxViews a login's view is not kept, so no announcement reaches
// it: a long-poll on it is answered at once instead of being held for the
// full wait, deaf to the scan (the load report: after tens of thousands of
// starts, scan-to-scanned took the whole wait and no login completed).
func TestALongPollOfALoginPastMaxViewsIsNotHeld(t *testing.T) {
	q, f, _, dc := setup(t)
	q.SetMaxViews(1)
	qrStatus(t, q, dc) // login-1 takes the one view
	l2, dc2 := another(t, f, "2", 2*time.Minute)
	done := longPoll(t, q, dc2)
	select {
	case s := <-done:
		if s != "pending" {
			t.Fatalf("the long-poll answered %q, want pending", s)
		}
	case <-time.After(5 * time.Second):
		// Held on a view no announcement reaches: show it stays deaf.
		scan(t, f, l2)
		f.announce(storage.QRChange{ID: l2.ID, Status: storage.StatusScanned})
		select {
		case s := <-done:
			t.Fatalf("held, then answered %q", s)
		case <-time.After(5 * time.Second):
			t.Fatal("a long-poll of an untracked login is held and not woken by its scan's announcement")
		}
	}
}

// Views of expired logins make room for new ones even once maxViews was
// reached: the instance does not stay full (and its long-polls deaf) until
// a restart.
func TestExpiredViewsMakeRoomPastMaxViews(t *testing.T) {
	q, f, _, dc := setup(t)
	q.SetMaxViews(1)
	qrStatus(t, q, dc) // login-1 takes the one view
	now = now.Add(2*time.Minute + 2*time.Minute)
	l2, dc2 := another(t, f, "2", 2*time.Minute)
	qrStatus(t, q, dc2) // login-1 expired long ago: login-2 is kept
	now = now.Add(2 * time.Second)
	done := longPoll(t, q, dc2)
	for q.Held() == 0 {
		select {
		case s := <-done:
			t.Fatalf("the long-poll answered %q at once: login-2's view was not kept", s)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	scan(t, f, l2)
	f.announce(storage.QRChange{ID: l2.ID, Status: storage.StatusScanned})
	select {
	case s := <-done:
		if s != "scanned" {
			t.Fatalf("the held long-poll answered %q, want scanned", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held long-poll was not woken by the scan's announcement")
	}
	if n := f.reads.Load(); n != 2 {
		t.Fatalf("%d reads, want 2 (each login's first poll)", n)
	}
}
