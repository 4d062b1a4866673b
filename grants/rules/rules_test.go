package rules

import (
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

var (
	statuses = []storage.Status{storage.StatusInvalid, storage.StatusPending, storage.StatusScanned,
		storage.StatusConfirmed, storage.StatusRedeemed, storage.StatusDenied, storage.StatusExpired}
	events = []storage.Event{storage.EventScan, storage.EventConfirm, storage.EventDeny, storage.EventRedeem,
		storage.EventVoid, storage.EventExpire, storage.EventMismatch, storage.EventSecondScan, storage.EventInvalid, storage.Event(99)}
)

// The table says what SPEC §2 draws, pair by pair: every (status, event)
// with a row leads where the diagram says, every other pair has none.
func TestTableCoversEveryPair(t *testing.T) {
	want := map[storage.Status]map[storage.Event]storage.Status{
		storage.StatusPending: {storage.EventScan: storage.StatusScanned, storage.EventExpire: storage.StatusExpired},
		storage.StatusScanned: {storage.EventScan: storage.StatusScanned, storage.EventConfirm: storage.StatusConfirmed,
			storage.EventDeny: storage.StatusDenied, storage.EventVoid: storage.StatusDenied, storage.EventExpire: storage.StatusExpired,
			storage.EventMismatch: storage.StatusDenied, storage.EventSecondScan: storage.StatusDenied},
		storage.StatusConfirmed: {storage.EventRedeem: storage.StatusRedeemed, storage.EventVoid: storage.StatusDenied,
			storage.EventExpire: storage.StatusExpired, storage.EventSecondScan: storage.StatusDenied},
		// The second-scan alarm of a login already denied: recorded, the
		// status stays.
		storage.StatusDenied: {storage.EventSecondScan: storage.StatusDenied},
	}
	for _, s := range statuses {
		for _, e := range events {
			row := Find(s, e)
			to, ok := want[s][e]
			switch {
			case ok && (row == nil || row.To != to):
				t.Errorf("%s --%s--> %v; want %s", s, e, row, to)
			case !ok && row != nil:
				t.Errorf("%s --%s--> %s; want no transition", s, e, row.To)
			}
		}
	}
	seen := map[[2]uint8]bool{}
	for _, r := range Table {
		k := [2]uint8{uint8(r.From), uint8(r.On)}
		if seen[k] {
			t.Errorf("two rows for %s --%s-->", r.From, r.On)
		}
		seen[k] = true
		if r.Audit == "" {
			t.Errorf("%s --%s--> records no audit event", r.From, r.On)
		}
		if (r.Records&RecordNotification != 0) != (r.Notify != "") {
			t.Errorf("%s --%s--> records a notification %q without its kind, or a kind without recording it", r.From, r.On, r.Notify)
		}
	}
}

func TestFinalAndRank(t *testing.T) {
	for s, final := range map[storage.Status]bool{
		storage.StatusInvalid: false, storage.StatusPending: false, storage.StatusScanned: false, storage.StatusConfirmed: false,
		storage.StatusRedeemed: true, storage.StatusDenied: true, storage.StatusExpired: true,
	} {
		if Final(s) != final {
			t.Errorf("Final(%s) = %v", s, !final)
		}
	}
	for _, r := range Table {
		if r.From != r.To && Rank(r.To) <= Rank(r.From) {
			t.Errorf("%s --%s--> %s does not raise the rank (%d → %d)", r.From, r.On, r.To, Rank(r.From), Rank(r.To))
		}
	}
}

var t0 = time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)

func login(s storage.Status) *storage.QRLogin {
	l := &storage.QRLogin{ID: "l1", ClientID: "rp", Status: s, CreatedAt: t0, ExpiresAt: t0.Add(2 * time.Minute),
		MatchNumber: 42, MatchChoices: []int{17, 42, 85}, SecondScanAlarm: true, SessionChoice: storage.SessionKeep}
	if s != storage.StatusPending {
		l.Subject, l.ScanSession = "alice", "phone-a"
		l.TicketHash, l.TicketExpiresAt = storage.Hash("ticket"), t0.Add(70*time.Second)
	}
	return l
}

type facts struct{ revoked, inactive bool }

func (f facts) SessionRevoked(string) bool { return f.revoked }
func (f facts) UserActive(string) bool     { return !f.inactive }

// Each guard, broken alone, is the refusal Check reports; with every guard
// holding the row applies.
func TestCheckReportsTheGuardThatFails(t *testing.T) {
	ok := func(e storage.Event) *storage.Attempt {
		a := &storage.Attempt{Event: e, Subject: "alice", Session: "phone-a", TicketHash: storage.Hash("ticket"),
			MatchNumber: 42, Now: t0.Add(10 * time.Second)}
		switch e {
		case storage.EventMismatch:
			a.MatchNumber = 17
		case storage.EventSecondScan:
			a.Subject, a.Session = "bob", "phone-b"
		}
		return a
	}
	with := func(e storage.Event, f func(a *storage.Attempt)) *storage.Attempt {
		a := ok(e)
		f(a)
		return a
	}
	cases := []struct {
		name  string
		from  storage.Status
		a     *storage.Attempt
		f     Facts
		guard Guard
	}{
		{"scan of a pending login", storage.StatusPending, ok(storage.EventScan), nil, 0},
		{"scan of an expired pending login", storage.StatusPending, func() *storage.Attempt {
			a := ok(storage.EventScan)
			a.Now = t0.Add(2 * time.Minute)
			return a
		}(), nil, Live},
		{"rescan by the same user", storage.StatusScanned, ok(storage.EventScan), nil, 0},
		{"scan by another user", storage.StatusScanned, func() *storage.Attempt {
			a := ok(storage.EventScan)
			a.Subject = "bob"
			return a
		}(), nil, NoOtherUser},
		{"confirm", storage.StatusScanned, ok(storage.EventConfirm), nil, 0},
		{"confirm by another user", storage.StatusScanned, func() *storage.Attempt {
			a := ok(storage.EventConfirm)
			a.Subject = "bob"
			return a
		}(), nil, SameUser},
		{"confirm from another session", storage.StatusScanned, func() *storage.Attempt {
			a := ok(storage.EventConfirm)
			a.Session = "phone-b"
			return a
		}(), nil, SameSession},
		{"confirm with a replaced ticket", storage.StatusScanned, func() *storage.Attempt {
			a := ok(storage.EventConfirm)
			a.TicketHash = storage.Hash("old")
			return a
		}(), nil, HoldsTicket},
		{"confirm with an expired ticket", storage.StatusScanned, func() *storage.Attempt {
			a := ok(storage.EventDeny)
			a.Now = t0.Add(70 * time.Second)
			return a
		}(), nil, TicketLive},
		{"redeem", storage.StatusConfirmed, ok(storage.EventRedeem), facts{}, 0},
		{"redeem in a revoked session", storage.StatusConfirmed, ok(storage.EventRedeem), facts{revoked: true}, SessionLive},
		{"redeem for a disabled user", storage.StatusConfirmed, ok(storage.EventRedeem), facts{inactive: true}, UserActive},
		{"void", storage.StatusConfirmed, ok(storage.EventVoid), nil, 0},
		{"void sparing the scanning session", storage.StatusScanned, func() *storage.Attempt {
			a := ok(storage.EventVoid)
			a.KeepSession = "phone-a"
			return a
		}(), nil, NotKept},
		{"expire too early", storage.StatusPending, ok(storage.EventExpire), nil, Past},
		{"confirm without the number", storage.StatusScanned, with(storage.EventConfirm, func(a *storage.Attempt) { a.MatchNumber = 0 }), nil, NumberMatches},
		{"confirm with a wrong number", storage.StatusScanned, with(storage.EventConfirm, func(a *storage.Attempt) { a.MatchNumber = 85 }), nil, NumberMatches},
		{"confirm choosing what the client does not let the user choose", storage.StatusScanned,
			with(storage.EventConfirm, func(a *storage.Attempt) { a.SessionChoice = storage.SessionThisSession }), nil, ChoiceAllowed},
		{"a wrong number", storage.StatusScanned, ok(storage.EventMismatch), nil, 0},
		{"a wrong number that is the right one", storage.StatusScanned, with(storage.EventMismatch, func(a *storage.Attempt) { a.MatchNumber = 42 }), nil, WrongNumber},
		{"no number is not a wrong one", storage.StatusScanned, with(storage.EventMismatch, func(a *storage.Attempt) { a.MatchNumber = 0 }), nil, WrongNumber},
		{"a wrong number from another session", storage.StatusScanned, with(storage.EventMismatch, func(a *storage.Attempt) { a.Session = "phone-b" }), nil, SameSession},
		{"a second account scans a scanned login", storage.StatusScanned, ok(storage.EventSecondScan), nil, 0},
		{"a second account scans a confirmed login", storage.StatusConfirmed, ok(storage.EventSecondScan), nil, 0},
		{"a second account scans a denied login", storage.StatusDenied, ok(storage.EventSecondScan), nil, 0},
		{"the same account is no second one", storage.StatusScanned, with(storage.EventSecondScan, func(a *storage.Attempt) { a.Subject = "alice" }), nil, OtherUser},
		{"a second scan of an expired login", storage.StatusScanned, with(storage.EventSecondScan, func(a *storage.Attempt) { a.Now = t0.Add(2 * time.Minute) }), nil, Live},
	}
	for _, c := range cases {
		row, g := Check(login(c.from), c.a, c.f)
		if row == nil || g != c.guard {
			t.Errorf("%s: row %v, guard %s; want a row and %s", c.name, row, g, c.guard)
		}
	}
	// The client's policies, off.
	plain := login(storage.StatusScanned)
	plain.MatchNumber, plain.MatchChoices, plain.SecondScanAlarm = 0, nil, false
	if _, g := Check(plain, with(storage.EventConfirm, func(a *storage.Attempt) { a.MatchNumber = 0 }), nil); g != 0 {
		t.Errorf("confirm without number matching: %s", g)
	}
	if _, g := Check(plain, ok(storage.EventMismatch), nil); g != WrongNumber {
		t.Errorf("a wrong number without number matching: %s, want %s", g, WrongNumber)
	}
	if _, g := Check(plain, ok(storage.EventSecondScan), nil); g != AlarmOn {
		t.Errorf("a second scan with the alarm off: %s, want %s", g, AlarmOn)
	}
	plain.SessionChoosable = true
	if _, g := Check(plain, with(storage.EventConfirm, func(a *storage.Attempt) { a.SessionChoice = storage.SessionThisSession }), nil); g != 0 {
		t.Errorf("a choice the client allows: %s", g)
	}
	// No row: the status refuses, but whoever is not the login's user is
	// told that first.
	if row, g := Check(login(storage.StatusConfirmed), &storage.Attempt{Event: storage.EventScan, Subject: "bob", Now: t0}, nil); row != nil || g != NoOtherUser {
		t.Errorf("scan of a confirmed login by another user: %v, %s", row, g)
	}
	if row, g := Check(login(storage.StatusConfirmed), ok(storage.EventScan), nil); row != nil || g != 0 {
		t.Errorf("scan of a confirmed login by its user: %v, %s", row, g)
	}
}

func TestApplyRecordsWhatTheRowSays(t *testing.T) {
	now := t0.Add(10 * time.Second)
	a := &storage.Attempt{Event: storage.EventScan, Subject: "alice", Session: "phone-a",
		NewTicketHash: storage.Hash("t2"), TicketExpiresAt: now.Add(time.Minute), IP: "192.0.2.1", Now: now}
	before := login(storage.StatusPending)
	got := Apply(before, Find(storage.StatusPending, storage.EventScan), a)
	if got.Status != storage.StatusScanned || got.Subject != "alice" || got.ScanSession != "phone-a" ||
		string(got.TicketHash) != string(storage.Hash("t2")) || !got.ScannedAt.Equal(now) || !got.DecidedAt.IsZero() {
		t.Fatalf("after a scan: %+v", got)
	}
	if before.Status != storage.StatusPending || before.Subject != "" {
		t.Fatalf("Apply modified its input: %+v", before)
	}
	ev := AuditEvent(got, Find(storage.StatusPending, storage.EventScan), a)
	if ev != (storage.AuditEvent{QRLoginID: "l1", Event: "scanned", ClientID: "rp", Subject: "alice", IP: "192.0.2.1", At: now}) {
		t.Fatalf("audit event %+v", ev)
	}
	exp := Find(storage.StatusScanned, storage.EventExpire)
	if ev := AuditEvent(before, exp, &storage.Attempt{Now: now.Add(time.Hour)}); !ev.At.Equal(before.ExpiresAt) || ev.Event != "expired" {
		t.Fatalf("expired event %+v, want at ExpiresAt", ev)
	}
}

func TestStatusAt(t *testing.T) {
	for _, s := range statuses[1:] {
		l := login(s)
		before, after := StatusAt(l, l.ExpiresAt.Add(-time.Microsecond)), StatusAt(l, l.ExpiresAt)
		wantAfter := storage.StatusExpired
		if Final(s) {
			wantAfter = s
		}
		if before != s || after != wantAfter {
			t.Errorf("%s: StatusAt before expiry %s, at expiry %s; want %s, %s", s, before, after, s, wantAfter)
		}
	}
}

func TestApplyRecordsTheSessionChoiceAndAuditsTheSecondScanner(t *testing.T) {
	now := t0.Add(10 * time.Second)
	l := login(storage.StatusScanned)
	l.SessionChoosable = true
	confirm := Find(storage.StatusScanned, storage.EventConfirm)
	if got := Apply(l, confirm, &storage.Attempt{Now: now}); got.SessionChoice != storage.SessionKeep {
		t.Fatalf("no choice made: %q, want the default", got.SessionChoice)
	}
	if got := Apply(l, confirm, &storage.Attempt{SessionChoice: storage.SessionThisSession, Now: now}); got.SessionChoice != storage.SessionThisSession {
		t.Fatalf("choice made: %q", got.SessionChoice)
	}
	second := Find(storage.StatusScanned, storage.EventSecondScan)
	a := &storage.Attempt{Subject: "bob", IP: "192.0.2.9", Now: now}
	got := Apply(l, second, a)
	if got.Status != storage.StatusDenied || got.Subject != "alice" || !got.DecidedAt.Equal(now) {
		t.Fatalf("after a second scan: %+v", got)
	}
	if ev := AuditEvent(got, second, a); ev.Subject != "bob" || ev.Event != "second_scan" || ev.IP != "192.0.2.9" {
		t.Fatalf("second scan's audit event %+v: want the second scanner", ev)
	}
}
