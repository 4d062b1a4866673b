package storagetest

import (
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

func ptr[T any](v T) *T { return &v }

var userCases = []testCase{
	{"UpdateUser changes only the fields given, and an unknown user is ErrNotFound", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		u := newUser("u-1", "anna", base)
		must(t, s.CreateUser(ctx, u), "CreateUser")
		got, err := s.UpdateUser(ctx, u.ID, storage.UserUpdate{Name: ptr("Anna B."), Disabled: ptr(true)})
		must(t, err, "UpdateUser")
		want := *u
		want.Name, want.Disabled = "Anna B.", true
		wantSame(t, got, &want, "UpdateUser result")
		byName, err := s.UserByUsername(ctx, "anna")
		must(t, err, "UserByUsername")
		wantSame(t, byName, &want, "UserByUsername after the update")

		got, err = s.UpdateUser(ctx, u.ID, storage.UserUpdate{Email: ptr(""), EmailVerified: ptr(false),
			PasswordHash: ptr("$argon2id$new"), Disabled: ptr(false)})
		must(t, err, "UpdateUser")
		want.Email, want.EmailVerified, want.PasswordHash, want.Disabled = "", false, "$argon2id$new", false
		wantSame(t, got, &want, "second UpdateUser result")
		list, err := s.ListUsers(ctx)
		must(t, err, "ListUsers")
		wantSame(t, list, []*storage.User{&want}, "ListUsers after the updates")

		_, err = s.UpdateUser(ctx, "u-missing", storage.UserUpdate{Name: ptr("x")})
		wantErr(t, err, storage.ErrNotFound, "UpdateUser(unknown)")
	}},
	{"UpdateUser with SignOut revokes the user's tokens and sessions and voids their scanned and confirmed QR logins, sparing the kept session and other users", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		const keep = "phone-session-kept"
		now := at(decideAfter + 5*time.Second)
		until := at(48 * time.Hour)

		keptRT := createRefresh(t, s, newRefreshToken("rt-keep", keep, alice, clientApp))
		keptAT := createAccess(t, s, newAccessToken("at-keep", keep, keptRT.ID, alice, clientApp))
		rt1 := createRefresh(t, s, newRefreshToken("rt-1", "session-1", alice, clientRP))
		at1 := createAccess(t, s, newAccessToken("at-1", "session-1", rt1.ID, alice, clientRP))
		bobRT := createRefresh(t, s, newRefreshToken("rt-bob", "session-bob", bob, clientRP))
		bobAT := createAccess(t, s, newAccessToken("at-bob", "session-bob", bobRT.ID, bob, clientRP))
		code, _ := codeRequest(t, s, 1) // completed by alice, code not yet exchanged

		scanned := scannedLogin(t, s, 1)
		confirmed := confirmedLogin(t, s, 2)
		fromKept := createLogin(t, s, newLogin(3))
		_, err := s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventScan, ID: fromKept.ID, Subject: alice, Session: keep,
			NewTicketHash: ticketHash(fromKept.ID, goodTicket), TicketExpiresAt: at(scanAfter + ticketTTL), IP: scanIP, Now: at(scanAfter)})
		must(t, err, "scan from the kept session")
		pending := createLogin(t, s, newLogin(4))
		bobs := createLogin(t, s, newLogin(5))
		_, err = scanAt(t, s, bobs.ID, bob, goodTicket, at(scanAfter))
		must(t, err, "bob's scan")
		wake := watch(t, s, scanned.ID)

		_, err = s.UpdateUser(ctx, alice, storage.UserUpdate{PasswordHash: ptr("$argon2id$changed"),
			SignOut: &storage.SignOut{KeepSession: keep, Now: now, Until: until}})
		must(t, err, "UpdateUser with SignOut")
		wantChange(t, wake, storage.StatusDenied, "a sign-out voided the login")

		wantAccess(t, s, at1.ID, nil)
		wantRefresh(t, s, rt1, true)
		wantErr(t, s.CreateAccessToken(ctx, newAccessToken("at-1b", "session-1", "", alice, clientRP)), storage.ErrConflict,
			"a new token in a signed-out session")
		wantErr(t, s.CreateAccessToken(ctx, newAccessToken("at-code", code.SessionID, "", alice, clientRP)), storage.ErrConflict,
			"the tokens of a code issued before the sign-out")
		wantErr(t, s.CreateAccessToken(ctx, newAccessToken("at-qr", confirmed.ID, "", alice, clientRP)), storage.ErrConflict,
			"the tokens of a QR login confirmed before the sign-out")

		wantAccess(t, s, keptAT.ID, keptAT)
		wantRefresh(t, s, keptRT, false)
		must(t, s.CreateAccessToken(ctx, newAccessToken("at-keep-2", keep, "", alice, clientApp)), "a new token in the kept session")
		wantAccess(t, s, bobAT.ID, bobAT)
		wantRefresh(t, s, bobRT, false)

		for _, l := range []*storage.QRLogin{scanned, confirmed} {
			got := getLogin(t, s, l.ID)
			if got.Status != storage.StatusDenied || !got.DecidedAt.Equal(now) {
				t.Fatalf("login %s after the sign-out: %v decided %v, want denied at %v", l.ID, got.Status, got.DecidedAt, now)
			}
			ev := auditEvents(t, s, l.ID)
			if last := ev[len(ev)-1]; last.Event != "voided" || last.Subject != alice || !last.At.Equal(now) {
				t.Fatalf("login %s: last audit event %+v, want voided", l.ID, last)
			}
		}
		_, err = decideAt(t, s, scanned.ID, storage.StatusConfirmed, alice, goodTicket, now)
		wantErr(t, err, storage.ErrConflict, "confirm with a voided ticket")
		_, err = redeemAt(t, s, confirmed.ID, redeemIP, now)
		wantErr(t, err, storage.ErrConflict, "redeem of a voided confirmation")
		for l, want := range map[string]storage.Status{fromKept.ID: storage.StatusScanned, pending.ID: storage.StatusPending, bobs.ID: storage.StatusScanned} {
			if got := getLogin(t, s, l).Status; got != want {
				t.Fatalf("login %s after alice's sign-out: %v, want %v", l, got, want)
			}
		}
		u, err := s.User(ctx, alice)
		must(t, err, "User")
		wantSame(t, u.PasswordHash, "$argon2id$changed", "the new password hash")
	}},
	{"a SignOut without a kept session revokes every session of the user", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		rt := createRefresh(t, s, newRefreshToken("rt-1", "phone-session", alice, clientApp))
		a := createAccess(t, s, newAccessToken("at-1", "phone-session", rt.ID, alice, clientApp))
		_, err := s.UpdateUser(ctx, alice, storage.UserUpdate{Disabled: ptr(true),
			SignOut: &storage.SignOut{Now: at(time.Minute), Until: at(48 * time.Hour)}})
		must(t, err, "UpdateUser")
		wantAccess(t, s, a.ID, nil)
		wantRefresh(t, s, rt, true)
		wantErr(t, s.RotateRefreshToken(ctx, rt.TokenHash, newRefreshToken("rt-2", "phone-session", alice, clientApp), at(2*time.Minute)),
			storage.ErrConflict, "a refresh after the sign-out")
		u, err := s.User(ctx, alice)
		must(t, err, "User")
		if !u.Disabled {
			t.Fatal("the user is not disabled")
		}
	}},
}
