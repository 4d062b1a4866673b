package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

// The defences against QR relay (README "Defences against QR relay"):
// their rules are the table's rows (table.go generates those cases);
// these check what the store writes besides the login: the policy fields
// a login keeps, the alarms' notifications, the session choice and the
// tokens of "only this session".

var qrDefenceCases = []testCase{
	{"a login keeps its client's defences: number, choices, alarm and session policy read back as created", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := defendedLogin(1)
		l.SessionChoice, l.SessionChoosable = storage.SessionThisSession, true
		createLogin(t, s, l)
		wantSame(t, getLogin(t, s, l.ID), l, "QRLogin of a defended login")
	}},
	{"a client's defences round-trip", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		c := &storage.Client{ID: "defended", Name: "Defended", SecretHash: storage.Hash("s"), Type: storage.ClientConfidential,
			GrantTypes: []string{"urn:qrlogin:params:oauth:grant-type:qr"}, AccessTokenType: "opaque",
			QRNumberMatching: true, QRSession: storage.QRSessionAskThisSession, QRSecondScan: storage.QRSecondScanRefuse, CreatedAt: base}
		must(t, s.CreateClient(ctx, c), "CreateClient")
		got, err := s.Client(ctx, c.ID)
		must(t, err, "Client")
		wantSame(t, got, c, "Client with defences")
		plain := &storage.Client{ID: "plain", Name: "Plain", Type: storage.ClientPublic, AccessTokenType: "opaque", CreatedAt: base}
		must(t, s.CreateClient(ctx, plain), "CreateClient")
		got, err = s.Client(ctx, plain.ID)
		must(t, err, "Client")
		wantSame(t, got, plain, "Client without defences (the defaults)")
	}},
	{"a wrong number denies the login and records the wrong-number alarm for its user, naming no session", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := reach(t, s, 1, storage.StatusScanned)
		got, err := s.ApplyQR(t.Context(), &storage.Attempt{Event: storage.EventMismatch, TicketHash: ticketHash(l.ID, goodTicket),
			Subject: alice, Session: sessionOf(alice), MatchNumber: 85, IP: decideIP, Now: at(decideAfter), NotificationID: "n-wrong"})
		must(t, err, "mismatch")
		wantSame(t, got.Login.Status, storage.StatusDenied, "status after a wrong number")
		n, err := s.Notification(t.Context(), "n-wrong")
		must(t, err, "Notification")
		wantSame(t, n, &storage.Notification{ID: "n-wrong", Subject: alice, Kind: storage.NotificationWrongNumber, ClientID: clientRP,
			ClientName: "Relying Party", RequesterIP: requesterIP, RequesterUserAgent: requesterUA, ReportedByClient: true,
			CreatedAt: at(decideAfter)}, "the wrong-number notification")
		// Denied for good: the right number is now too late.
		_, err = s.ApplyQR(t.Context(), &storage.Attempt{Event: storage.EventConfirm, TicketHash: ticketHash(l.ID, goodTicket),
			Subject: alice, Session: sessionOf(alice), MatchNumber: matchNumber, IP: decideIP, Now: at(decideAfter)})
		wantErr(t, err, storage.ErrConflict, "confirm with the right number after a wrong one")
	}},
	{"a second account's scan, checked with its bearer token, kills the login, alerts the first user and names the second scanner in the audit trail", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		phoneToken(t, s, "at-bob", bob, "phone-session-bob")
		for i, from := range []storage.Status{storage.StatusScanned, storage.StatusConfirmed, storage.StatusDenied} {
			l := reach(t, s, i+1, from)
			second := func(token string) *storage.Attempt {
				return &storage.Attempt{Event: storage.EventSecondScan, QRIDHash: l.QRIDHash, Subject: bob,
					Bearer: &storage.Bearer{TokenID: token, Scope: "qr:approve"}, IP: "192.0.2.99", Now: at(decideAfter + time.Second),
					NotificationID: "n-second-" + from.String()}
			}
			before, events := getLogin(t, s, l.ID), auditEvents(t, s, l.ID)
			_, err := s.ApplyQR(ctx, second("at-unknown"))
			wantErr(t, err, storage.ErrConflict, "a second scan with an unknown token")
			unchanged(t, s, before, events)
			got, err := s.ApplyQR(ctx, second("at-bob"))
			must(t, err, "second scan of a "+from.String()+" login")
			if got.Login.Status != storage.StatusDenied || got.Login.Subject != alice || got.From != from {
				t.Fatalf("after a second scan of a %s login: %+v from %s", from, got.Login, got.From)
			}
			wantDecided := at(decideAfter + time.Second)
			if from == storage.StatusDenied {
				wantDecided = before.DecidedAt // already decided: the alarm only
			}
			wantSame(t, got.Login.DecidedAt, wantDecided, "DecidedAt after a second scan of a "+from.String()+" login")
			trail := auditEvents(t, s, l.ID)
			wantSame(t, trail[len(trail)-1], storage.AuditEvent{QRLoginID: l.ID, Event: "second_scan", ClientID: clientRP,
				Subject: bob, IP: "192.0.2.99", At: at(decideAfter + time.Second)}, "the second scan's audit event")
			n, err := s.Notification(ctx, "n-second-"+from.String())
			must(t, err, "Notification")
			wantSame(t, n, &storage.Notification{ID: "n-second-" + from.String(), Subject: alice, Kind: storage.NotificationSecondScan,
				ClientID: clientRP, ClientName: "Relying Party", RequesterIP: requesterIP, RequesterUserAgent: requesterUA,
				ReportedByClient: true, CreatedAt: at(decideAfter + time.Second)}, "the second-scan notification")
		}
	}},
	{"a confirmation records the user's session choice in the login and in its sign-in notification", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		for i, c := range []struct{ choice, want string }{
			{"", storage.SessionKeep}, {storage.SessionThisSession, storage.SessionThisSession}, {storage.SessionKeep, storage.SessionKeep},
		} {
			l := defendedLogin(i + 1)
			l.SessionChoosable = true
			l = reachFrom(t, s, l, storage.StatusScanned)
			id := "n-choice-" + l.ID
			got, err := s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventConfirm, ID: l.ID, TicketHash: ticketHash(l.ID, goodTicket),
				Subject: alice, Session: sessionOf(alice), MatchNumber: matchNumber, SessionChoice: c.choice, IP: decideIP,
				Now: at(decideAfter), NotificationID: id})
			must(t, err, "confirm choosing "+c.choice)
			wantSame(t, got.Login.SessionChoice, c.want, "SessionChoice after choosing "+c.choice)
			n, err := s.Notification(ctx, id)
			must(t, err, "Notification")
			wantSame(t, n.SessionChoice, c.want, "the notification's SessionChoice after choosing "+c.choice)
		}
	}},
	{"a redeem of a login for only this session inserts no refresh token and a short access token without offline_access", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		tokens := func(n string) *storage.Tokens {
			return &storage.Tokens{AccessID: "at-" + n, AccessExpiresAt: at(time.Hour), RefreshID: "rt-" + n,
				RefreshHash: storage.Hash("refresh-" + n), RefreshExpiresAt: at(48 * time.Hour), AMR: []string{"qr"},
				ThisSessionAccessExpiresAt: at(5 * time.Minute)}
		}
		for i, choice := range []string{storage.SessionThisSession, storage.SessionKeep} {
			l := defendedLogin(i + 1)
			l.SessionChoice = choice
			l = reachFrom(t, s, l, storage.StatusConfirmed)
			tk := tokens(choice)
			got, err := s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventRedeem, ID: l.ID, IP: redeemIP, Now: at(redeemAfter), Tokens: tk})
			must(t, err, "redeem for "+choice)
			access, refresh := tk.For(got.Login, at(redeemAfter))
			if choice == storage.SessionThisSession {
				if refresh != nil || access.RefreshTokenID != "" || !access.ExpiresAt.Equal(at(5*time.Minute)) {
					t.Fatalf("Tokens.For a login for only this session: %+v, %+v", access, refresh)
				}
				wantSame(t, access.Scopes, []string{"openid", "profile"}, "scopes of only this session")
				_, err = s.RefreshTokenByHash(ctx, tk.RefreshHash)
				wantErr(t, err, storage.ErrNotFound, "the refresh token of only this session")
			} else {
				wantRefresh(t, s, refresh, false)
			}
			wantAccess(t, s, access.ID, access)
		}
	}},
	{"a right and a wrong number race: exactly one applies, and only a wrong one's alarm is recorded", func(t *testing.T, s storage.Store) {
		// A phone sending both (a double tap on two buttons): the row is
		// decided once; the loser changes nothing.
		seed(t, s)
		ctx := t.Context()
		for round := range 10 {
			l := reach(t, s, round+1, storage.StatusScanned)
			numbers := []int{matchNumber, wrongNumber}
			errs := race(len(numbers), func(i int) error {
				e := storage.EventConfirm
				if numbers[i] != matchNumber {
					e = storage.EventMismatch
				}
				_, err := s.ApplyQR(ctx, &storage.Attempt{Event: e, ID: l.ID, TicketHash: ticketHash(l.ID, goodTicket),
					Subject: alice, Session: sessionOf(alice), MatchNumber: numbers[i], IP: decideIP, Now: at(decideAfter),
					NotificationID: fmt.Sprintf("n-race-%d-%d", round, i)})
				return err
			})
			w := oneWinner(t, errs, fmt.Sprintf("round %d: right and wrong number", round), storage.ErrConflict)
			want := map[int]storage.Status{0: storage.StatusConfirmed, 1: storage.StatusDenied}[w]
			wantSame(t, getLogin(t, s, l.ID).Status, want, fmt.Sprintf("round %d: status", round))
			for i := range numbers {
				_, err := s.Notification(ctx, fmt.Sprintf("n-race-%d-%d", round, i))
				if (err == nil) != (i == w) {
					t.Fatalf("round %d: notification of attempt %d (winner %d): %v", round, i, w, err)
				}
			}
		}
	}},
	{"an authorization request completed by a QR login keeps its session choice", func(t *testing.T, s storage.Store) {
		// The hosted page's QR login: its code's tokens follow the choice.
		ctx := t.Context()
		for i, choice := range []string{storage.SessionThisSession, storage.SessionKeep, ""} {
			a := newAuthRequest(i + 1)
			mustCreateAuthRequest(t, s, a)
			must(t, s.CompleteAuthRequest(ctx, a.ID, alice, at(time.Minute), []string{"qr"}, choice), "CompleteAuthRequest")
			got, err := s.AuthRequest(ctx, a.ID, at(time.Minute))
			must(t, err, "AuthRequest")
			wantSame(t, got.SessionChoice, choice, "SessionChoice after completing with "+choice)
		}
	}},
}
