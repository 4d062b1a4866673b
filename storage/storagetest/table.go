package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/grants/rules"
	"github.com/qrlogin/qrlogin/storage"
)

// The transition cases are generated from rules.Table, the one place the
// QR login's rules are written, so that every backend's mechanism (the
// memory store's helper, PostgreSQL's conditional statements) is held to
// the same rows:
//
//   - every row applies when all its guards hold, records what the row
//     says (rules.Apply), appends its audit event (rules.AuditEvent) and
//     announces the new status;
//   - every guard of every row, broken, refuses the attempt and changes
//     nothing;
//   - every (status, event) pair without a row refuses and changes nothing.
//
// Scan, confirm, deny, redeem, mismatch and second scan go through
// ApplyQR; void through UpdateUser's SignOut; expire through DeleteExpired.
// The logins have every defence of their client on (defendedLogin), so
// that every guard can hold and be broken.

// tableNow is when a generated attempt is made: after every step of the
// path that brought its login to the row's from-status, before the
// tickets of that path expire (scanAfter + ticketTTL) and before the
// login does (qrTTL).
var tableNow = at(40 * time.Second)

// pathTo returns the events that lead a new login to status s, found in
// the table (breadth first from pending, by ApplyQR's events); nil when s
// is pending, false when no path exists.
func pathTo(s storage.Status) ([]storage.Event, bool) {
	type node struct {
		s    storage.Status
		path []storage.Event
	}
	seen := map[storage.Status]bool{storage.StatusPending: true}
	queue := []node{{s: storage.StatusPending}}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n.s == s {
			return n.path, true
		}
		for _, r := range rules.Table {
			if r.From != n.s || seen[r.To] || !viaApply(r.On) {
				continue
			}
			seen[r.To] = true
			queue = append(queue, node{s: r.To, path: append(append([]storage.Event(nil), n.path...), r.On)})
		}
	}
	return nil, false
}

func viaApply(e storage.Event) bool {
	switch e {
	case storage.EventScan, storage.EventConfirm, storage.EventDeny, storage.EventRedeem, storage.EventMismatch, storage.EventSecondScan:
		return true
	}
	return false
}

// The number a defended login asks for, and a wrong one it offers.
const (
	matchNumber = 42
	wrongNumber = 17
)

// defendedLogin is newLogin(n) with every defence of its client on:
// number matching, the second-scan alarm, and a session choice the user
// may not change (so that choosing the other one can be refused).
func defendedLogin(n int) *storage.QRLogin {
	l := newLogin(n)
	l.MatchNumber, l.MatchChoices = matchNumber, []int{wrongNumber, matchNumber, 85}
	l.SecondScanAlarm = true
	l.SessionChoice = storage.SessionKeep
	return l
}

// reach creates defended login n and walks it to status s (see reachFrom).
func reach(t *testing.T, s storage.Store, n int, status storage.Status) *storage.QRLogin {
	t.Helper()
	return reachFrom(t, s, defendedLogin(n), status)
}

// reachFrom creates l and walks it to status s by the table's shortest
// path: alice scans at scanAfter, decides at decideAfter (with the number
// the login asks for), redeems at redeemAfter.
func reachFrom(t *testing.T, s storage.Store, l *storage.QRLogin, status storage.Status) *storage.QRLogin {
	t.Helper()
	path, ok := pathTo(status)
	if !ok {
		t.Fatalf("the table has no path from pending to %s", status)
	}
	l = createLogin(t, s, l)
	for _, e := range path {
		var err error
		switch e {
		case storage.EventScan:
			l, err = scanAt(t, s, l.ID, alice, goodTicket, at(scanAfter))
		case storage.EventConfirm, storage.EventDeny, storage.EventMismatch:
			l, err = applied(s.ApplyQR(t.Context(), &storage.Attempt{Event: e, ID: l.ID, TicketHash: ticketHash(l.ID, goodTicket),
				Subject: alice, Session: sessionOf(alice), MatchNumber: l.MatchNumber, IP: decideIP, Now: at(decideAfter)}))
		case storage.EventRedeem:
			l, err = redeemAt(t, s, l.ID, redeemIP, at(redeemAfter))
		default:
			t.Fatalf("reach: no way to make %s", e)
		}
		must(t, err, fmt.Sprintf("walking login %s to %s: %s", l.ID, status, e))
	}
	return l
}

// attemptOn is an attempt of event e on login l that every guard of the
// table allows, for a login of the fixtures in a state reach made.
func attemptOn(e storage.Event, l *storage.QRLogin) *storage.Attempt {
	a := &storage.Attempt{Event: e, ID: l.ID, Subject: alice, Now: tableNow}
	switch e {
	case storage.EventScan:
		a.Session = sessionOf(alice)
		a.NewTicketHash = ticketHash(l.ID, "ticket-table")
		a.TicketExpiresAt = tableNow.Add(ticketTTL)
		a.IP = scanIP
	case storage.EventConfirm, storage.EventDeny, storage.EventMismatch:
		a.TicketHash = l.TicketHash
		a.Session = l.ScanSession
		a.IP = decideIP
		a.MatchNumber = l.MatchNumber
		if e == storage.EventMismatch {
			a.MatchNumber = wrongNumber
		}
	case storage.EventSecondScan:
		a.Subject, a.Session = bob, sessionOf(bob)
		a.IP = scanIP
	case storage.EventRedeem:
		a.IP = redeemIP
	case storage.EventExpire:
		a.Now = l.ExpiresAt.Add(time.Microsecond)
	}
	return a
}

// attempt makes a through the backend's mechanism for its event and
// returns the login as the mechanism reports it (nil for expire, which
// removes it), or the refusal.
func attempt(t *testing.T, s storage.Store, a *storage.Attempt) (*storage.QRLogin, error) {
	t.Helper()
	ctx := t.Context()
	switch a.Event {
	case storage.EventVoid:
		before := getLogin(t, s, a.ID)
		_, err := s.UpdateUser(ctx, a.Subject, storage.UserUpdate{
			SignOut: &storage.SignOut{KeepSession: a.KeepSession, Now: a.Now, Until: a.Now.Add(time.Hour)}})
		if err != nil {
			return nil, err
		}
		after := getLogin(t, s, a.ID)
		if after.Status == before.Status {
			return nil, fmt.Errorf("not voided: %w", storage.ErrConflict)
		}
		return after, nil
	case storage.EventExpire:
		if _, err := s.DeleteExpired(ctx, a.Now, 1000); err != nil {
			return nil, err
		}
		if _, err := s.QRLogin(ctx, a.ID); err == nil {
			return nil, fmt.Errorf("not removed: %w", storage.ErrConflict)
		}
		return nil, nil
	}
	return applied(s.ApplyQR(ctx, a))
}

// breaks makes guard g fail for attempt a on login l (reached by reach),
// leaving the other guards as they were where the fixtures allow it.
var breaks = map[rules.Guard]func(t *testing.T, s storage.Store, l *storage.QRLogin, a *storage.Attempt){
	rules.Live: func(t *testing.T, s storage.Store, l *storage.QRLogin, a *storage.Attempt) {
		if a.Event == storage.EventConfirm || a.Event == storage.EventDeny {
			// A ticket that outlives the login, so that only the login's
			// expiry refuses (grants never issues one: it checks both).
			_, err := s.ApplyQR(t.Context(), &storage.Attempt{Event: storage.EventScan, ID: l.ID, Subject: alice,
				Session: l.ScanSession, NewTicketHash: ticketHash(l.ID, "ticket-long"),
				TicketExpiresAt: l.ExpiresAt.Add(time.Hour), IP: scanIP, Now: tableNow})
			must(t, err, "rescan with a ticket outliving the login")
			a.TicketHash = ticketHash(l.ID, "ticket-long")
		}
		a.Now = l.ExpiresAt
	},
	rules.Past: func(_ *testing.T, _ storage.Store, l *storage.QRLogin, a *storage.Attempt) {
		a.Now = l.ExpiresAt.Add(-time.Microsecond)
	},
	rules.NoOtherUser: func(_ *testing.T, _ storage.Store, _ *storage.QRLogin, a *storage.Attempt) {
		a.Subject, a.Session = bob, sessionOf(bob)
	},
	rules.SameUser: func(_ *testing.T, _ storage.Store, _ *storage.QRLogin, a *storage.Attempt) { a.Subject = bob },
	rules.SameSession: func(_ *testing.T, _ storage.Store, _ *storage.QRLogin, a *storage.Attempt) {
		a.Session = "another-session-of-alice"
	},
	rules.HoldsTicket: func(_ *testing.T, _ storage.Store, l *storage.QRLogin, a *storage.Attempt) {
		a.TicketHash = ticketHash(l.ID, "ticket-wrong")
	},
	rules.TicketLive: func(_ *testing.T, _ storage.Store, l *storage.QRLogin, a *storage.Attempt) {
		a.Now = l.TicketExpiresAt
	},
	rules.SessionLive: func(t *testing.T, s storage.Store, l *storage.QRLogin, _ *storage.Attempt) {
		must(t, s.RevokeSession(t.Context(), l.ID, at(48*time.Hour)), "RevokeSession")
	},
	rules.UserActive: func(t *testing.T, s storage.Store, l *storage.QRLogin, _ *storage.Attempt) {
		_, err := s.UpdateUser(t.Context(), l.Subject, storage.UserUpdate{Disabled: ptr(true)})
		must(t, err, "disable the user")
	},
	rules.NotKept: func(_ *testing.T, _ storage.Store, l *storage.QRLogin, a *storage.Attempt) {
		a.KeepSession = l.ScanSession
	},
	rules.NumberMatches: func(_ *testing.T, _ storage.Store, _ *storage.QRLogin, a *storage.Attempt) {
		a.MatchNumber = wrongNumber
	},
	rules.WrongNumber: func(_ *testing.T, _ storage.Store, l *storage.QRLogin, a *storage.Attempt) {
		a.MatchNumber = l.MatchNumber
	},
	rules.ChoiceAllowed: func(_ *testing.T, _ storage.Store, _ *storage.QRLogin, a *storage.Attempt) {
		a.SessionChoice = storage.SessionThisSession // not the default, and the login allows no choice
	},
	rules.OtherUser: func(_ *testing.T, _ storage.Store, _ *storage.QRLogin, a *storage.Attempt) {
		a.Subject, a.Session = alice, sessionOf(alice)
	},
	// The alarm is the client's choice, kept by the login: the attempt is
	// made on a twin login started with it off.
	rules.AlarmOn: func(t *testing.T, s storage.Store, l *storage.QRLogin, a *storage.Attempt) {
		twin := defendedLogin(2)
		twin.SecondScanAlarm = false
		a.ID = reachFrom(t, s, twin, l.Status).ID
	},
}

// watch subscribes to the changes of login id, as grants does.
func watch(t *testing.T, s storage.Store, id string) <-chan storage.QRChange {
	ch := make(chan storage.QRChange, 16)
	cancel := s.SubscribeQRLogins(func(c storage.QRChange) {
		if c.ID == id {
			select {
			case ch <- c:
			default:
			}
		}
	})
	t.Cleanup(cancel)
	return ch
}

// wakeTimeout bounds how long a subscriber may wait to hear of a change.
// It is a liveness bound (a lost announcement fails the test instead of
// hanging it), not a latency requirement.
const wakeTimeout = 2 * time.Second

// wantChange waits for the announcement of status. Announcements of
// earlier steps may come first (a backend that announces through its
// database delivers them after the commit, asynchronously): they are
// skipped.
func wantChange(t *testing.T, ch <-chan storage.QRChange, status storage.Status, after string) {
	t.Helper()
	deadline := time.After(wakeTimeout)
	for {
		select {
		case c := <-ch:
			if c.Status == status {
				return
			}
		case <-deadline:
			t.Fatalf("no change to %s announced within %v after %s", status, wakeTimeout, after)
		}
	}
}

func tableCases() []testCase {
	var out []testCase
	n := 0
	for _, r := range rules.Table {
		r := r
		if _, ok := pathTo(r.From); !ok {
			continue
		}
		name := fmt.Sprintf("the table: %s --%s--> %s", r.From, r.On, r.To)
		out = append(out, testCase{name + " applies when its guards hold, records what the row says and announces it", func(t *testing.T, s storage.Store) {
			seed(t, s)
			l := reach(t, s, 1, r.From)
			changes := watch(t, s, l.ID)
			a := attemptOn(r.On, l)
			if r.Records&rules.RecordNotification != 0 && viaApply(r.On) {
				a.NotificationID = "n-table"
			}
			events := auditEvents(t, s, l.ID)
			got, err := attempt(t, s, a)
			must(t, err, name)
			want := rules.Apply(l, &r, a)
			wantEvents := append(events, rules.AuditEvent(want, &r, a))
			wantSame(t, auditEvents(t, s, l.ID), wantEvents, "audit trail after "+name)
			if r.On == storage.EventExpire {
				return // removed: its trail is what is left
			}
			wantSame(t, got, want, "the login "+name+" returned")
			wantSame(t, getLogin(t, s, l.ID), want, "the login after "+name)
			wantChange(t, changes, r.To, name)
			if a.NotificationID != "" {
				n, err := s.Notification(t.Context(), a.NotificationID)
				must(t, err, "the notification "+name+" records")
				if n.Kind != r.Notify || n.Subject != want.Subject {
					t.Fatalf("%s recorded a %q notification for %q, want %q for %q", name, n.Kind, n.Subject, r.Notify, want.Subject)
				}
			}
		}})
		for _, g := range r.Guards {
			n++
			out = append(out, testCase{fmt.Sprintf("%s is refused when %q fails, and changes nothing", name, g), func(t *testing.T, s storage.Store) {
				seed(t, s)
				brk, ok := breaks[g]
				if !ok {
					t.Fatalf("storagetest has no way to break guard %q: add it to breaks", g)
				}
				l := reach(t, s, 1, r.From)
				a := attemptOn(r.On, l)
				a.NotificationID = "n-refused"
				brk(t, s, l, a) // may move the attempt to a twin login (a.ID)
				before, events := getLogin(t, s, a.ID), auditEvents(t, s, a.ID)
				_, err := attempt(t, s, a)
				wantErrOneOf(t, err, name+" with "+g.String()+" broken", storage.ErrConflict)
				unchanged(t, s, before, events)
				_, err = s.Notification(t.Context(), "n-refused")
				wantErr(t, err, storage.ErrNotFound, "the notification of a refused "+name)
			}})
		}
	}
	for _, from := range []storage.Status{storage.StatusPending, storage.StatusScanned, storage.StatusConfirmed,
		storage.StatusRedeemed, storage.StatusDenied} {
		for _, e := range []storage.Event{storage.EventScan, storage.EventConfirm, storage.EventDeny, storage.EventRedeem,
			storage.EventVoid, storage.EventExpire, storage.EventMismatch, storage.EventSecondScan} {
			if rules.Allows(from, e) {
				continue
			}
			out = append(out, testCase{fmt.Sprintf("the table: no %s from %s, so it is refused and changes nothing", e, from), func(t *testing.T, s storage.Store) {
				seed(t, s)
				l := reach(t, s, 1, from)
				a := attemptOn(e, l)
				before, events := getLogin(t, s, l.ID), auditEvents(t, s, l.ID)
				_, err := attempt(t, s, a)
				if e == storage.EventExpire {
					// DeleteExpired removes a final login without an
					// expired event: its trail ends where it ended.
					must(t, err, "DeleteExpired")
					wantSame(t, auditEvents(t, s, l.ID), events, "the trail of a final login removed by DeleteExpired")
					return
				}
				wantErrOneOf(t, err, fmt.Sprintf("%s from %s", e, from), storage.ErrConflict)
				unchanged(t, s, before, events)
			}})
		}
	}
	return out
}
