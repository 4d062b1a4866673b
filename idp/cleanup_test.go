package idp_test

import (
	"context"
	"testing"
	"time"
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
