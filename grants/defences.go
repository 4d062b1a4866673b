package grants

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"net/http"

	"github.com/qrlogin/qrlogin/grants/rules"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// The defences against QR relay (README "Defences against QR relay"), as
// the QR grant applies them. Their rules are rows of the transition table
// (grants/rules); what is here is how a login gets them (Defend), how the
// PC learns the number (the poll's match_number), and how a refused step
// turns into the alarm the table calls for (a wrong number, a second
// account's scan).

// Defences are a client's defences as a QR login keeps them from its
// start (storage.QRLogin): a change of the client's policy applies to the
// logins started after it.
type Defences struct {
	// NumberMatching: the PC shows a two-digit number once the QR is
	// scanned; the phone must pick it among three (RFC 10027 §6.1.16-17).
	NumberMatching bool
	// SecondScanAlarm: another account's scan of the QR once scanned (or
	// denied) kills the login and alerts its user.
	SecondScanAlarm bool
	// SessionChoice is the default of the confirm screen (storage.SessionKeep
	// or storage.SessionThisSession); SessionChoosable lets the user change it.
	SessionChoice    string
	SessionChoosable bool
}

// DefencesOf is client c's policy (storage.Client's QR fields).
func DefencesOf(c *storage.Client) Defences {
	choice, choosable, _ := c.SessionPolicy()
	return Defences{NumberMatching: c.QRNumberMatching, SecondScanAlarm: c.SecondScanAlarm(),
		SessionChoice: choice, SessionChoosable: choosable}
}

// defend gives login l the defences d: for number matching, its number
// and the three choices the phone offers, each two digits, drawn from
// crypto/rand (a guess is right one time in three, and once: a wrong
// choice denies the login).
func (d Defences) defend(l *storage.QRLogin) {
	l.SecondScanAlarm = d.SecondScanAlarm
	l.SessionChoice, l.SessionChoosable = d.SessionChoice, d.SessionChoosable
	if l.SessionChoice == "" {
		l.SessionChoice = storage.SessionKeep
	}
	if !d.NumberMatching {
		return
	}
	choices := make([]int, 0, 3)
	for len(choices) < 3 {
		n := 10 + randInt(90) // 10..99: always two digits
		if !contains(choices, n) {
			choices = append(choices, n)
		}
	}
	l.MatchChoices = choices
	l.MatchNumber = choices[randInt(3)]
}

func randInt(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n))) // never fails: see storage.NewSecret
	return int(v.Int64())
}

func contains(s []int, n int) bool {
	for _, x := range s {
		if x == n {
			return true
		}
	}
	return false
}

// MatchNumber is the number login id's PC shows once scanned (0: no
// number matching), from this instance's view of it: a page woken by the
// scan learns it without a read (issue 9: no read per wake).
func (q *QR) MatchNumber(ctx context.Context, id string) (int, error) {
	v, err := q.byID(ctx, id)
	if err != nil {
		return 0, oauth.StoreError(err)
	}
	return v.matchNumber, nil
}

// ValidMatchNumber reports whether n may be a login's number (or 0: none
// sent).
func ValidMatchNumber(n int) bool { return n == 0 || n >= 10 && n <= 99 }

// secondScan raises the second-scan alarm for a scan the store refused
// (a), when the table has a row for it: another account scanning a login
// already scanned, confirmed or denied, whose client turned the alarm on.
// The scanner's token or session is checked by the store again, so a
// refused bearer raises nothing. It reports whether the alarm was raised.
func (q *QR) secondScan(ctx context.Context, a *storage.Attempt, l *storage.QRLogin) bool {
	alarm := &storage.Attempt{Event: storage.EventSecondScan, ID: l.ID, Subject: a.Subject, Session: a.Session,
		Bearer: a.Bearer, IP: a.IP, Now: a.Now}
	if t, _ := rules.Check(l, alarm, nil); t == nil {
		return false
	}
	alarm.NotificationID = storage.NewSecret(16)
	applied, err := q.cfg.Store.ApplyQR(ctx, alarm)
	if err != nil {
		return false // refused meanwhile (or the bearer): the usual answer
	}
	q.saw(applied.Login)
	if applied.From != storage.StatusDenied {
		q.observe(ctx, StepDenied, applied.Login)
	}
	q.cfg.Logger.WarnContext(ctx, "qr login: second scan by another account; login killed, user alerted",
		"login_id", l.ID, "client_id", l.ClientID, "ip", a.IP)
	return true
}

// wrongNumber applies a confirmation's wrong number (a refused by the
// NumberMatches guard): the table's mismatch row denies the login for good
// and records the alarm for its user.
func (q *QR) wrongNumber(ctx context.Context, a *storage.Attempt) error {
	m := *a
	m.Event, m.SessionChoice, m.NotificationID = storage.EventMismatch, "", storage.NewSecret(16)
	applied, err := q.cfg.Store.ApplyQR(ctx, &m)
	if err != nil {
		return q.decideRefused(ctx, &m, err)
	}
	q.saw(applied.Login)
	q.observe(ctx, StepDenied, applied.Login)
	return oauth.New(WrongNumber, "that is not the number shown on the other screen: the sign-in was cancelled").
		WithStatus(http.StatusForbidden).WithCause(ErrAlarm)
}

// ErrAlarm is the cause of a refusal that raised an alarm (a wrong
// number, a second scan): the step was refused, but the store applied the
// alarm. A caller must not try the step again to learn more (it would
// raise the alarm twice).
var ErrAlarm = errors.New("grants: the refused step raised an alarm")

// Error codes of the defences.
const (
	// WrongNumber: the phone chose a number other than the PC's; the
	// login is denied.
	WrongNumber = "qr_wrong_number"
	// NumberRequired: the login asks for a number and the confirmation
	// carried none.
	NumberRequired = "qr_number_required"
)
