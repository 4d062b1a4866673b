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
	return s.ScanQRLogin(t.Context(), id, storage.Scan{
		Subject:         subject,
		Session:         sessionOf(subject),
		TicketHash:      ticketHash(id, ticket),
		TicketExpiresAt: now.Add(ticketTTL),
		IP:              scanIP,
		Now:             now,
	})
}

func decideAt(t *testing.T, s storage.Store, id string, to storage.Status, subject, ticket string, now time.Time) (*storage.QRLogin, error) {
	return s.DecideQRLogin(t.Context(), id, storage.Decision{
		To:         to,
		TicketHash: ticketHash(id, ticket),
		Subject:    subject,
		Session:    sessionOf(subject),
		IP:         decideIP,
		Now:        now,
	})
}

// scannedLogin creates login n and lets alice scan it with goodTicket.
func scannedLogin(t *testing.T, s storage.Store, n int) *storage.QRLogin {
	t.Helper()
	l := createLogin(t, s, newLogin(n))
	got, err := scanAt(t, s, l.ID, alice, goodTicket, at(scanAfter))
	must(t, err, "ScanQRLogin")
	return got
}

// confirmedLogin creates login n, lets alice scan it and confirm it.
func confirmedLogin(t *testing.T, s storage.Store, n int) *storage.QRLogin {
	t.Helper()
	l := scannedLogin(t, s, n)
	got, err := decideAt(t, s, l.ID, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
	must(t, err, "DecideQRLogin")
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
	{"a created QR login reads back by id, by qr id hash and by device code poll", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := createLogin(t, s, newLogin(1))
		got, err := s.QRLogin(ctx, l.ID)
		must(t, err, "QRLogin")
		wantSame(t, got, l, "QRLogin")
		got, err = s.QRLoginByQRIDHash(ctx, l.QRIDHash)
		must(t, err, "QRLoginByQRIDHash")
		wantSame(t, got, l, "QRLoginByQRIDHash")
		got, err = s.PollQRLogin(ctx, l.DeviceCodeHash, clientRP, at(time.Second))
		must(t, err, "PollQRLogin")
		wantSame(t, got, l, "PollQRLogin")
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
		_, err = s.PollQRLogin(ctx, storage.Hash("device-code-missing"), clientRP, base)
		wantErr(t, err, storage.ErrNotFound, "PollQRLogin")
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
			_, err = s.PollQRLogin(ctx, h, clientRP, at(time.Second))
			wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("PollQRLogin(%#v)", h))
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
	{"PollQRLogin returns the login as before the poll and records the poll's time and stored status", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := createLogin(t, s, newLogin(1))
		poll := func(now time.Time) *storage.QRLogin {
			t.Helper()
			got, err := s.PollQRLogin(ctx, l.DeviceCodeHash, clientRP, now)
			must(t, err, "PollQRLogin")
			return got
		}
		want := copyLogin(l)
		wantSame(t, poll(at(1*time.Second)), want, "first poll")
		want.LastPollAt, want.LastPollStatus = at(1*time.Second), storage.StatusPending
		wantSame(t, poll(at(3*time.Second)), want, "second poll")

		sc, err := scanAt(t, s, l.ID, alice, goodTicket, at(scanAfter))
		must(t, err, "ScanQRLogin")
		want = copyLogin(sc)
		want.LastPollAt, want.LastPollStatus = at(3*time.Second), storage.StatusPending
		wantSame(t, poll(at(11*time.Second)), want, "poll after the scan")
		want.LastPollAt, want.LastPollStatus = at(11*time.Second), storage.StatusScanned
		wantSame(t, poll(at(12*time.Second)), want, "second poll after the scan")
		want.LastPollAt = at(12 * time.Second)
		wantSame(t, getLogin(t, s, l.ID), want, "QRLogin after the polls")

		// Past ExpiresAt the effective status is expired, but the poll
		// records the stored one (the contract says so; StatusAt derives
		// the rest).
		poll(at(qrTTL + time.Second))
		want.LastPollAt = at(qrTTL + time.Second)
		wantSame(t, poll(at(qrTTL+2*time.Second)), want, "poll after expiry")
	}},
	{"PollQRLogin by another client is not found and records nothing", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := createLogin(t, s, newLogin(1))
		_, err := s.PollQRLogin(t.Context(), l.DeviceCodeHash, clientOther, at(time.Second))
		wantErr(t, err, storage.ErrNotFound, "PollQRLogin(other client)")
		wantSame(t, getLogin(t, s, l.ID), l, "login after the foreign poll")
	}},
	{"RecordQRAnswer overwrites the last poll's status and time, the zero time as none", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := createLogin(t, s, newLogin(1))
		_, err := s.PollQRLogin(ctx, l.DeviceCodeHash, clientRP, at(time.Second))
		must(t, err, "PollQRLogin")
		must(t, s.RecordQRAnswer(ctx, l.ID, storage.StatusScanned, time.Time{}), "RecordQRAnswer")
		got := getLogin(t, s, l.ID)
		if !got.LastPollAt.IsZero() || got.LastPollStatus != storage.StatusScanned {
			t.Fatalf("after RecordQRAnswer: LastPollAt %v, LastPollStatus %v", got.LastPollAt, got.LastPollStatus)
		}
		must(t, s.RecordQRAnswer(ctx, l.ID, storage.StatusPending, at(2*time.Second)), "RecordQRAnswer")
		prev, err := s.PollQRLogin(ctx, l.DeviceCodeHash, clientRP, at(3*time.Second))
		must(t, err, "PollQRLogin")
		if !prev.LastPollAt.Equal(at(2*time.Second)) || prev.LastPollStatus != storage.StatusPending {
			t.Fatalf("poll saw LastPollAt %v, LastPollStatus %v", prev.LastPollAt, prev.LastPollStatus)
		}
		wantErrOneOf(t, s.RecordQRAnswer(ctx, "no-such-login", storage.StatusPending, at(time.Second)), "RecordQRAnswer(unknown)", storage.ErrNotFound)
	}},
	{"SetQRInterval persists the poll interval", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := createLogin(t, s, newLogin(1))
		must(t, s.SetQRInterval(ctx, l.ID, 6*time.Second), "SetQRInterval")
		if got := getLogin(t, s, l.ID).Interval; got != 6*time.Second {
			t.Fatalf("Interval = %v, want 6s", got)
		}
		must(t, s.SetQRInterval(ctx, l.ID, 11*time.Second), "SetQRInterval")
		got, err := s.PollQRLogin(ctx, l.DeviceCodeHash, clientRP, at(time.Second))
		must(t, err, "PollQRLogin")
		if got.Interval != 11*time.Second {
			t.Fatalf("polled Interval = %v, want 11s", got.Interval)
		}
	}},
}
