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
// Scan, confirm, deny and redeem go through ApplyQR; void through
// UpdateUser's SignOut; expire through DeleteExpired.

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
	return e == storage.EventScan || e == storage.EventConfirm || e == storage.EventDeny || e == storage.EventRedeem
}

// reach creates login n and walks it to status s: alice scans at
// scanAfter, decides at decideAfter, redeems at redeemAfter.
func reach(t *testing.T, s storage.Store, n int, status storage.Status) *storage.QRLogin {
	t.Helper()
	path, ok := pathTo(status)
	if !ok {
		t.Fatalf("the table has no path from pending to %s", status)
	}
	l := createLogin(t, s, newLogin(n))
	for _, e := range path {
		var err error
		switch e {
		case storage.EventScan:
			l, err = scanAt(t, s, l.ID, alice, goodTicket, at(scanAfter))
		case storage.EventConfirm:
			l, err = decideAt(t, s, l.ID, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
		case storage.EventDeny:
			l, err = decideAt(t, s, l.ID, storage.StatusDenied, alice, goodTicket, at(decideAfter))
		case storage.EventRedeem:
			l, err = redeemAt(t, s, l.ID, redeemIP, at(redeemAfter))
		}
		must(t, err, fmt.Sprintf("walking login %d to %s: %s", n, status, e))
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
	case storage.EventConfirm, storage.EventDeny:
		a.TicketHash = l.TicketHash
		a.Session = l.ScanSession
		a.IP = decideIP
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
				brk(t, s, l, a)
				before, events := getLogin(t, s, l.ID), auditEvents(t, s, l.ID)
				_, err := attempt(t, s, a)
				wantErrOneOf(t, err, name+" with "+g.String()+" broken", storage.ErrConflict)
				unchanged(t, s, before, events)
			}})
		}
	}
	for _, from := range []storage.Status{storage.StatusPending, storage.StatusScanned, storage.StatusConfirmed,
		storage.StatusRedeemed, storage.StatusDenied} {
		for _, e := range []storage.Event{storage.EventScan, storage.EventConfirm, storage.EventDeny, storage.EventRedeem,
			storage.EventVoid, storage.EventExpire} {
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
