package storagetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

// RunShared checks the rules that span instances: two stores sharing one
// backend (two pools on one PostgreSQL database, as two server processes
// would have) must agree on every race and wake each other's subscribers
// (SPEC §2.2: a long-poll is woken by a change made on any instance).
// newStores returns two such instances over a fresh, empty backend, and
// releases them with t.Cleanup. A backend that cannot be shared, like the
// in-memory one, may return the same store twice.
func RunShared(t *testing.T, newStores func(t *testing.T) (storage.Store, storage.Store)) {
	t.Helper()
	for _, c := range append(sharedCases, sharedDPoPCases...) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, b := newStores(t)
			c.run(t, a, b)
		})
	}
}

// sharedCase is a rule that spans two instances.
type sharedCase struct {
	name string
	run  func(t *testing.T, a, b storage.Store)
}

var sharedCases = []sharedCase{
	{"a subscriber on one instance hears scan, decision and redeem on the other, with the new status", func(t *testing.T, a, b storage.Store) {
		seed(t, a)
		l := createLogin(t, a, newLogin(1))
		ch := watch(t, a, l.ID)
		_, err := scanAt(t, b, l.ID, alice, goodTicket, at(scanAfter))
		must(t, err, "scan on b")
		wantChange(t, ch, storage.StatusScanned, "the scan on the other instance")
		_, err = decideAt(t, b, l.ID, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
		must(t, err, "confirm on b")
		wantChange(t, ch, storage.StatusConfirmed, "the confirmation on the other instance")
		_, err = redeemAt(t, b, l.ID, redeemIP, at(redeemAfter))
		must(t, err, "redeem on b")
		wantChange(t, ch, storage.StatusRedeemed, "the redeem on the other instance")
	}},
	{"50 goroutines on two instances redeem one confirmed login: exactly one wins", func(t *testing.T, a, b storage.Store) {
		seed(t, a)
		l := confirmedLogin(t, a, 1)
		stores := []storage.Store{a, b}
		errs := race(50, func(i int) error {
			_, err := redeemAt(t, stores[i%2], l.ID, fmt.Sprintf("192.0.2.%d", i+1), at(redeemAfter))
			return err
		})
		oneWinner(t, errs, "redeem", storage.ErrConflict)
	}},
	{"two users scan one QR on two instances: exactly one wins and the binding never switches", func(t *testing.T, a, b storage.Store) {
		seed(t, a)
		stores, users := []storage.Store{a, b}, []string{alice, bob}
		for round := range 10 {
			l := createLogin(t, a, newLogin(round+1))
			errs := race(2, func(i int) error {
				_, err := scanAt(t, stores[i], l.ID, users[i], "ticket-"+users[i], at(scanAfter))
				return err
			})
			w := oneWinner(t, errs, fmt.Sprintf("round %d: scan", round), storage.ErrConflict)
			for _, s := range stores {
				if got := getLogin(t, s, l.ID).Subject; got != users[w] {
					t.Fatalf("round %d: bound to %q, want the winner %q", round, got, users[w])
				}
			}
		}
	}},
	{"20 goroutines on two instances rotate one refresh token: exactly one wins", func(t *testing.T, a, b storage.Store) {
		seed(t, a)
		r := createRefresh(t, a, newRefreshToken("rt-1", "session-1", alice, clientRP))
		stores := []storage.Store{a, b}
		errs := race(20, func(i int) error {
			next := newRefreshToken(fmt.Sprintf("rt-next-%d", i), "session-1", alice, clientRP)
			return stores[i%2].RotateRefreshToken(t.Context(), r.TokenHash, next, at(time.Hour))
		})
		oneWinner(t, errs, "RotateRefreshToken", storage.ErrConflict)
	}},
	{"20 goroutines on two instances consume one auth code: exactly one wins", func(t *testing.T, a, b storage.Store) {
		seed(t, a)
		_, code := codeRequest(t, a, 1)
		stores := []storage.Store{a, b}
		errs := race(20, func(i int) error {
			_, err := stores[i%2].ConsumeAuthCode(t.Context(), code, at(time.Minute), revokeUntil)
			return err
		})
		oneWinner(t, errs, "ConsumeAuthCode", storage.ErrConflict)
	}},
	{"a code redeemed on one instance and replayed on the other revokes the tokens issued from it", func(t *testing.T, a, b storage.Store) {
		seed(t, a)
		req, code := codeRequest(t, a, 1)
		_, err := a.ConsumeAuthCode(t.Context(), code, at(time.Minute), revokeUntil)
		must(t, err, "ConsumeAuthCode on A")
		at1 := createAccess(t, a, newAccessToken("at-1", req.SessionID, "", alice, clientRP))
		_, err = b.ConsumeAuthCode(t.Context(), code, at(2*time.Minute), revokeUntil)
		wantErr(t, err, storage.ErrConflict, "ConsumeAuthCode replayed on B")
		wantAccess(t, a, at1.ID, nil)
	}},
	{"30 sign-ins of one user on two instances leave exactly the cap", func(t *testing.T, a, b storage.Store) {
		seed(t, a)
		stores := []storage.Store{a, b}
		errs := race(30, func(i int) error {
			return stores[i%2].CreateBrowserSession(t.Context(), newBrowserSession(alice, i), 4)
		})
		for i, err := range errs {
			must(t, err, fmt.Sprintf("CreateBrowserSession %d", i))
		}
		for _, s := range stores {
			if ids := sessionIDs(t, s, alice); len(ids) != 4 {
				t.Fatalf("%d sessions remain, want the cap of 4: %v", len(ids), ids)
			}
		}
	}},
	{"Secret on two instances returns identical bytes", func(t *testing.T, a, b storage.Store) {
		stores := []storage.Store{a, b}
		got := make([][]byte, 10)
		errs := race(len(got), func(i int) error {
			var err error
			got[i], err = stores[i%2].Secret(t.Context(), "cookie-key", func() []byte {
				time.Sleep(10 * time.Millisecond) // see the single-instance case
				return []byte(storage.NewSecret(32))
			})
			return err
		})
		for i := range got {
			must(t, errs[i], "Secret")
			if len(got[i]) == 0 || !bytes.Equal(got[i], got[0]) {
				t.Fatalf("caller %d got %q, caller 0 got %q", i, got[i], got[0])
			}
		}
	}},
}
