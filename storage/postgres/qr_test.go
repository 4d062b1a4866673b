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

func scan(id, subject, ticket string, now time.Time) *storage.Attempt {
	return &storage.Attempt{Event: storage.EventScan, ID: id, Subject: subject, Session: "s-" + subject,
		NewTicketHash: storage.Hash(ticket), TicketExpiresAt: now.Add(time.Minute), IP: "198.51.100.1", Now: now}
}

func confirm(id, subject, ticket string, now time.Time) *storage.Attempt {
	return &storage.Attempt{Event: storage.EventConfirm, ID: id, TicketHash: storage.Hash(ticket), Subject: subject,
		Session: "s-" + subject, Now: now}
}

func redeem(id string, now time.Time) *storage.Attempt {
	return &storage.Attempt{Event: storage.EventRedeem, ID: id, Now: now}
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
