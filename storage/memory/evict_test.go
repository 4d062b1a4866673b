package memory

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

// Issue 9, bounded memory: once its logins have expired and the cleanup
// has run (idp.Server.Cleanup: DeleteExpired, then the audit and
// notification retention), the store holds nothing of them — no login, no
// index entry (a rescan's replaced ticket included), no token, no session,
// no trail — whether they were redeemed, denied, rescanned or never
// scanned. A leak in any map grows the server's memory with every login.
func TestCleanupLeavesNothingOfFinishedAndExpiredLogins(t *testing.T) {
	ctx := t.Context()
	s := New()
	now := time.Date(2026, time.November, 21, 9, 30, 0, 0, time.UTC)
	if err := s.CreateClient(ctx, &storage.Client{ID: "rp", Name: "RP", Type: storage.ClientConfidential, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, &storage.User{ID: "alice", Username: "alice", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	// What a store holds for its clients and users, which a login does not
	// add to: measured before the logins.
	baseline := s.sizes()

	apply := func(a *storage.Attempt) {
		t.Helper()
		if _, err := s.ApplyQR(ctx, a); err != nil {
			t.Fatalf("%s of %s: %v", a.Event, a.ID+string(a.TicketHash), err)
		}
	}
	const n = 40
	for i := range n {
		l := &storage.QRLogin{
			ID: fmt.Sprintf("login-%d", i), QRIDHash: storage.Hash(fmt.Sprintf("qr-%d", i)),
			DeviceCodeHash: storage.Hash(fmt.Sprintf("device-%d", i)), UserCode: fmt.Sprintf("CODE%04d", i),
			ClientID: "rp", Scopes: []string{"openid", "offline_access"}, Status: storage.StatusPending,
			CreatedAt: now, ExpiresAt: now.Add(2 * time.Minute), Interval: time.Second,
		}
		if i%5 == 4 {
			l.AuthRequestID = fmt.Sprintf("auth-%d", i) // a login of the hosted page
		}
		if err := s.CreateQRLogin(ctx, l); err != nil {
			t.Fatal(err)
		}
		ticket := storage.Hash(fmt.Sprintf("ticket-%d", i))
		scan := func(tk []byte) *storage.Attempt {
			return &storage.Attempt{Event: storage.EventScan, ID: l.ID, Subject: "alice", Session: "s-alice",
				NewTicketHash: tk, TicketExpiresAt: now.Add(time.Minute), IP: "192.0.2.1", Now: now}
		}
		switch i % 4 {
		case 0: // never scanned
		case 1: // scanned twice, then denied
			apply(scan(storage.Hash(fmt.Sprintf("first-ticket-%d", i))))
			apply(scan(ticket))
			apply(&storage.Attempt{Event: storage.EventDeny, TicketHash: ticket, Subject: "alice", Session: "s-alice",
				NotificationID: fmt.Sprintf("n-deny-%d", i), IP: "192.0.2.1", Now: now})
		default: // confirmed and redeemed with an access and a refresh token
			apply(scan(ticket))
			apply(&storage.Attempt{Event: storage.EventConfirm, TicketHash: ticket, Subject: "alice", Session: "s-alice",
				NotificationID: fmt.Sprintf("n-confirm-%d", i), IP: "192.0.2.1", Now: now})
			apply(&storage.Attempt{Event: storage.EventRedeem, ID: l.ID, IP: "192.0.2.2", Now: now,
				Tokens: &storage.Tokens{AccessID: fmt.Sprintf("at-%d", i), AccessExpiresAt: now.Add(time.Hour),
					RefreshID: fmt.Sprintf("rt-%d", i), RefreshHash: storage.Hash(fmt.Sprintf("refresh-%d", i)),
					RefreshExpiresAt: now.Add(24 * time.Hour), AMR: []string{"qr"}}})
		}
	}
	if got := s.sizes(); reflect.DeepEqual(got, baseline) {
		t.Fatal("the logins left no trace at all: the test measures nothing")
	}

	// The cleanup, once everything has expired and its retention passed.
	later := now.Add(48 * time.Hour)
	for {
		d, err := s.DeleteExpired(ctx, later, 7)
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.DeleteAuditEvents(ctx, later, 7)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.DeleteNotifications(ctx, later, 7)
		if err != nil {
			t.Fatal(err)
		}
		if d+a+m == 0 {
			break
		}
	}
	if got := s.sizes(); !reflect.DeepEqual(got, baseline) {
		for k, v := range got {
			if v != baseline[k] {
				t.Errorf("%s holds %d entries after the cleanup, %d before the logins", k, v, baseline[k])
			}
		}
	}
}

// sizes counts the entries of every map of the store.
func (s *Store) sizes() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Map {
			out[v.Type().Field(i).Name] = f.Len()
		}
	}
	return out
}
