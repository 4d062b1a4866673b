package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

var qrConcurrencyCases = []testCase{
	{"50 goroutines redeem one confirmed login: exactly one wins", func(t *testing.T, s storage.Store) {
		// SPEC §2.2: of any number of concurrent redeems exactly one gets
		// tokens; the others see ErrConflict.
		seed(t, s)
		ctx := t.Context()
		l := confirmedLogin(t, s, 1)
		ips := make([]string, 50)
		for i := range ips {
			ips[i] = fmt.Sprintf("192.0.2.%d", i+1)
		}
		errs := race(len(ips), func(i int) error {
			// Each brings its tokens: only the winner's may exist after.
			_, err := s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventRedeem, ID: l.ID, IP: ips[i], Now: at(redeemAfter),
				Tokens: &storage.Tokens{AccessID: fmt.Sprintf("at-%d", i), AccessExpiresAt: at(time.Hour)}})
			return err
		})
		winner := oneWinner(t, errs, "redeem", storage.ErrConflict)
		got := getLogin(t, s, l.ID)
		if got.Status != storage.StatusRedeemed {
			t.Fatalf("status after the race = %v, want redeemed", got.Status)
		}
		var redeemed []storage.AuditEvent
		for _, e := range auditEvents(t, s, l.ID) {
			if e.Event == "redeemed" {
				redeemed = append(redeemed, e)
			}
		}
		wantSame(t, redeemed, []storage.AuditEvent{{
			QRLoginID: l.ID, Event: "redeemed", ClientID: clientRP, Subject: alice, IP: ips[winner], At: at(redeemAfter),
		}}, "redeemed audit events")
		for i := range ips {
			_, err := s.AccessToken(ctx, fmt.Sprintf("at-%d", i), at(redeemAfter))
			if (err == nil) != (i == winner) {
				t.Fatalf("access token of redeemer %d (winner %d): %v", i, winner, err)
			}
		}
	}},
	{"two users scan one QR concurrently: exactly one wins and the binding never switches", func(t *testing.T, s storage.Store) {
		seed(t, s)
		users := []string{alice, bob}
		// Several rounds, each on its own login, so that both orders of
		// arrival are likely to be exercised.
		for round := range 10 {
			l := createLogin(t, s, newLogin(round+1))
			errs := race(len(users), func(i int) error {
				_, err := scanAt(t, s, l.ID, users[i], "ticket-"+users[i], at(scanAfter))
				return err
			})
			w := oneWinner(t, errs, fmt.Sprintf("round %d: scan", round), storage.ErrConflict)
			winner, loser := users[w], users[1-w]
			if got := getLogin(t, s, l.ID).Subject; got != winner {
				t.Fatalf("round %d: bound to %q, want the winner %q", round, got, winner)
			}

			// The loser stays locked out, and its ticket was never stored.
			_, err := scanAt(t, s, l.ID, loser, "ticket-again", at(scanAfter+time.Second))
			wantErr(t, err, storage.ErrConflict, "a later scan by the loser")
			_, err = decideAt(t, s, l.ID, storage.StatusConfirmed, loser, "ticket-"+loser, at(scanAfter+2*time.Second))
			wantErr(t, err, storage.ErrConflict, "a decision with the loser's ticket")
			if got := getLogin(t, s, l.ID).Subject; got != winner {
				t.Fatalf("round %d: binding switched to %q", round, got)
			}

			// The winner may rescan; the new ticket replaces the old one.
			_, err = scanAt(t, s, l.ID, winner, "ticket-rescan", at(scanAfter+3*time.Second))
			must(t, err, "a rescan by the winner")
			_, err = decideAt(t, s, l.ID, storage.StatusConfirmed, winner, "ticket-"+winner, at(decideAfter))
			wantErr(t, err, storage.ErrConflict, "a decision with the winner's old ticket")
			got, err := decideAt(t, s, l.ID, storage.StatusConfirmed, winner, "ticket-rescan", at(decideAfter))
			must(t, err, "a decision with the winner's new ticket")
			if got.Subject != winner || got.Status != storage.StatusConfirmed {
				t.Fatalf("round %d: after confirm: subject %q status %v", round, got.Subject, got.Status)
			}
		}
	}},
	{"concurrent confirm and deny with one ticket: exactly one decision stands", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := scannedLogin(t, s, 1)
		to := []storage.Status{storage.StatusConfirmed, storage.StatusDenied}
		errs := race(20, func(i int) error {
			_, err := decideAt(t, s, l.ID, to[i%2], alice, goodTicket, at(decideAfter))
			return err
		})
		w := oneWinner(t, errs, "decision", storage.ErrConflict)
		if got := getLogin(t, s, l.ID).Status; got != to[w%2] {
			t.Fatalf("status = %v, want the winner's %v", got, to[w%2])
		}
		if n := len(auditEvents(t, s, l.ID)); n != 3 {
			t.Fatalf("%d audit events, want 3 (created, scanned, one decision)", n)
		}
	}},
}
