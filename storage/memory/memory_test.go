package memory_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
	"github.com/qrlogin/qrlogin/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s := memory.New()
		t.Cleanup(s.Close)
		return s
	})
}

var now = time.Date(2026, time.November, 21, 9, 30, 0, 0, time.UTC)

func login(n int) *storage.QRLogin {
	return &storage.QRLogin{
		ID:             fmt.Sprintf("login-%d", n),
		QRIDHash:       storage.Hash(fmt.Sprintf("qr-%d", n)),
		DeviceCodeHash: storage.Hash(fmt.Sprintf("device-%d", n)),
		UserCode:       fmt.Sprintf("CODE-%04d", n),
		ClientID:       "rp",
		Status:         storage.StatusPending,
		CreatedAt:      now,
		ExpiresAt:      now.Add(2 * time.Minute),
		Interval:       time.Second,
	}
}

func scan(id, subject string, ticket []byte) *storage.Attempt {
	return &storage.Attempt{Event: storage.EventScan, ID: id, Subject: subject, Session: "s-" + subject,
		NewTicketHash: ticket, TicketExpiresAt: now.Add(time.Minute), Now: now}
}

func decide(id, subject string, ticket []byte) *storage.Attempt {
	return &storage.Attempt{Event: storage.EventConfirm, ID: id, TicketHash: ticket, Subject: subject, Session: "s-" + subject, Now: now}
}

// Input no caller should send is an error, never a panic (a nil pointer
// dereference would take the server down with it).
func TestBadInputIsAnError(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	if err := s.CreateQRLogin(ctx, login(1)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"a nil client", func() error { return s.CreateClient(ctx, nil) }},
		{"a client without id", func() error { return s.CreateClient(ctx, &storage.Client{}) }},
		{"a nil user", func() error { return s.CreateUser(ctx, nil) }},
		{"a user without username", func() error { return s.CreateUser(ctx, &storage.User{ID: "u"}) }},
		{"a nil QR login", func() error { return s.CreateQRLogin(ctx, nil) }},
		{"a QR login without qr id hash", func() error { return s.CreateQRLogin(ctx, &storage.QRLogin{ID: "x"}) }},
		{"a scan without subject", func() error {
			_, err := s.ApplyQR(ctx, scan("login-1", "", storage.Hash("t")))
			return err
		}},
		{"a scan without ticket", func() error {
			_, err := s.ApplyQR(ctx, scan("login-1", "alice", nil))
			return err
		}},
		{"an attempt without a key", func() error {
			_, err := s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventRedeem, Now: now})
			return err
		}},
		{"a bearer without token", func() error {
			a := scan("login-1", "alice", storage.Hash("t"))
			a.Bearer = &storage.Bearer{}
			_, err := s.ApplyQR(ctx, a)
			return err
		}},
		{"a nil auth request", func() error { return s.CreateAuthRequest(ctx, nil) }},
		{"an empty auth code", func() error { return s.SaveAuthCode(ctx, "x", nil) }},
		{"a completion without subject", func() error { return s.CompleteAuthRequest(ctx, "x", "", now, nil, "") }},
		{"a nil access token", func() error { return s.CreateAccessToken(ctx, nil) }},
		{"a nil refresh token", func() error { return s.CreateRefreshToken(ctx, nil) }},
		{"a refresh token without hash", func() error { return s.CreateRefreshToken(ctx, &storage.RefreshToken{ID: "r"}) }},
		{"a nil successor", func() error { return s.RotateRefreshToken(ctx, storage.Hash("r"), nil, now) }},
		{"a nil signing key", func() error { return s.CreateSigningKey(ctx, nil) }},
		{"a nil admin token", func() error { return s.CreateAdminToken(ctx, nil) }},
		{"a nil notification", func() error { return s.CreateNotification(ctx, nil) }},
		{"a missing secret without generator", func() error { _, err := s.Secret(ctx, "x", nil); return err }},
		{"a generator returning nothing", func() error { _, err := s.Secret(ctx, "x", func() []byte { return nil }); return err }},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	got, err := s.QRLogin(ctx, "login-1")
	if err != nil || got.Status != storage.StatusPending || got.Interval != time.Second {
		t.Fatalf("login changed by rejected input: %+v, %v", got, err)
	}
}

func TestTicketOfAnotherLoginIsAConflict(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	for n := 1; n <= 2; n++ {
		if err := s.CreateQRLogin(ctx, login(n)); err != nil {
			t.Fatal(err)
		}
	}
	ticket := storage.Hash("ticket")
	if _, err := s.ApplyQR(ctx, scan("login-1", "alice", ticket)); err != nil {
		t.Fatal(err)
	}
	_, err := s.ApplyQR(ctx, scan("login-2", "bob", ticket))
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("scan with another login's ticket: %v, want ErrConflict", err)
	}
	got, err := s.QRLoginByTicketHash(ctx, ticket)
	if err != nil || got.ID != "login-1" {
		t.Fatalf("ticket now leads to %v (%v), want login-1", got, err)
	}
}

func TestDecisionWithATakenNotificationIDChangesNothing(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	if err := s.CreateQRLogin(ctx, login(1)); err != nil {
		t.Fatal(err)
	}
	ticket := storage.Hash("ticket")
	if _, err := s.ApplyQR(ctx, scan("login-1", "alice", ticket)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNotification(ctx, &storage.Notification{ID: "n", Subject: "bob", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	confirm := decide("login-1", "alice", ticket)
	confirm.NotificationID = "n"
	_, err := s.ApplyQR(ctx, confirm)
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("confirm: %v, want ErrConflict", err)
	}
	got, _ := s.QRLogin(ctx, "login-1")
	if got.Status != storage.StatusScanned {
		t.Fatalf("status = %v after the failed decision, want scanned", got.Status)
	}
	if n, _ := s.Notifications(ctx, "alice", 10); len(n) != 0 {
		t.Fatalf("alice has %d notifications, want 0", len(n))
	}
}

func TestDeleteExpiredForgetsIndexes(t *testing.T) {
	// A deleted login must free its hashes and user code: a later login may
	// reuse them (in real use only the user code repeats).
	ctx := t.Context()
	s := memory.New()
	old := login(1)
	old.AuthRequestID = "ar"
	if err := s.CreateQRLogin(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyQR(ctx, scan(old.ID, "alice", storage.Hash("ticket"))); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteExpired(ctx, old.ExpiresAt.Add(time.Second), 10); err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want 1", n, err)
	}
	for what, err := range map[string]error{
		"by qr id":    errOf(s.QRLoginByQRIDHash(ctx, old.QRIDHash)),
		"by ticket":   errOf(s.QRLoginByTicketHash(ctx, storage.Hash("ticket"))),
		"by code":     errOf(s.QRLoginByUserCode(ctx, old.UserCode, now)),
		"by auth req": errOf(s.QRLoginByAuthRequest(ctx, "ar")),
		"by device":   errOf(s.QRLoginByDeviceCode(ctx, old.DeviceCodeHash)),
	} {
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("lookup %s after deletion: %v, want ErrNotFound", what, err)
		}
	}
	if ev, _ := s.QRAuditEvents(ctx, old.ID); len(ev) == 0 || ev[len(ev)-1].Event != "expired" {
		t.Errorf("audit trail after deletion: %+v, want it kept with an expired event", ev)
	}
	again := login(1)
	again.CreatedAt, again.ExpiresAt = now.Add(time.Hour), now.Add(time.Hour+2*time.Minute)
	if err := s.CreateQRLogin(ctx, again); err != nil {
		t.Fatalf("re-creating with the freed id and hashes: %v", err)
	}
}

func errOf[T any](_ T, err error) error { return err }

func TestDeleteExpiredWithoutLimitDeletesNothing(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	if err := s.CreateQRLogin(ctx, login(1)); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{0, -1} {
		if n, err := s.DeleteExpired(ctx, now.Add(time.Hour), limit); n != 0 || err != nil {
			t.Fatalf("DeleteExpired(limit %d) = %d, %v; want 0, nil", limit, n, err)
		}
	}
}

// Benchmarks. The memory store is the default and backs the other
// packages' benchmarks, so its hot paths (the poll, the lookups by hash and
// one login's whole life) are measured here.

func BenchmarkQRLoginByDeviceCode(b *testing.B) {
	ctx := b.Context()
	s := memory.New()
	const logins = 1000
	for n := range logins {
		if err := s.CreateQRLogin(ctx, login(n)); err != nil {
			b.Fatal(err)
		}
	}
	hashes := make([][]byte, logins)
	for n := range hashes {
		hashes[n] = storage.Hash(fmt.Sprintf("device-%d", n))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.QRLoginByDeviceCode(ctx, hashes[i%logins]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkQRLoginByQRIDHash(b *testing.B) {
	ctx := b.Context()
	s := memory.New()
	if err := s.CreateQRLogin(ctx, login(1)); err != nil {
		b.Fatal(err)
	}
	h := storage.Hash("qr-1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.QRLoginByQRIDHash(ctx, h); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkQRLoginLife(b *testing.B) {
	ctx := b.Context()
	s := memory.New()
	if err := s.CreateUser(ctx, &storage.User{ID: "alice", Username: "alice", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l := login(i)
		ticket := storage.Hash(fmt.Sprintf("ticket-%d", i))
		if err := s.CreateQRLogin(ctx, l); err != nil {
			b.Fatal(err)
		}
		if _, err := s.ApplyQR(ctx, scan(l.ID, "alice", ticket)); err != nil {
			b.Fatal(err)
		}
		if _, err := s.ApplyQR(ctx, decide(l.ID, "alice", ticket)); err != nil {
			b.Fatal(err)
		}
		if _, err := s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventRedeem, ID: l.ID, IP: "192.0.2.1", Now: now}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConformanceShared runs the cross-instance rules with one store as
// both instances: memory cannot be shared between processes, but the same
// races on one store must hold all the same.
func TestConformanceShared(t *testing.T) {
	storagetest.RunShared(t, func(t *testing.T) (storage.Store, storage.Store) {
		s := memory.New()
		t.Cleanup(s.Close)
		return s, s
	})
}
