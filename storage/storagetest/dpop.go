package storagetest

import (
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

// DPoP proofs spent (RFC 9449 §11.1). A proof's record lives until its
// until; the suite's times are relative to base.
var dpopCases = []testCase{
	{"a DPoP proof is spent once: a second use before its until is a conflict, after it a new use succeeds", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		key := storage.Hash("jkt\x00jti-1")
		must(t, s.UseDPoPProof(ctx, key, at(time.Minute), at(0)), "first use")
		wantErr(t, s.UseDPoPProof(ctx, key, at(2*time.Minute), at(30*time.Second)), storage.ErrConflict, "a replay within the window")
		wantErr(t, s.UseDPoPProof(ctx, key, at(2*time.Minute), at(time.Minute-time.Microsecond)), storage.ErrConflict, "a replay a microsecond before until")
		must(t, s.UseDPoPProof(ctx, storage.Hash("jkt\x00jti-2"), at(time.Minute), at(30*time.Second)), "another proof")
		must(t, s.UseDPoPProof(ctx, key, at(3*time.Minute), at(time.Minute)), "a use once the record's until has come")
		wantErr(t, s.UseDPoPProof(ctx, key, at(4*time.Minute), at(2*time.Minute)), storage.ErrConflict, "a replay of the new record")
	}},
	{"50 goroutines spend one DPoP proof: exactly one wins", func(t *testing.T, s storage.Store) {
		key := storage.Hash("jkt\x00jti-race")
		errs := race(50, func(int) error { return s.UseDPoPProof(t.Context(), key, at(time.Minute), at(0)) })
		oneWinner(t, errs, "UseDPoPProof", storage.ErrConflict)
	}},
	{"DeleteExpired removes spent DPoP proofs past their until and keeps live ones", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		old, live := storage.Hash("jkt\x00jti-old"), storage.Hash("jkt\x00jti-live")
		must(t, s.UseDPoPProof(ctx, old, at(time.Minute), at(0)), "UseDPoPProof old")
		must(t, s.UseDPoPProof(ctx, live, at(10*time.Minute), at(0)), "UseDPoPProof live")
		n, err := s.DeleteExpired(ctx, at(5*time.Minute), 100)
		must(t, err, "DeleteExpired")
		if n != 1 {
			t.Fatalf("DeleteExpired removed %d rows, want the one proof past its until", n)
		}
		wantErr(t, s.UseDPoPProof(ctx, live, at(11*time.Minute), at(5*time.Minute)), storage.ErrConflict, "the live proof after the cleanup")
	}},
	{"DPoP bindings round-trip: an auth request's dpop_jkt through its code, the jkt of access tokens and of refresh tokens through rotation", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		const jkt, other = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
		a := newAuthRequest(1)
		a.DPoPJKT = jkt
		mustCreateAuthRequest(t, s, a)
		got, err := s.AuthRequest(ctx, a.ID, base)
		must(t, err, "AuthRequest")
		wantSame(t, got, a, "AuthRequest")
		must(t, s.CompleteAuthRequest(ctx, a.ID, alice, at(time.Minute), []string{"pwd"}, ""), "CompleteAuthRequest")
		must(t, s.SaveAuthCode(ctx, a.ID, storage.Hash("code-1")), "SaveAuthCode")
		consumed, err := s.ConsumeAuthCode(ctx, storage.Hash("code-1"), at(time.Minute), at(time.Hour))
		must(t, err, "ConsumeAuthCode")
		if consumed.DPoPJKT != jkt {
			t.Fatalf("the consumed request's dpop_jkt is %q, want %q", consumed.DPoPJKT, jkt)
		}

		bound := newAccessToken("at-bound", "session-1", "", alice, clientRP)
		bound.JKT = jkt
		wantAccess(t, s, createAccess(t, s, bound).ID, bound)
		plain := createAccess(t, s, newAccessToken("at-plain", "session-1", "", alice, clientRP))
		wantAccess(t, s, plain.ID, plain)

		r := newRefreshToken("rt-1", "session-1", alice, clientRP)
		r.JKT = jkt
		wantRefresh(t, s, createRefresh(t, s, r), false)
		next := newRefreshToken("rt-2", "session-1", alice, clientRP)
		next.JKT = other
		must(t, s.RotateRefreshToken(ctx, r.TokenHash, next, at(time.Minute)), "RotateRefreshToken")
		next.CreatedAt = base
		wantRefresh(t, s, next, false)
	}},
	{"a QR login keeps its DPoP binding through scan, confirmation and redeem, and the redeem inserts tokens bound to Tokens.JKT", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		const jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
		l := newLogin(1)
		l.DPoPJKT = jkt
		createLogin(t, s, l)
		byCode, err := s.QRLoginByDeviceCode(ctx, l.DeviceCodeHash)
		must(t, err, "QRLoginByDeviceCode")
		if byCode.DPoPJKT != jkt {
			t.Fatalf("read by device code: dpop_jkt %q, want %q", byCode.DPoPJKT, jkt)
		}
		_, err = scanAt(t, s, l.ID, alice, goodTicket, at(scanAfter))
		must(t, err, "scan")
		confirmed, err := decideAt(t, s, l.ID, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
		must(t, err, "confirm")
		if confirmed.DPoPJKT != jkt {
			t.Fatalf("after the confirmation: dpop_jkt %q, want %q", confirmed.DPoPJKT, jkt)
		}
		tk := &storage.Tokens{AccessID: "at-bound", AccessExpiresAt: at(time.Hour), RefreshID: "rt-bound",
			RefreshHash: storage.Hash("refresh-bound"), RefreshExpiresAt: at(48 * time.Hour), AMR: []string{"qr"}, JKT: jkt}
		got, err := s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventRedeem, ID: l.ID, IP: redeemIP, Now: at(redeemAfter), Tokens: tk})
		must(t, err, "redeem")
		if got.Login.DPoPJKT != jkt {
			t.Fatalf("the redeemed login: dpop_jkt %q, want %q", got.Login.DPoPJKT, jkt)
		}
		access, refresh := tk.For(got.Login, at(redeemAfter))
		if access.JKT != jkt || refresh.JKT != jkt {
			t.Fatalf("Tokens.For: access jkt %q, refresh jkt %q", access.JKT, refresh.JKT)
		}
		wantAccess(t, s, access.ID, access)
		wantRefresh(t, s, refresh, false)
	}},
}

// sharedDPoPCases span two instances.
var sharedDPoPCases = []sharedCase{
	{"a DPoP proof spent on one instance is refused on the other, and 20 racing on two instances leave one winner", func(t *testing.T, a, b storage.Store) {
		ctx := t.Context()
		key := storage.Hash("jkt\x00jti-shared")
		must(t, a.UseDPoPProof(ctx, key, at(time.Minute), at(0)), "use on a")
		wantErr(t, b.UseDPoPProof(ctx, key, at(time.Minute), at(time.Second)), storage.ErrConflict, "replay on b")
		raced := storage.Hash("jkt\x00jti-raced")
		stores := []storage.Store{a, b}
		errs := race(20, func(i int) error { return stores[i%2].UseDPoPProof(ctx, raced, at(time.Minute), at(0)) })
		oneWinner(t, errs, "UseDPoPProof on two instances", storage.ErrConflict)
	}},
}
