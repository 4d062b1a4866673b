package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 123456000, time.UTC)

func newLogin(now time.Time, code string) *storage.QRLogin {
	id := storage.NewSecret(9)
	return &storage.QRLogin{
		ID:             id,
		QRIDHash:       storage.Hash("qr-" + id),
		DeviceCodeHash: storage.Hash("dc-" + id),
		UserCode:       code,
		ClientID:       "rp",
		Scopes:         []string{"openid", "profile"},
		Nonce:          "n-0S6_WzA2Mj",
		RequesterIP:    "192.0.2.7",
		Status:         storage.StatusPending,
		CreatedAt:      now,
		ExpiresAt:      now.Add(2 * time.Minute),
		Interval:       time.Second,
	}
}

func mustCreate(t *testing.T, s storage.Store, l *storage.QRLogin) {
	t.Helper()
	if err := s.CreateQRLogin(context.Background(), l); err != nil {
		t.Fatalf("CreateQRLogin: %v", err)
	}
}

func scan(subject, ticket string, now time.Time) storage.Scan {
	return storage.Scan{Subject: subject, TicketHash: storage.Hash(ticket), TicketExpiresAt: now.Add(time.Minute), IP: "198.51.100.1", Now: now}
}

func TestQRLoginLifecycleRecordsEachStepAndItsAuditEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	l := newLogin(t0, "BCDFGHJK")
	mustCreate(t, s, l)

	got, err := s.PollQRLogin(ctx, l.DeviceCodeHash, "rp", t0.Add(time.Second))
	if err != nil {
		t.Fatalf("first poll: %v", err)
	}
	if !got.LastPollAt.IsZero() || got.LastPollStatus != storage.StatusInvalid {
		t.Errorf("first poll saw previous poll %v/%v, want none", got.LastPollAt, got.LastPollStatus)
	}
	if got.Interval != time.Second || got.Nonce != l.Nonce || got.CreatedAt != t0 {
		t.Errorf("poll returned %+v, want the created login", got)
	}
	if _, err := s.ScanQRLogin(ctx, l.ID, scan("alice", "t1", t0.Add(2*time.Second))); err != nil {
		t.Fatalf("scan: %v", err)
	}
	got, err = s.PollQRLogin(ctx, l.DeviceCodeHash, "rp", t0.Add(3*time.Second))
	if err != nil {
		t.Fatalf("second poll: %v", err)
	}
	if got.LastPollAt != t0.Add(time.Second) || got.LastPollStatus != storage.StatusPending || got.Status != storage.StatusScanned {
		t.Errorf("second poll: last %v/%v status %v; want %v/pending, scanned", got.LastPollAt, got.LastPollStatus, got.Status, t0.Add(time.Second))
	}
	n := &storage.Notification{ID: "n1", Subject: "alice", ClientID: "rp", ClientName: "RP", SessionID: "sess", CreatedAt: t0.Add(4 * time.Second)}
	dec, err := s.DecideQRLogin(ctx, l.ID, storage.Decision{To: storage.StatusConfirmed, TicketHash: storage.Hash("t1"), Subject: "alice", IP: "198.51.100.1", Now: t0.Add(4 * time.Second), Notification: n})
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if dec.Status != storage.StatusConfirmed || dec.DecidedAt != t0.Add(4*time.Second) {
		t.Errorf("confirm returned %v at %v", dec.Status, dec.DecidedAt)
	}
	if _, err := s.Notification(ctx, "n1"); err != nil {
		t.Errorf("notification of the confirmation: %v", err)
	}
	red, err := s.RedeemQRLogin(ctx, l.ID, "192.0.2.7", t0.Add(5*time.Second))
	if err != nil {
		t.Fatalf("redeem: %v", err)
	}
	if red.Status != storage.StatusRedeemed || red.Subject != "alice" {
		t.Errorf("redeem returned %v for %q", red.Status, red.Subject)
	}
	if _, err := s.RedeemQRLogin(ctx, l.ID, "192.0.2.7", t0.Add(6*time.Second)); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("second redeem: %v, want ErrConflict", err)
	}
	events, err := s.QRAuditEvents(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range events {
		names = append(names, e.Event)
	}
	if fmt.Sprint(names) != "[created scanned confirmed redeemed]" {
		t.Errorf("audit trail %v", names)
	}
	if e := events[1]; e.Subject != "alice" || e.IP != "198.51.100.1" || e.ClientID != "rp" || e.At != t0.Add(2*time.Second) {
		t.Errorf("scanned event %+v", e)
	}
}

func TestQRTransitionPreconditions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	confirmWith := func(ticket, subject string, at time.Time) storage.Decision {
		return storage.Decision{To: storage.StatusConfirmed, TicketHash: storage.Hash(ticket), Subject: subject, Now: at}
	}
	tests := []struct {
		name string
		run  func(l *storage.QRLogin) error
		want error
	}{
		{"a second user cannot take over a scanned login", func(l *storage.QRLogin) error {
			s.ScanQRLogin(ctx, l.ID, scan("alice", "t1-"+l.ID, t0))
			_, err := s.ScanQRLogin(ctx, l.ID, scan("mallory", "t2-"+l.ID, t0))
			return err
		}, storage.ErrConflict},
		{"a rescan by the same user voids the old ticket", func(l *storage.QRLogin) error {
			s.ScanQRLogin(ctx, l.ID, scan("alice", "t1-"+l.ID, t0))
			s.ScanQRLogin(ctx, l.ID, scan("alice", "t2-"+l.ID, t0))
			_, err := s.DecideQRLogin(ctx, l.ID, confirmWith("t1-"+l.ID, "alice", t0))
			return err
		}, storage.ErrConflict},
		{"a scan after expiry fails", func(l *storage.QRLogin) error {
			_, err := s.ScanQRLogin(ctx, l.ID, scan("alice", "t1-"+l.ID, l.ExpiresAt))
			return err
		}, storage.ErrConflict},
		{"a decision by another user fails", func(l *storage.QRLogin) error {
			s.ScanQRLogin(ctx, l.ID, scan("alice", "t1-"+l.ID, t0))
			_, err := s.DecideQRLogin(ctx, l.ID, confirmWith("t1-"+l.ID, "mallory", t0))
			return err
		}, storage.ErrConflict},
		{"an expired ticket cannot decide", func(l *storage.QRLogin) error {
			s.ScanQRLogin(ctx, l.ID, scan("alice", "t1-"+l.ID, t0))
			_, err := s.DecideQRLogin(ctx, l.ID, confirmWith("t1-"+l.ID, "alice", t0.Add(time.Minute)))
			return err
		}, storage.ErrConflict},
		{"a ticket decides once", func(l *storage.QRLogin) error {
			s.ScanQRLogin(ctx, l.ID, scan("alice", "t1-"+l.ID, t0))
			s.DecideQRLogin(ctx, l.ID, storage.Decision{To: storage.StatusDenied, TicketHash: storage.Hash("t1-" + l.ID), Subject: "alice", Now: t0})
			_, err := s.DecideQRLogin(ctx, l.ID, confirmWith("t1-"+l.ID, "alice", t0))
			return err
		}, storage.ErrConflict},
		{"a pending login cannot be redeemed", func(l *storage.QRLogin) error {
			_, err := s.RedeemQRLogin(ctx, l.ID, "", t0)
			return err
		}, storage.ErrConflict},
		{"a confirmed login cannot be redeemed after expiry", func(l *storage.QRLogin) error {
			s.ScanQRLogin(ctx, l.ID, scan("alice", "t1-"+l.ID, t0))
			s.DecideQRLogin(ctx, l.ID, confirmWith("t1-"+l.ID, "alice", t0))
			_, err := s.RedeemQRLogin(ctx, l.ID, "", l.ExpiresAt)
			return err
		}, storage.ErrConflict},
		{"an unknown login is not found", func(l *storage.QRLogin) error {
			_, err := s.RedeemQRLogin(ctx, "no-such-id", "", t0)
			return err
		}, storage.ErrNotFound},
		{"a poll by another client finds nothing", func(l *storage.QRLogin) error {
			_, err := s.PollQRLogin(ctx, l.DeviceCodeHash, "other-rp", t0)
			return err
		}, storage.ErrNotFound},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogin(t0, fmt.Sprintf("PRECOND%d", i))
			mustCreate(t, s, l)
			if err := tt.run(l); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestScanBindingNeverSwitchesUnderRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	l := newLogin(t0, "RACESCAN")
	mustCreate(t, s, l)
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := map[string]bool{}
	for _, u := range users {
		wg.Go(func() {
			if _, err := s.ScanQRLogin(ctx, l.ID, scan(u, "t-"+u, t0)); err == nil {
				mu.Lock()
				winners[u] = true
				mu.Unlock()
			} else if !errors.Is(err, storage.ErrConflict) {
				t.Errorf("scan by %s: %v", u, err)
			}
		})
	}
	wg.Wait()
	got, err := s.QRLogin(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(winners) != 1 || !winners[got.Subject] {
		t.Errorf("winners %v, stored subject %q: want exactly one, the stored one", winners, got.Subject)
	}
}

func TestConcurrentRedeemsHaveExactlyOneWinner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	l := newLogin(t0, "REDEEM50")
	mustCreate(t, s, l)
	if _, err := s.ScanQRLogin(ctx, l.ID, scan("alice", "t1", t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DecideQRLogin(ctx, l.ID, storage.Decision{To: storage.StatusConfirmed, TicketHash: storage.Hash("t1"), Subject: "alice", Now: t0}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for range 50 {
		wg.Go(func() {
			_, err := s.RedeemQRLogin(ctx, l.ID, "192.0.2.7", t0.Add(time.Second))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, storage.ErrConflict):
				conflicts++
			default:
				t.Errorf("redeem: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || conflicts != 49 {
		t.Errorf("%d wins, %d conflicts; want 1 and 49", wins, conflicts)
	}
	events, _ := s.QRAuditEvents(ctx, l.ID)
	if n := len(events); n != 4 {
		t.Errorf("%d audit events, want 4 (one redeemed)", n)
	}
}

// Concurrent polls of one login queue on the row lock, so each sees the
// poll recorded just before it: the previous-poll times they return are
// all different, and all but one of them are other polls' times.
func TestConcurrentPollsEachSeeTheirPredecessor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	l := newLogin(t0, "POLLRACE")
	mustCreate(t, s, l)
	const n = 20
	prev := make([]time.Time, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			got, err := s.PollQRLogin(ctx, l.DeviceCodeHash, "rp", t0.Add(time.Duration(i+1)*time.Millisecond))
			if err != nil {
				t.Errorf("poll: %v", err)
				return
			}
			prev[i] = got.LastPollAt
		})
	}
	wg.Wait()
	seen := map[time.Time]bool{}
	for _, p := range prev {
		if seen[p] {
			t.Fatalf("two polls saw the same previous poll %v: a poll was lost", p)
		}
		seen[p] = true
	}
	if !seen[time.Time{}] {
		t.Errorf("no poll saw 'never polled'")
	}
}

func TestUserCodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)

	t.Run("a code held by an unexpired login cannot be reused", func(t *testing.T) {
		a := newLogin(t0, "HELDCODE")
		mustCreate(t, s, a)
		b := newLogin(a.ExpiresAt.Add(-time.Microsecond), "HELDCODE")
		if err := s.CreateQRLogin(ctx, b); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("create: %v, want ErrConflict", err)
		}
		if _, err := s.QRLogin(ctx, b.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the refused login was stored: %v", err)
		}
	})
	t.Run("a code is free again once its login expired", func(t *testing.T) {
		a := newLogin(t0, "FREECODE")
		mustCreate(t, s, a)
		b := newLogin(a.ExpiresAt, "FREECODE")
		mustCreate(t, s, b)
		got, err := s.QRLoginByUserCode(ctx, "FREECODE", b.CreatedAt)
		if err != nil || got.ID != b.ID {
			t.Fatalf("by code: %v %v, want the new login", got, err)
		}
		if old, err := s.QRLogin(ctx, a.ID); err != nil || old.UserCode != "FREECODE" {
			t.Errorf("the expired login lost its row or code: %v %v", old, err)
		}
	})
	t.Run("an expired login is not found by code", func(t *testing.T) {
		a := newLogin(t0, "LATECODE")
		mustCreate(t, s, a)
		if _, err := s.QRLoginByUserCode(ctx, "LATECODE", a.ExpiresAt); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("of concurrent creates with one code exactly one wins", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 10 {
			wg.Go(func() {
				err := s.CreateQRLogin(ctx, newLogin(t0, "SAMECODE"))
				if err != nil && !errors.Is(err, storage.ErrConflict) {
					t.Errorf("create: %v", err)
				}
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d wins, want 1", wins)
		}
	})
	t.Run("a colliding hash leaves the code free", func(t *testing.T) {
		a := newLogin(t0, "HASHCOL1")
		mustCreate(t, s, a)
		b := newLogin(t0, "HASHCOL2")
		b.QRIDHash = a.QRIDHash
		if err := s.CreateQRLogin(ctx, b); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("create: %v, want ErrConflict", err)
		}
		mustCreate(t, s, newLogin(t0, "HASHCOL2"))
	})
}

func TestDeleteExpiredWorksInBoundedBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	var expired []*storage.QRLogin
	for i := range 5 {
		l := newLogin(t0, fmt.Sprintf("EXPIRE%02d", i))
		mustCreate(t, s, l)
		expired = append(expired, l)
	}
	live := newLogin(t0.Add(time.Hour), "LIVELOGN")
	mustCreate(t, s, live)
	before := t0.Add(30 * time.Minute)

	// Count this test's own logins only: the limit is per kind and call,
	// so each call may remove at most 2 of them.
	gone := func() int {
		n := 0
		for _, l := range expired {
			if _, err := s.QRLogin(ctx, l.ID); errors.Is(err, storage.ErrNotFound) {
				n++
			}
		}
		return n
	}
	for prev := 0; prev < len(expired); {
		if _, err := s.DeleteExpired(ctx, before, 2); err != nil {
			t.Fatal(err)
		}
		now := gone()
		if now-prev > 2 || now == prev {
			t.Fatalf("a call took the expired logins from %d to %d gone; the limit is 2 per call", prev, now)
		}
		prev = now
	}
	for _, l := range expired {
		if _, err := s.QRLogin(ctx, l.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("expired login %s survived: %v", l.ID, err)
		}
		if ev, _ := s.QRAuditEvents(ctx, l.ID); len(ev) != 2 || ev[1].Event != "expired" {
			t.Errorf("expired login %s left the audit trail %+v, want created and expired", l.ID, ev)
		}
	}
	if _, err := s.QRLoginByUserCode(ctx, "LIVELOGN", t0.Add(time.Hour)); err != nil {
		t.Errorf("live login gone: %v", err)
	}
}
