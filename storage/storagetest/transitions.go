package storagetest

import (
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

// wakeTimeout bounds how long a subscriber may wait for a wake-up. It is a
// liveness bound (a lost wake-up fails the test instead of hanging it), not
// a latency requirement.
const wakeTimeout = 2 * time.Second

func wantWake(t *testing.T, ch <-chan struct{}, after string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wakeTimeout):
		t.Fatalf("subscriber not woken within %v after %s", wakeTimeout, after)
	}
}

var qrTransitionCases = []testCase{
	{"a scan binds the pending login to the user and its ticket", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := createLogin(t, s, newLogin(1))
		got, err := scanAt(t, s, l.ID, alice, goodTicket, at(scanAfter))
		must(t, err, "ScanQRLogin")
		want := copyLogin(l)
		want.Status = storage.StatusScanned
		want.Subject = alice
		want.ScanSession = sessionOf(alice)
		want.TicketHash = ticketHash(l.ID, goodTicket)
		want.TicketExpiresAt = at(scanAfter + ticketTTL)
		want.ScannedAt = at(scanAfter)
		wantSame(t, got, want, "ScanQRLogin result")
		wantSame(t, getLogin(t, s, l.ID), want, "QRLogin after the scan")
		byTicket, err := s.QRLoginByTicketHash(t.Context(), ticketHash(l.ID, goodTicket))
		must(t, err, "QRLoginByTicketHash")
		wantSame(t, byTicket, want, "QRLoginByTicketHash")
	}},
	{"a scan fails with ErrConflict unless the login is pending, or scanned by the same user, and unexpired", func(t *testing.T, s storage.Store) {
		seed(t, s)
		for i, c := range []struct {
			name  string
			setup func(t *testing.T, id string)
			now   time.Time
		}{
			{"pending but expired", func(t *testing.T, id string) {}, at(qrTTL)},
			{"scanned by another user", func(t *testing.T, id string) {
				_, err := scanAt(t, s, id, bob, "ticket-bob", at(scanAfter))
				must(t, err, "scan by bob")
			}, at(scanAfter + time.Second)},
			{"scanned by the same user but expired", func(t *testing.T, id string) {
				_, err := scanAt(t, s, id, alice, "ticket-alice", at(scanAfter))
				must(t, err, "scan by alice")
			}, at(qrTTL)},
			{"confirmed", func(t *testing.T, id string) {
				_, err := scanAt(t, s, id, alice, goodTicket, at(scanAfter))
				must(t, err, "scan")
				_, err = decideAt(t, s, id, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
				must(t, err, "confirm")
			}, at(decideAfter + time.Second)},
			{"denied", func(t *testing.T, id string) {
				_, err := scanAt(t, s, id, alice, goodTicket, at(scanAfter))
				must(t, err, "scan")
				_, err = decideAt(t, s, id, storage.StatusDenied, alice, goodTicket, at(decideAfter))
				must(t, err, "deny")
			}, at(decideAfter + time.Second)},
			{"redeemed", func(t *testing.T, id string) {
				_, err := scanAt(t, s, id, alice, goodTicket, at(scanAfter))
				must(t, err, "scan")
				_, err = decideAt(t, s, id, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
				must(t, err, "confirm")
				_, err = s.RedeemQRLogin(t.Context(), id, redeemIP, at(redeemAfter))
				must(t, err, "redeem")
			}, at(redeemAfter + time.Second)},
		} {
			t.Run(c.name, func(t *testing.T) {
				l := createLogin(t, s, newLogin(i+1))
				c.setup(t, l.ID)
				before, events := getLogin(t, s, l.ID), auditEvents(t, s, l.ID)
				_, err := scanAt(t, s, l.ID, alice, "ticket-late", c.now)
				wantErr(t, err, storage.ErrConflict, "ScanQRLogin")
				unchanged(t, s, before, events)
				_, err = s.QRLoginByTicketHash(t.Context(), ticketHash(l.ID, "ticket-late"))
				wantErr(t, err, storage.ErrNotFound, "QRLoginByTicketHash(rejected ticket)")
			})
		}
	}},
	{"a rescan by the same user issues a new ticket and voids the old one", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := scannedLogin(t, s, 1)
		got, err := scanAt(t, s, l.ID, alice, secondTicket, at(scanAfter+5*time.Second))
		must(t, err, "rescan")
		if got.Subject != alice || got.Status != storage.StatusScanned {
			t.Fatalf("after rescan: subject %q status %v, want %q scanned", got.Subject, got.Status, alice)
		}
		wantSame(t, got.TicketHash, ticketHash(l.ID, secondTicket), "TicketHash after rescan")
		wantSame(t, got.TicketExpiresAt, at(scanAfter+5*time.Second+ticketTTL), "TicketExpiresAt after rescan")
		_, err = s.QRLoginByTicketHash(ctx, ticketHash(l.ID, goodTicket))
		wantErr(t, err, storage.ErrNotFound, "QRLoginByTicketHash(old ticket)")
		_, err = decideAt(t, s, l.ID, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
		wantErr(t, err, storage.ErrConflict, "confirm with the old ticket")
		_, err = decideAt(t, s, l.ID, storage.StatusConfirmed, alice, secondTicket, at(decideAfter))
		must(t, err, "confirm with the new ticket")
	}},
	{"a decision fails with ErrConflict when made by another session of the user who scanned", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := scannedLogin(t, s, 1)
		before, events := getLogin(t, s, l.ID), auditEvents(t, s, l.ID)
		for _, to := range []storage.Status{storage.StatusConfirmed, storage.StatusDenied} {
			_, err := s.DecideQRLogin(t.Context(), l.ID, storage.Decision{To: to, TicketHash: ticketHash(l.ID, goodTicket),
				Subject: alice, Session: "another-phone-session-of-alice", IP: decideIP, Now: at(decideAfter)})
			wantErr(t, err, storage.ErrConflict, "DecideQRLogin("+to.String()+") from another session")
			unchanged(t, s, before, events)
		}
		_, err := decideAt(t, s, l.ID, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
		must(t, err, "DecideQRLogin by the session that scanned")
	}},
	{"a rescan by another session of the same user moves the ticket to that session", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := scannedLogin(t, s, 1)
		got, err := s.ScanQRLogin(t.Context(), l.ID, storage.Scan{Subject: alice, Session: "second-session", TicketHash: ticketHash(l.ID, secondTicket),
			TicketExpiresAt: at(scanAfter + 5*time.Second + ticketTTL), IP: scanIP, Now: at(scanAfter + 5*time.Second)})
		must(t, err, "rescan from a second session")
		wantSame(t, got.ScanSession, "second-session", "ScanSession after the rescan")
		_, err = decideAt(t, s, l.ID, storage.StatusConfirmed, alice, secondTicket, at(decideAfter))
		wantErr(t, err, storage.ErrConflict, "confirm by the first session with the second session's ticket")
		_, err = s.DecideQRLogin(t.Context(), l.ID, storage.Decision{To: storage.StatusConfirmed, TicketHash: ticketHash(l.ID, secondTicket),
			Subject: alice, Session: "second-session", IP: decideIP, Now: at(decideAfter)})
		must(t, err, "confirm by the second session")
	}},
	{"a decision moves the scanned login to confirmed or denied", func(t *testing.T, s storage.Store) {
		seed(t, s)
		for i, to := range []storage.Status{storage.StatusConfirmed, storage.StatusDenied} {
			t.Run(to.String(), func(t *testing.T) {
				l := scannedLogin(t, s, i+1)
				got, err := decideAt(t, s, l.ID, to, alice, goodTicket, at(decideAfter))
				must(t, err, "DecideQRLogin")
				want := copyLogin(l)
				want.Status = to
				want.DecidedAt = at(decideAfter)
				wantSame(t, got, want, "DecideQRLogin result")
				wantSame(t, getLogin(t, s, l.ID), want, "QRLogin after the decision")
			})
		}
	}},
	{"a decision fails with ErrConflict unless the login is scanned by that user with that unexpired ticket, and changes nothing", func(t *testing.T, s storage.Store) {
		seed(t, s)
		for i, c := range []struct {
			name    string
			scanned bool          // whether alice scans first, at scanAt
			scanAt  time.Duration // when alice scans; her ticket lasts ticketTTL
			ticket  string        // "" sends no ticket hash at all
			subject string
			now     time.Duration
		}{
			{"wrong ticket", true, scanAfter, "ticket-wrong", alice, decideAfter},
			{"no ticket", true, scanAfter, "", alice, decideAfter},
			{"ticket expired", true, scanAfter, goodTicket, alice, scanAfter + ticketTTL},
			{"another user", true, scanAfter, goodTicket, bob, decideAfter},
			{"login expired while the ticket is not", true, qrTTL - 10*time.Second, goodTicket, alice, qrTTL},
			{"login still pending", false, 0, goodTicket, alice, decideAfter},
		} {
			for _, to := range []storage.Status{storage.StatusConfirmed, storage.StatusDenied} {
				t.Run(c.name+" ("+to.String()+")", func(t *testing.T) {
					l := createLogin(t, s, newLogin(10*i+int(to)))
					if c.scanned {
						_, err := scanAt(t, s, l.ID, alice, goodTicket, at(c.scanAt))
						must(t, err, "ScanQRLogin")
					}
					before, events := getLogin(t, s, l.ID), auditEvents(t, s, l.ID)
					d := storage.Decision{To: to, Subject: c.subject, IP: decideIP, Now: at(c.now)}
					if c.ticket != "" {
						d.TicketHash = ticketHash(l.ID, c.ticket)
					}
					_, err := s.DecideQRLogin(t.Context(), l.ID, d)
					wantErr(t, err, storage.ErrConflict, "DecideQRLogin")
					unchanged(t, s, before, events)
				})
			}
		}
	}},
	{"a decision to a status other than confirmed or denied is rejected and changes nothing", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := scannedLogin(t, s, 1)
		before, events := getLogin(t, s, l.ID), auditEvents(t, s, l.ID)
		for _, to := range []storage.Status{storage.StatusInvalid, storage.StatusPending, storage.StatusScanned,
			storage.StatusRedeemed, storage.StatusExpired, storage.Status(200)} {
			if _, err := decideAt(t, s, l.ID, to, alice, goodTicket, at(decideAfter)); err == nil {
				t.Fatalf("DecideQRLogin(To: %d) succeeded", to)
			}
			unchanged(t, s, before, events)
		}
		_, err := decideAt(t, s, l.ID, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
		must(t, err, "a valid decision afterwards")
	}},
	{"a second decision fails with ErrConflict and the first one stands", func(t *testing.T, s storage.Store) {
		seed(t, s)
		n := 0
		for _, first := range []storage.Status{storage.StatusConfirmed, storage.StatusDenied} {
			for _, second := range []storage.Status{storage.StatusConfirmed, storage.StatusDenied} {
				n++
				t.Run(first.String()+" then "+second.String(), func(t *testing.T) {
					l := scannedLogin(t, s, n)
					_, err := decideAt(t, s, l.ID, first, alice, goodTicket, at(decideAfter))
					must(t, err, "first decision")
					before, events := getLogin(t, s, l.ID), auditEvents(t, s, l.ID)
					_, err = decideAt(t, s, l.ID, second, alice, goodTicket, at(decideAfter+time.Second))
					wantErr(t, err, storage.ErrConflict, "second decision")
					unchanged(t, s, before, events)
				})
			}
		}
	}},
	{"a decided login is still found by its spent ticket", func(t *testing.T, s storage.Store) {
		// SPEC §2.3: a second confirm answers 409 qr_already_decided, so the
		// phone's ticket must still lead to the login after it was spent.
		seed(t, s)
		l := confirmedLogin(t, s, 1)
		got, err := s.QRLoginByTicketHash(t.Context(), ticketHash(l.ID, goodTicket))
		must(t, err, "QRLoginByTicketHash(spent ticket)")
		wantSame(t, got, l, "QRLoginByTicketHash(spent ticket)")
	}},
	{"a confirmation records its notification in the same operation", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := scannedLogin(t, s, 1)
		n := newNotification(1, alice, at(decideAfter))
		_, err := s.DecideQRLogin(ctx, l.ID, storage.Decision{
			To: storage.StatusConfirmed, TicketHash: ticketHash(l.ID, goodTicket), Subject: alice,
			Session: sessionOf(alice), IP: decideIP, Now: at(decideAfter), Notification: n,
		})
		must(t, err, "DecideQRLogin")
		got, err := s.Notification(ctx, n.ID)
		must(t, err, "Notification")
		wantSame(t, got, n, "Notification")
		list, err := s.Notifications(ctx, alice, 10)
		must(t, err, "Notifications")
		wantSame(t, list, []*storage.Notification{n}, "Notifications(alice)")
	}},
	{"a failed decision records no notification", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := scannedLogin(t, s, 1)
		n := newNotification(1, alice, at(decideAfter))
		_, err := s.DecideQRLogin(ctx, l.ID, storage.Decision{
			To: storage.StatusConfirmed, TicketHash: ticketHash(l.ID, "ticket-wrong"), Subject: alice,
			IP: decideIP, Now: at(decideAfter), Notification: n,
		})
		wantErr(t, err, storage.ErrConflict, "DecideQRLogin(wrong ticket)")
		_, err = s.Notification(ctx, n.ID)
		wantErr(t, err, storage.ErrNotFound, "Notification after the failed decision")
		list, err := s.Notifications(ctx, alice, 10)
		must(t, err, "Notifications")
		if len(list) != 0 {
			t.Fatalf("Notifications(alice) = %d entries after a failed decision, want 0", len(list))
		}
	}},
	{"a redeem moves the confirmed login to redeemed", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := confirmedLogin(t, s, 1)
		got, err := s.RedeemQRLogin(t.Context(), l.ID, redeemIP, at(redeemAfter))
		must(t, err, "RedeemQRLogin")
		want := copyLogin(l)
		want.Status = storage.StatusRedeemed
		want.RedeemedAt = at(redeemAfter)
		wantSame(t, got, want, "RedeemQRLogin result")
		wantSame(t, getLogin(t, s, l.ID), want, "QRLogin after the redeem")
	}},
	{"a redeem fails with ErrConflict unless the login is confirmed and unexpired, and changes nothing", func(t *testing.T, s storage.Store) {
		seed(t, s)
		for i, c := range []struct {
			name  string
			setup func(t *testing.T, id string)
			now   time.Time
		}{
			{"pending", func(t *testing.T, id string) {}, at(redeemAfter)},
			{"pending and expired", func(t *testing.T, id string) {}, at(qrTTL)},
			{"scanned", func(t *testing.T, id string) {
				_, err := scanAt(t, s, id, alice, goodTicket, at(scanAfter))
				must(t, err, "scan")
			}, at(redeemAfter)},
			{"denied", func(t *testing.T, id string) {
				_, err := scanAt(t, s, id, alice, goodTicket, at(scanAfter))
				must(t, err, "scan")
				_, err = decideAt(t, s, id, storage.StatusDenied, alice, goodTicket, at(decideAfter))
				must(t, err, "deny")
			}, at(redeemAfter)},
			{"confirmed but expired", func(t *testing.T, id string) {
				_, err := scanAt(t, s, id, alice, goodTicket, at(scanAfter))
				must(t, err, "scan")
				_, err = decideAt(t, s, id, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
				must(t, err, "confirm")
			}, at(qrTTL)},
			{"already redeemed", func(t *testing.T, id string) {
				_, err := scanAt(t, s, id, alice, goodTicket, at(scanAfter))
				must(t, err, "scan")
				_, err = decideAt(t, s, id, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
				must(t, err, "confirm")
				_, err = s.RedeemQRLogin(t.Context(), id, redeemIP, at(redeemAfter))
				must(t, err, "redeem")
			}, at(redeemAfter + time.Second)},
		} {
			t.Run(c.name, func(t *testing.T) {
				l := createLogin(t, s, newLogin(i+1))
				c.setup(t, l.ID)
				before, events := getLogin(t, s, l.ID), auditEvents(t, s, l.ID)
				_, err := s.RedeemQRLogin(t.Context(), l.ID, redeemIP, c.now)
				wantErr(t, err, storage.ErrConflict, "RedeemQRLogin")
				unchanged(t, s, before, events)
			})
		}
	}},
	{"transitions of an unknown login fail", func(t *testing.T, s storage.Store) {
		// The contract names no sentinel for a missing row here; either
		// ErrNotFound or ErrConflict lets the caller answer "not found".
		seed(t, s)
		ctx := t.Context()
		_, err := scanAt(t, s, "qrlogin-missing", alice, goodTicket, at(scanAfter))
		wantErrOneOf(t, err, "ScanQRLogin", storage.ErrNotFound, storage.ErrConflict)
		_, err = decideAt(t, s, "qrlogin-missing", storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
		wantErrOneOf(t, err, "DecideQRLogin", storage.ErrNotFound, storage.ErrConflict)
		_, err = s.RedeemQRLogin(ctx, "qrlogin-missing", redeemIP, at(redeemAfter))
		wantErrOneOf(t, err, "RedeemQRLogin", storage.ErrNotFound, storage.ErrConflict)
	}},
	{"the audit trail lists created, scanned, confirmed and redeemed in order with client, subject and ip", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := confirmedLogin(t, s, 1)
		_, err := s.RedeemQRLogin(t.Context(), l.ID, redeemIP, at(redeemAfter))
		must(t, err, "RedeemQRLogin")
		wantSame(t, auditEvents(t, s, l.ID), []storage.AuditEvent{
			{QRLoginID: l.ID, Event: "created", ClientID: clientRP, IP: requesterIP, At: base},
			{QRLoginID: l.ID, Event: "scanned", ClientID: clientRP, Subject: alice, IP: scanIP, At: at(scanAfter)},
			{QRLoginID: l.ID, Event: "confirmed", ClientID: clientRP, Subject: alice, IP: decideIP, At: at(decideAfter)},
			{QRLoginID: l.ID, Event: "redeemed", ClientID: clientRP, Subject: alice, IP: redeemIP, At: at(redeemAfter)},
		}, "QRAuditEvents")
	}},
	{"the audit trail records a rescan and a denial", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := scannedLogin(t, s, 1)
		_, err := scanAt(t, s, l.ID, alice, secondTicket, at(scanAfter+time.Second))
		must(t, err, "rescan")
		_, err = decideAt(t, s, l.ID, storage.StatusDenied, alice, secondTicket, at(decideAfter))
		must(t, err, "deny")
		wantSame(t, auditEvents(t, s, l.ID), []storage.AuditEvent{
			{QRLoginID: l.ID, Event: "created", ClientID: clientRP, IP: requesterIP, At: base},
			{QRLoginID: l.ID, Event: "scanned", ClientID: clientRP, Subject: alice, IP: scanIP, At: at(scanAfter)},
			{QRLoginID: l.ID, Event: "scanned", ClientID: clientRP, Subject: alice, IP: scanIP, At: at(scanAfter + time.Second)},
			{QRLoginID: l.ID, Event: "denied", ClientID: clientRP, Subject: alice, IP: decideIP, At: at(decideAfter)},
		}, "QRAuditEvents")
	}},
	{"a subscriber is woken by scan, decision and redeem", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := createLogin(t, s, newLogin(1))
		ch, cancel := s.SubscribeQRLogin(l.ID)
		defer cancel()
		_, err := scanAt(t, s, l.ID, alice, goodTicket, at(scanAfter))
		must(t, err, "scan")
		wantWake(t, ch, "the scan")
		_, err = decideAt(t, s, l.ID, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
		must(t, err, "confirm")
		wantWake(t, ch, "the confirmation")
		_, err = s.RedeemQRLogin(ctx, l.ID, redeemIP, at(redeemAfter))
		must(t, err, "redeem")
		wantWake(t, ch, "the redeem")
	}},
	{"a subscriber is woken by a denial", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := scannedLogin(t, s, 1)
		ch, cancel := s.SubscribeQRLogin(l.ID)
		defer cancel()
		_, err := decideAt(t, s, l.ID, storage.StatusDenied, alice, goodTicket, at(decideAfter))
		must(t, err, "deny")
		wantWake(t, ch, "the denial")
	}},
	{"cancel releases a subscription and may be called twice", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := createLogin(t, s, newLogin(1))
		// Backends that embed storage.Hub expose Waiters; the count is the
		// direct evidence that cancel released the subscription.
		w, counted := s.(interface{ Waiters() int })
		ch, cancel := s.SubscribeQRLogin(l.ID)
		if counted && w.Waiters() != 1 {
			t.Fatalf("Waiters() = %d with one subscription, want 1", w.Waiters())
		}
		cancel()
		cancel()
		if counted && w.Waiters() != 0 {
			t.Fatalf("Waiters() = %d after cancel, want 0", w.Waiters())
		}
		_, err := scanAt(t, s, l.ID, alice, goodTicket, at(scanAfter))
		must(t, err, "scan")
		select {
		case _, open := <-ch:
			t.Fatalf("cancelled subscription received a wake-up (channel open: %v)", open)
		case <-time.After(100 * time.Millisecond):
		}
	}},
}
