// Package rules is the QR login's state machine (SPEC §2) written once, as
// a table: from a status, on an event, under guards, to a status, with
// what the step records. Nothing else in the module decides whether a QR
// login may move:
//
//   - package grants asks Check before it acts and explains a refusal from
//     the guard that failed;
//   - storage/memory applies a transition through Check and Apply;
//   - storage/postgres keeps its conditional UPDATE statements as the
//     mechanism, and storage/storagetest generates its transition cases
//     from Table (every row, every guard broken alone, every pair with no
//     row), so both backends are held to the same rows;
//   - StatusAt, Final, Allows and Rank derive from the table.
//
// It imports only package storage, for the types, so that backends can
// apply the table without importing the grant.
package rules

import (
	"bytes"
	"crypto/subtle"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

// Guard is a condition a transition needs besides its from-status.
type Guard uint8

const (
	// Live: the login has not expired (now is before ExpiresAt).
	Live Guard = iota + 1
	// Past: the login has expired (now is at or past ExpiresAt).
	Past
	// NoOtherUser: the login is bound to no one, or to the attempt's
	// subject. The first scan binds the user; the binding never switches.
	NoOtherUser
	// SameUser: the login is bound to the attempt's subject.
	SameUser
	// SameSession: the login was scanned by the attempt's session: the
	// ticket is that session's, not the user's (another phone of the same
	// account, or a stolen token's session, cannot decide with it).
	SameSession
	// HoldsTicket: the attempt presents the login's current ticket (a
	// rescan voids the old one).
	HoldsTicket
	// TicketLive: the ticket has not expired.
	TicketLive
	// SessionLive: the session the login's tokens belong to (its ID) was
	// not revoked ("this wasn't me" before the PC redeemed).
	SessionLive
	// UserActive: the subject is a user who is not disabled.
	UserActive
	// NotKept: the login was scanned by a session other than the one a
	// sign-out spares (the phone that changed its own password).
	NotKept
	// NumberMatches: the login asks for no number (number matching is off
	// for its client), or the attempt carries the number it asks for.
	NumberMatches
	// WrongNumber: the login asks for a number and the attempt carries
	// another one (not none: a phone that sent no number chose nothing).
	WrongNumber
	// ChoiceAllowed: the attempt keeps the login's session choice, or
	// makes one the login lets the user make (SessionChoosable).
	ChoiceAllowed
	// OtherUser: the login is bound to a user, and not to the attempt's
	// subject.
	OtherUser
	// AlarmOn: the login's client turned the second-scan alarm on.
	AlarmOn
)

var guardNames = [...]string{"", "live", "past", "no other user", "same user", "same session",
	"holds ticket", "ticket live", "session live", "user active", "not kept",
	"number matches", "wrong number", "choice allowed", "other user", "alarm on"}

func (g Guard) String() string {
	if int(g) < len(guardNames) && g != 0 {
		return guardNames[g]
	}
	return "invalid"
}

// Identity reports whether g is about who attempts (the binding), as
// opposed to the state of the login. A refusal names an identity guard
// even when no transition leaves the status: whoever is not the login's
// user is told so first.
func (g Guard) Identity() bool { return g == NoOtherUser || g == SameUser || g == SameSession }

// Record is a set of what a transition records besides its status.
type Record uint16

const (
	// RecordBinding: Subject and ScanSession become the attempt's.
	RecordBinding Record = 1 << iota
	// RecordTicket: the attempt's new ticket (hash and expiry) replaces
	// the old one, which is void.
	RecordTicket
	RecordScannedAt
	RecordDecidedAt
	RecordRedeemedAt
	// RecordNotification: the sign-in notification, when the attempt asks
	// for one (storage.Attempt.NotificationID).
	RecordNotification
	// RecordTokens: the tokens, when the attempt carries them
	// (storage.Attempt.Tokens), inserted only if the transition applies.
	RecordTokens
	// RecordRevokeSession: the login's session (and a hosted-page login's
	// authorization request's) is revoked with the sign-out (SignOut).
	RecordRevokeSession
	// RecordSessionChoice: the attempt's session choice, when it makes one
	// (storage.Attempt.SessionChoice), replaces the login's default.
	RecordSessionChoice
)

// Transition is one row of the table.
type Transition struct {
	From   storage.Status
	On     storage.Event
	Guards []Guard // checked in this order: the first that fails is the refusal
	To     storage.Status
	// Records is what the transition writes besides To.
	Records Record
	// Notify is the kind of notification RecordNotification records for
	// the login's user (storage.Notification.Kind).
	Notify string
	// Audit is the audit event appended (storage.AuditEvent.Event), at the
	// attempt's time, with its IP and the login's subject after the step;
	// AuditAtExpiry dates it at ExpiresAt instead. AuditAttempter names
	// the attempt's subject instead of the login's: who scanned second.
	Audit          string
	AuditAtExpiry  bool
	AuditAttempter bool
}

var (
	decide = []Guard{SameUser, SameSession, Live, HoldsTicket, TicketLive}
	// A confirmation also needs the right number and an allowed choice;
	// a wrong number is the other row (EventMismatch).
	confirm  = append(append([]Guard{}, decide...), NumberMatches, ChoiceAllowed)
	mismatch = append(append([]Guard{}, decide...), WrongNumber)
	void     = []Guard{SameUser, NotKept, Live}
	scan     = RecordBinding | RecordTicket | RecordScannedAt
	// A second account's scan, while the login could still be used.
	secondScan = []Guard{OtherUser, AlarmOn, Live}
)

// Table is the QR login's state machine (SPEC §2):
//
//	pending --scan--> scanned --confirm--> confirmed --redeem--> redeemed
//	                  scanned --scan (same user)--> scanned (new ticket)
//	                  scanned --deny--> denied
//	                  scanned --mismatch (a wrong number)--> denied
//	scanned, confirmed --second scan (another account)--> denied
//	                   denied --second scan--> denied (the alarm only)
//	scanned, confirmed --void (the user signed out)--> denied
//	pending, scanned, confirmed --expire (past expires_at)--> expired
//
// Redeemed, denied and expired are final: no row leaves them for another
// status.
var Table = []Transition{
	{From: storage.StatusPending, On: storage.EventScan, Guards: []Guard{Live},
		To: storage.StatusScanned, Records: scan, Audit: "scanned"},
	// SPEC §2.3: a rescan by the same user issues a new ticket, bound to
	// the session that scanned, and voids the old one.
	{From: storage.StatusScanned, On: storage.EventScan, Guards: []Guard{NoOtherUser, Live},
		To: storage.StatusScanned, Records: scan, Audit: "scanned"},
	// The confirmation records the sign-in notification and the user's
	// session choice ("only this session" or "keep me signed in").
	{From: storage.StatusScanned, On: storage.EventConfirm, Guards: confirm,
		To: storage.StatusConfirmed, Records: RecordDecidedAt | RecordNotification | RecordSessionChoice,
		Notify: storage.NotificationSignIn, Audit: "confirmed"},
	{From: storage.StatusScanned, On: storage.EventDeny, Guards: decide,
		To: storage.StatusDenied, Records: RecordDecidedAt, Audit: "denied"},
	// Number matching (RFC 10027 §6.1.16-17): one wrong choice denies the
	// login for good and tells its user; guessing gets one try in three.
	{From: storage.StatusScanned, On: storage.EventMismatch, Guards: mismatch,
		To: storage.StatusDenied, Records: RecordDecidedAt | RecordNotification,
		Notify: storage.NotificationWrongNumber, Audit: "wrong_number"},
	// A second account scanning the QR: it is being shown to more than
	// one person (a relayed or broadcast QR), so the login is killed and
	// its user told. Once denied, a second scan only raises the alarm.
	{From: storage.StatusScanned, On: storage.EventSecondScan, Guards: secondScan,
		To: storage.StatusDenied, Records: RecordDecidedAt | RecordNotification,
		Notify: storage.NotificationSecondScan, Audit: "second_scan", AuditAttempter: true},
	{From: storage.StatusConfirmed, On: storage.EventSecondScan, Guards: secondScan,
		To: storage.StatusDenied, Records: RecordDecidedAt | RecordNotification,
		Notify: storage.NotificationSecondScan, Audit: "second_scan", AuditAttempter: true},
	{From: storage.StatusDenied, On: storage.EventSecondScan, Guards: secondScan,
		To: storage.StatusDenied, Records: RecordNotification,
		Notify: storage.NotificationSecondScan, Audit: "second_scan", AuditAttempter: true},
	// SPEC §2.2: of concurrent redeems exactly one applies; its tokens are
	// inserted with it, so no loser ever mints.
	{From: storage.StatusConfirmed, On: storage.EventRedeem, Guards: []Guard{Live, SessionLive, UserActive},
		To: storage.StatusRedeemed, Records: RecordRedeemedAt | RecordTokens, Audit: "redeemed"},
	{From: storage.StatusScanned, On: storage.EventVoid, Guards: void,
		To: storage.StatusDenied, Records: RecordDecidedAt | RecordRevokeSession, Audit: "voided"},
	{From: storage.StatusConfirmed, On: storage.EventVoid, Guards: void,
		To: storage.StatusDenied, Records: RecordDecidedAt | RecordRevokeSession, Audit: "voided"},
	// Expiry is a time comparison (StatusAt), never a job that might lag;
	// DeleteExpired records the event when it removes the row.
	{From: storage.StatusPending, On: storage.EventExpire, Guards: []Guard{Past},
		To: storage.StatusExpired, Audit: "expired", AuditAtExpiry: true},
	{From: storage.StatusScanned, On: storage.EventExpire, Guards: []Guard{Past},
		To: storage.StatusExpired, Audit: "expired", AuditAtExpiry: true},
	{From: storage.StatusConfirmed, On: storage.EventExpire, Guards: []Guard{Past},
		To: storage.StatusExpired, Audit: "expired", AuditAtExpiry: true},
}

// Facts are what some guards need beyond the login: a backend answers
// them from its own state. A nil Facts makes those guards hold (they are
// checked where the facts live, by the backend).
type Facts interface {
	// SessionRevoked: tokens for the session are refused (its tombstone
	// lasts until cleanup removes it).
	SessionRevoked(session string) bool
	// UserActive: the user exists and is not disabled.
	UserActive(subject string) bool
}

// Find returns the row for (from, on), or nil.
func Find(from storage.Status, on storage.Event) *Transition {
	for i := range Table {
		if Table[i].From == from && Table[i].On == on {
			return &Table[i]
		}
	}
	return nil
}

// Check finds the transition attempt a makes from login l and the first
// of its guards that does not hold (0: it applies). With no row for the
// login's stored status it returns nil and the first identity guard of
// the event's rows that fails (0 if none does): the status refuses it.
func Check(l *storage.QRLogin, a *storage.Attempt, f Facts) (*Transition, Guard) {
	t := Find(l.Status, a.Event)
	if t == nil {
		for i := range Table {
			if Table[i].On != a.Event {
				continue
			}
			for _, g := range Table[i].Guards {
				if g.Identity() && !Holds(g, l, a, f) {
					return nil, g
				}
			}
		}
		return nil, 0
	}
	for _, g := range t.Guards {
		if !Holds(g, l, a, f) {
			return t, g
		}
	}
	return t, 0
}

// Holds evaluates one guard.
func Holds(g Guard, l *storage.QRLogin, a *storage.Attempt, f Facts) bool {
	switch g {
	case Live:
		return a.Now.Before(l.ExpiresAt)
	case Past:
		return !a.Now.Before(l.ExpiresAt)
	case NoOtherUser:
		return l.Subject == "" || l.Subject == a.Subject
	case SameUser:
		return l.Subject != "" && l.Subject == a.Subject
	case SameSession:
		return a.Session != "" && l.ScanSession == a.Session
	case HoldsTicket:
		// Constant time, although these are hashes: no timing tells how
		// much of a guess matched (SPEC §7).
		return len(a.TicketHash) > 0 && subtle.ConstantTimeCompare(l.TicketHash, a.TicketHash) == 1
	case TicketLive:
		return a.Now.Before(l.TicketExpiresAt)
	case SessionLive:
		return f == nil || !f.SessionRevoked(l.ID)
	case UserActive:
		return f == nil || f.UserActive(l.Subject)
	case NotKept:
		return a.KeepSession == "" || l.ScanSession != a.KeepSession
	case NumberMatches:
		return l.MatchNumber == 0 || a.MatchNumber == l.MatchNumber
	case WrongNumber:
		return l.MatchNumber != 0 && a.MatchNumber != 0 && a.MatchNumber != l.MatchNumber
	case ChoiceAllowed:
		return a.SessionChoice == "" || a.SessionChoice == l.SessionChoice || l.SessionChoosable
	case OtherUser:
		return l.Subject != "" && l.Subject != a.Subject
	case AlarmOn:
		return l.SecondScanAlarm
	}
	return false
}

// Apply returns l after transition t made by attempt a: To and the
// fields t records. l is not modified; slices are shared with it.
func Apply(l *storage.QRLogin, t *Transition, a *storage.Attempt) *storage.QRLogin {
	n := *l
	n.Status = t.To
	if t.Records&RecordBinding != 0 {
		n.Subject, n.ScanSession = a.Subject, a.Session
	}
	if t.Records&RecordTicket != 0 {
		n.TicketHash = bytes.Clone(a.NewTicketHash)
		n.TicketExpiresAt = a.TicketExpiresAt
	}
	if t.Records&RecordScannedAt != 0 {
		n.ScannedAt = a.Now
	}
	if t.Records&RecordDecidedAt != 0 {
		n.DecidedAt = a.Now
	}
	if t.Records&RecordRedeemedAt != 0 {
		n.RedeemedAt = a.Now
	}
	if t.Records&RecordSessionChoice != 0 && a.SessionChoice != "" {
		n.SessionChoice = a.SessionChoice
	}
	return &n
}

// AuditEvent is the audit event transition t appends for login l (as it
// is after the step) made by attempt a.
func AuditEvent(l *storage.QRLogin, t *Transition, a *storage.Attempt) storage.AuditEvent {
	at, subject := a.Now, l.Subject
	if t.AuditAtExpiry {
		at = l.ExpiresAt
	}
	if t.AuditAttempter {
		subject = a.Subject
	}
	return storage.AuditEvent{QRLoginID: l.ID, Event: t.Audit, ClientID: l.ClientID, Subject: subject, IP: a.IP, At: at,
		Detail: a.AuditDetail}
}

// StatusAt is the effective status of l at now: the stored one, unless an
// expire transition applies (a login that is not final and is past
// ExpiresAt is expired, whatever is stored).
func StatusAt(l *storage.QRLogin, now time.Time) storage.Status {
	if t, g := Check(l, &storage.Attempt{Event: storage.EventExpire, Now: now}, nil); t != nil && g == 0 {
		return t.To
	}
	return l.Status
}

// Final reports whether no transition leaves s for another status (a
// final status may still record something: the second-scan alarm of a
// denied login).
func Final(s storage.Status) bool {
	if s == storage.StatusInvalid || int(s) >= len(rank) {
		return false
	}
	for i := range Table {
		if Table[i].From == s && Table[i].To != s {
			return false
		}
	}
	return true
}

// Allows reports whether some transition leaves s on event e (its guards
// aside).
func Allows(s storage.Status, e storage.Event) bool { return Find(s, e) != nil }

// Rank orders statuses along the table: every transition leads to a
// status of higher rank, or to its own (a rescan). A status heard of
// later may be older than one already known (notifications and reads
// race); the higher rank is the newer.
func Rank(s storage.Status) int {
	if int(s) < len(rank) {
		return rank[s]
	}
	return 0
}

// rank is the length of the longest path from pending to each status,
// computed once from Table (which has no cycle but the rescan's loop).
var rank = func() []int {
	r := make([]int, storage.StatusExpired+1)
	for range Table { // relax |Table| times: enough for any path
		for _, t := range Table {
			if t.From != t.To && r[t.To] < r[t.From]+1 {
				r[t.To] = r[t.From] + 1
			}
		}
	}
	return r
}()
