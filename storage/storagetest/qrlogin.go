package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

const (
	qrTTL     = 2 * time.Minute
	ticketTTL = 60 * time.Second

	// The times of a login's life in the fixtures, relative to base.
	scanAfter    = 10 * time.Second
	decideAfter  = 20 * time.Second
	redeemAfter  = 30 * time.Second
	scanIP       = "198.51.100.10"
	decideIP     = "198.51.100.20"
	redeemIP     = "192.0.2.30"
	requesterIP  = "203.0.113.7"
	requesterUA  = "Mozilla/5.0 (X11; Linux x86_64)"
	goodTicket   = "ticket-good"
	secondTicket = "ticket-second"
)

// newLogin returns a pending login numbered n, created at base and expiring
// qrTTL later. Different n never share an ID, hash or user code.
func newLogin(n int) *storage.QRLogin {
	return &storage.QRLogin{
		ID:                 fmt.Sprintf("qrlogin-%d", n),
		QRIDHash:           storage.Hash(fmt.Sprintf("qr-id-%d", n)),
		DeviceCodeHash:     storage.Hash(fmt.Sprintf("device-code-%d", n)),
		UserCode:           fmt.Sprintf("BCDF-%04d", n),
		ClientID:           clientRP,
		Scopes:             []string{"openid", "profile", "offline_access"},
		Nonce:              fmt.Sprintf("nonce-%d", n),
		RequesterIP:        requesterIP,
		RequesterUserAgent: requesterUA,
		RequesterReported:  true,
		Status:             storage.StatusPending,
		CreatedAt:          base,
		ExpiresAt:          base.Add(qrTTL),
		Interval:           time.Second,
	}
}

func copyLogin(l *storage.QRLogin) *storage.QRLogin {
	c := *l
	return &c
}

func createLogin(t *testing.T, s storage.Store, l *storage.QRLogin) *storage.QRLogin {
	t.Helper()
	must(t, s.CreateQRLogin(t.Context(), l), "CreateQRLogin("+l.ID+")")
	return l
}

// ticketHash is the hash of the ticket called name of login id. Tickets are
// random in real use, so the fixtures make each login's tickets distinct.
func ticketHash(id, name string) []byte {
	return storage.Hash(id + "/" + name)
}

// sessionOf is the phone session the fixtures scan and decide with.
func sessionOf(subject string) string { return "phone-session-of-" + subject }

func scanAt(t *testing.T, s storage.Store, id, subject, ticket string, now time.Time) (*storage.QRLogin, error) {
	return applied(s.ApplyQR(t.Context(), &storage.Attempt{
		Event:           storage.EventScan,
		ID:              id,
		Subject:         subject,
		Session:         sessionOf(subject),
		NewTicketHash:   ticketHash(id, ticket),
		TicketExpiresAt: now.Add(ticketTTL),
		IP:              scanIP,
		Now:             now,
	}))
}

// decision is the event that decides to status to: confirm or deny, and
// for any other status an event ApplyQR must refuse.
func decision(to storage.Status) storage.Event {
	switch to {
	case storage.StatusConfirmed:
		return storage.EventConfirm
	case storage.StatusDenied:
		return storage.EventDeny
	}
	return storage.EventInvalid
}

func decideAt(t *testing.T, s storage.Store, id string, to storage.Status, subject, ticket string, now time.Time) (*storage.QRLogin, error) {
	return applied(s.ApplyQR(t.Context(), &storage.Attempt{
		Event:      decision(to),
		ID:         id,
		TicketHash: ticketHash(id, ticket),
		Subject:    subject,
		Session:    sessionOf(subject),
		IP:         decideIP,
		Now:        now,
	}))
}

func redeemAt(t *testing.T, s storage.Store, id, ip string, now time.Time) (*storage.QRLogin, error) {
	return applied(s.ApplyQR(t.Context(), &storage.Attempt{Event: storage.EventRedeem, ID: id, IP: ip, Now: now}))
}

// applied is the login an ApplyQR call left, or its error.
func applied(a *storage.Applied, err error) (*storage.QRLogin, error) {
	if err != nil {
		return nil, err
	}
	return a.Login, nil
}

// scannedLogin creates login n and lets alice scan it with goodTicket.
func scannedLogin(t *testing.T, s storage.Store, n int) *storage.QRLogin {
	t.Helper()
	l := createLogin(t, s, newLogin(n))
	got, err := scanAt(t, s, l.ID, alice, goodTicket, at(scanAfter))
	must(t, err, "scan")
	return got
}

// confirmedLogin creates login n, lets alice scan it and confirm it.
func confirmedLogin(t *testing.T, s storage.Store, n int) *storage.QRLogin {
	t.Helper()
	l := scannedLogin(t, s, n)
	got, err := decideAt(t, s, l.ID, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
	must(t, err, "confirm")
	return got
}

func getLogin(t *testing.T, s storage.Store, id string) *storage.QRLogin {
	t.Helper()
	l, err := s.QRLogin(t.Context(), id)
	must(t, err, "QRLogin("+id+")")
	return l
}

func auditEvents(t *testing.T, s storage.Store, id string) []storage.AuditEvent {
	t.Helper()
	ev, err := s.QRAuditEvents(t.Context(), id)
	must(t, err, "QRAuditEvents("+id+")")
	return ev
}

// unchanged fails unless the login and its audit trail are as before.
func unchanged(t *testing.T, s storage.Store, before *storage.QRLogin, events []storage.AuditEvent) {
	t.Helper()
	wantSame(t, getLogin(t, s, before.ID), before, "login after the failed call")
	wantSame(t, auditEvents(t, s, before.ID), events, "audit trail after the failed call")
}

var qrLoginCases = []testCase{
	{"a created QR login reads back by id, by qr id hash and by device code", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := createLogin(t, s, newLogin(1))
		got, err := s.QRLogin(ctx, l.ID)
		must(t, err, "QRLogin")
		wantSame(t, got, l, "QRLogin")
		got, err = s.QRLoginByQRIDHash(ctx, l.QRIDHash)
		must(t, err, "QRLoginByQRIDHash")
		wantSame(t, got, l, "QRLoginByQRIDHash")
		got, err = s.QRLoginByDeviceCode(ctx, l.DeviceCodeHash)
		must(t, err, "QRLoginByDeviceCode")
		wantSame(t, got, l, "QRLoginByDeviceCode")
	}},
	{"unknown ids and hashes are not found", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		createLogin(t, s, newLogin(1))
		_, err := s.QRLogin(ctx, "qrlogin-missing")
		wantErr(t, err, storage.ErrNotFound, "QRLogin")
		_, err = s.QRLoginByQRIDHash(ctx, storage.Hash("qr-id-missing"))
		wantErr(t, err, storage.ErrNotFound, "QRLoginByQRIDHash")
		_, err = s.QRLoginByTicketHash(ctx, storage.Hash("ticket-missing"))
		wantErr(t, err, storage.ErrNotFound, "QRLoginByTicketHash")
		_, err = s.QRLoginByUserCode(ctx, "XXXX-XXXX", base)
		wantErr(t, err, storage.ErrNotFound, "QRLoginByUserCode")
		_, err = s.QRLoginByAuthRequest(ctx, "authreq-missing")
		wantErr(t, err, storage.ErrNotFound, "QRLoginByAuthRequest")
		_, err = s.QRLoginByDeviceCode(ctx, storage.Hash("device-code-missing"))
		wantErr(t, err, storage.ErrNotFound, "QRLoginByDeviceCode")
	}},
	{"an empty hash matches no login, not even one whose hash is unset", func(t *testing.T, s storage.Store) {
		// A pending login has no ticket and a hosted-page login has no
		// device code; neither may be reachable with an empty secret.
		seed(t, s)
		ctx := t.Context()
		createLogin(t, s, newLogin(1))
		mustCreateAuthRequest(t, s, newAuthRequest(1))
		l := newLogin(2)
		l.DeviceCodeHash = nil
		l.AuthRequestID = newAuthRequest(1).ID
		createLogin(t, s, l)
		for _, h := range [][]byte{nil, {}} {
			_, err := s.QRLoginByTicketHash(ctx, h)
			wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("QRLoginByTicketHash(%#v)", h))
			_, err = s.QRLoginByDeviceCode(ctx, h)
			wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("QRLoginByDeviceCode(%#v)", h))
		}
	}},
	{"creating a QR login whose id, hash or live user code is taken fails with ErrConflict and stores nothing", func(t *testing.T, s storage.Store) {
		seed(t, s)
		for i, c := range []struct {
			name  string
			clash func(l, taken *storage.QRLogin)
		}{
			{"same id", func(l, taken *storage.QRLogin) { l.ID = taken.ID }},
			{"same qr id hash", func(l, taken *storage.QRLogin) { l.QRIDHash = taken.QRIDHash }},
			{"same device code hash", func(l, taken *storage.QRLogin) { l.DeviceCodeHash = taken.DeviceCodeHash }},
			{"same user code while the first is unexpired", func(l, taken *storage.QRLogin) {
				l.UserCode = taken.UserCode
				l.CreatedAt = taken.ExpiresAt.Add(-time.Microsecond)
				l.ExpiresAt = l.CreatedAt.Add(qrTTL)
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				taken := createLogin(t, s, newLogin(10*i+1))
				l := newLogin(10*i + 2)
				c.clash(l, taken)
				wantErr(t, s.CreateQRLogin(t.Context(), l), storage.ErrConflict, "CreateQRLogin")
				wantSame(t, getLogin(t, s, taken.ID), taken, "the first login")
				if l.ID != taken.ID {
					_, err := s.QRLogin(t.Context(), l.ID)
					wantErr(t, err, storage.ErrNotFound, "QRLogin(rejected)")
				}
				if string(l.QRIDHash) != string(taken.QRIDHash) {
					_, err := s.QRLoginByQRIDHash(t.Context(), l.QRIDHash)
					wantErr(t, err, storage.ErrNotFound, "QRLoginByQRIDHash(rejected)")
				}
				if n := len(auditEvents(t, s, taken.ID)); n != 1 {
					t.Fatalf("the first login has %d audit events, want 1 (created)", n)
				}
			})
		}
	}},
	{"a user code is reusable from the instant its login expired", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		old := createLogin(t, s, newLogin(1))
		l := newLogin(2)
		l.UserCode = old.UserCode
		l.CreatedAt = old.ExpiresAt // StatusAt: expired at ExpiresAt
		l.ExpiresAt = l.CreatedAt.Add(qrTTL)
		createLogin(t, s, l)
		got, err := s.QRLoginByUserCode(ctx, l.UserCode, l.CreatedAt)
		must(t, err, "QRLoginByUserCode")
		wantSame(t, got, l, "QRLoginByUserCode after reuse")
	}},
	{"QRLoginByUserCode finds the login until it expires", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := createLogin(t, s, newLogin(1))
		createLogin(t, s, newLogin(2))
		got, err := s.QRLoginByUserCode(ctx, l.UserCode, l.ExpiresAt.Add(-time.Microsecond))
		must(t, err, "QRLoginByUserCode before expiry")
		wantSame(t, got, l, "QRLoginByUserCode")
		_, err = s.QRLoginByUserCode(ctx, l.UserCode, l.ExpiresAt)
		wantErr(t, err, storage.ErrNotFound, "QRLoginByUserCode at expiry")
	}},
	{"QRLoginByAuthRequest finds the newest login of that request, and logins without device code coexist", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		a1, a2 := newAuthRequest(1), newAuthRequest(2)
		mustCreateAuthRequest(t, s, a1)
		mustCreateAuthRequest(t, s, a2)
		var logins []*storage.QRLogin
		for i, c := range []struct {
			authReq string
			created time.Duration
		}{{a1.ID, 0}, {a1.ID, 30 * time.Second}, {a2.ID, time.Minute}} {
			l := newLogin(i + 1)
			l.DeviceCodeHash = nil // SPEC §2.5: a hosted-page login has no device code
			l.AuthRequestID = c.authReq
			l.CreatedAt = at(c.created)
			l.ExpiresAt = l.CreatedAt.Add(qrTTL)
			logins = append(logins, createLogin(t, s, l))
		}
		got, err := s.QRLoginByAuthRequest(ctx, a1.ID)
		must(t, err, "QRLoginByAuthRequest(a1)")
		wantSame(t, got, logins[1], "QRLoginByAuthRequest(a1)")
		got, err = s.QRLoginByAuthRequest(ctx, a2.ID)
		must(t, err, "QRLoginByAuthRequest(a2)")
		wantSame(t, got, logins[2], "QRLoginByAuthRequest(a2)")
	}},
}
