package idp_test

import (
	"context"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage"
)

// Cleanup removes expired logins in batches until none is left, keeping
// their audit trail (with an expired event) until its retention ends.
func TestCleanupRemovesExpiredRowsKeepsTheAuditTrail(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	var ids []string
	for range 3 {
		r := s.start(t, nil)
		l, err := s.store.QRLoginByUserCode(ctx, r.UserCode[:4]+r.UserCode[5:], s.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	s.clock.Advance(10 * time.Minute)
	n, err := s.idp.Cleanup(ctx)
	if err != nil || n < 3 {
		t.Fatalf("Cleanup = %d, %v; want the 3 expired logins gone", n, err)
	}
	for _, id := range ids {
		if _, err := s.store.QRLogin(ctx, id); err == nil {
			t.Fatalf("login %s survived the cleanup", id)
		}
		ev, _ := s.store.QRAuditEvents(ctx, id)
		if len(ev) != 2 || ev[1].Event != "expired" {
			t.Fatalf("audit trail of %s: %+v", id, ev)
		}
	}
	s.clock.Advance(91 * 24 * time.Hour)
	if _, err := s.idp.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if ev, _ := s.store.QRAuditEvents(ctx, ids[0]); len(ev) != 0 {
		t.Fatalf("audit events outlived their retention: %+v", ev)
	}
}

// Issue 8, finding 11: sign-in notifications end with their retention
// (NotificationRetention, serve --notification-retention), removed by the
// cleanup batches on both stores; younger ones stay.
func TestCleanupRemovesNotificationsPastTheirRetention(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		ctx := context.Background()
		now := s.clock.Now().UTC().Truncate(time.Microsecond)
		mk := func(id string, age time.Duration) *storage.Notification {
			n := &storage.Notification{ID: id, Subject: s.users["alice"], ClientID: rpID, ClientName: "Example Shop",
				SessionID: "session-" + id, CreatedAt: now.Add(-age)}
			if err := s.store.CreateNotification(ctx, n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		old := mk("old", 31*24*time.Hour)
		young := mk("young", 29*24*time.Hour)
		if _, err := s.idp.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.store.Notification(ctx, old.ID); err == nil {
			t.Fatal("a notification older than the 30-day retention survived the cleanup")
		}
		if _, err := s.store.Notification(ctx, young.ID); err != nil {
			t.Fatalf("a notification within its retention was removed: %v", err)
		}
	}, func(c *idp.Config) { c.NotificationRetention = 30 * 24 * time.Hour })
}

// Expired browser sessions go with the cleanup batches, on both stores;
// live ones stay.
func TestCleanupRemovesExpiredBrowserSessions(t *testing.T) {
	onBothStores(t, func(t *testing.T, s *testServer) {
		ctx := context.Background()
		signedIn(t, s, newBrowser(t, s), "alice")
		signedAt := s.clock.Now()
		s.clock.Advance(6 * time.Hour)
		signedIn(t, s, newBrowser(t, s), "bob")
		s.clock.Advance(6*time.Hour + 2*time.Minute) // alice's 12 h are over, bob's are not
		if _, err := s.idp.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
		// Read as of the sign-in, when both were live: only deletion
		// explains an empty list.
		if l, err := s.store.BrowserSessions(ctx, s.users["alice"], signedAt); err != nil || len(l) != 0 {
			t.Fatalf("alice's expired session survived the cleanup: %d (%v)", len(l), err)
		}
		if l, err := s.store.BrowserSessions(ctx, s.users["bob"], s.clock.Now()); err != nil || len(l) != 1 {
			t.Fatalf("bob's live session: %d (%v)", len(l), err)
		}
	})
}
