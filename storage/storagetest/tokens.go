package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

const (
	accessTTL  = time.Hour
	refreshTTL = 24 * time.Hour
)

func newAccessToken(id, sessionID, refreshID, subject, clientID string) *storage.AccessToken {
	return &storage.AccessToken{
		ID:             id,
		ClientID:       clientID,
		Subject:        subject,
		Audience:       []string{clientID},
		Scopes:         []string{"openid", "profile"},
		SessionID:      sessionID,
		RefreshTokenID: refreshID,
		CreatedAt:      base,
		ExpiresAt:      base.Add(accessTTL),
	}
}

func newRefreshToken(id, sessionID, subject, clientID string) *storage.RefreshToken {
	return &storage.RefreshToken{
		ID:        id,
		TokenHash: storage.Hash("refresh-token-" + id),
		SessionID: sessionID,
		ClientID:  clientID,
		Subject:   subject,
		Audience:  []string{clientID},
		Scopes:    []string{"openid", "offline_access"},
		AMR:       []string{"qr"},
		AuthTime:  base,
		CreatedAt: base,
		ExpiresAt: base.Add(refreshTTL),
	}
}

func createAccess(t *testing.T, s storage.Store, a *storage.AccessToken) *storage.AccessToken {
	t.Helper()
	must(t, s.CreateAccessToken(t.Context(), a), "CreateAccessToken("+a.ID+")")
	return a
}

func createRefresh(t *testing.T, s storage.Store, r *storage.RefreshToken) *storage.RefreshToken {
	t.Helper()
	must(t, s.CreateRefreshToken(t.Context(), r), "CreateRefreshToken("+r.ID+")")
	return r
}

// wantAccess fails unless the access token is live (want != nil, and equal
// to it) or gone (want == nil, ErrNotFound) at base.
func wantAccess(t *testing.T, s storage.Store, id string, want *storage.AccessToken) {
	t.Helper()
	got, err := s.AccessToken(t.Context(), id, base)
	if want == nil {
		wantErr(t, err, storage.ErrNotFound, "AccessToken("+id+")")
		return
	}
	must(t, err, "AccessToken("+id+")")
	wantSame(t, got, want, "AccessToken("+id+")")
}

// wantRefresh fails unless the refresh token reads back as want, with
// Revoked as given.
func wantRefresh(t *testing.T, s storage.Store, want *storage.RefreshToken, revoked bool) {
	t.Helper()
	got, err := s.RefreshTokenByHash(t.Context(), want.TokenHash)
	must(t, err, "RefreshTokenByHash("+want.ID+")")
	w := *want
	w.Revoked = revoked
	wantSame(t, got, &w, "RefreshTokenByHash("+want.ID+")")
}

var tokenCases = []testCase{
	{"an access token reads back until it expires", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		a := createAccess(t, s, newAccessToken("at-1", "session-1", "", alice, clientRP))
		got, err := s.AccessToken(ctx, a.ID, a.ExpiresAt.Add(-time.Microsecond))
		must(t, err, "AccessToken before expiry")
		wantSame(t, got, a, "AccessToken")
		_, err = s.AccessToken(ctx, a.ID, a.ExpiresAt)
		wantErr(t, err, storage.ErrNotFound, "AccessToken at expiry")
		_, err = s.AccessToken(ctx, "at-missing", base)
		wantErr(t, err, storage.ErrNotFound, "AccessToken(unknown)")
	}},
	{"a revoked access token is not found and others stay", func(t *testing.T, s storage.Store) {
		seed(t, s)
		a := createAccess(t, s, newAccessToken("at-1", "session-1", "", alice, clientRP))
		b := createAccess(t, s, newAccessToken("at-2", "session-1", "", alice, clientRP))
		must(t, s.RevokeAccessToken(t.Context(), a.ID), "RevokeAccessToken")
		wantAccess(t, s, a.ID, nil)
		wantAccess(t, s, b.ID, b)
	}},
	{"a duplicate token id or refresh token hash fails with ErrConflict", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		a := createAccess(t, s, newAccessToken("at-1", "session-1", "", alice, clientRP))
		wantErr(t, s.CreateAccessToken(ctx, newAccessToken(a.ID, "session-2", "", bob, clientRP)),
			storage.ErrConflict, "CreateAccessToken(same id)")
		wantAccess(t, s, a.ID, a)
		r := createRefresh(t, s, newRefreshToken("rt-1", "session-1", alice, clientRP))
		sameID := newRefreshToken("rt-2", "session-2", bob, clientRP)
		sameID.ID = r.ID
		wantErr(t, s.CreateRefreshToken(ctx, sameID), storage.ErrConflict, "CreateRefreshToken(same id)")
		sameHash := newRefreshToken("rt-3", "session-3", bob, clientRP)
		sameHash.TokenHash = r.TokenHash
		wantErr(t, s.CreateRefreshToken(ctx, sameHash), storage.ErrConflict, "CreateRefreshToken(same hash)")
		wantRefresh(t, s, r, false)
		_, err := s.RefreshTokenByHash(ctx, sameID.TokenHash)
		wantErr(t, err, storage.ErrNotFound, "RefreshTokenByHash(rejected)")
	}},
	{"a refresh token reads back by hash whatever its state", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		r := createRefresh(t, s, newRefreshToken("rt-1", "session-1", alice, clientRP))
		wantRefresh(t, s, r, false)
		next := newRefreshToken("rt-2", "session-1", alice, clientRP)
		must(t, s.RotateRefreshToken(ctx, r.TokenHash, next, at(time.Hour)), "RotateRefreshToken")
		rotated := *r
		rotated.RotatedAt = at(time.Hour)
		wantRefresh(t, s, &rotated, false)
		must(t, s.RevokeRefreshToken(ctx, r.ID), "RevokeRefreshToken")
		wantRefresh(t, s, &rotated, true)
		_, err := s.RefreshTokenByHash(ctx, storage.Hash("refresh-token-missing"))
		wantErr(t, err, storage.ErrNotFound, "RefreshTokenByHash(unknown)")
	}},
	{"RotateRefreshToken marks the old token rotated and inserts its successor", func(t *testing.T, s storage.Store) {
		seed(t, s)
		r := createRefresh(t, s, newRefreshToken("rt-1", "session-1", alice, clientRP))
		next := newRefreshToken("rt-2", "session-1", alice, clientRP)
		next.CreatedAt, next.ExpiresAt = at(time.Hour), at(time.Hour+refreshTTL)
		must(t, s.RotateRefreshToken(t.Context(), r.TokenHash, next, at(time.Hour)), "RotateRefreshToken")
		old := *r
		old.RotatedAt = at(time.Hour)
		wantRefresh(t, s, &old, false)
		wantRefresh(t, s, next, false)
	}},
	{"a rotated, revoked, expired or unknown refresh token cannot be rotated, and no successor is stored", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		for i, c := range []struct {
			name  string
			setup func(t *testing.T, r *storage.RefreshToken)
			now   time.Time
			// unknown: the old hash matches nothing; the contract's
			// "ErrConflict otherwise" may also be reported as ErrNotFound.
			unknown bool
		}{
			{"rotated", func(t *testing.T, r *storage.RefreshToken) {
				must(t, s.RotateRefreshToken(ctx, r.TokenHash, newRefreshToken(r.ID+"-next", r.SessionID, alice, clientRP), at(time.Minute)), "first rotation")
			}, at(time.Hour), false},
			{"revoked", func(t *testing.T, r *storage.RefreshToken) {
				must(t, s.RevokeRefreshToken(ctx, r.ID), "RevokeRefreshToken")
			}, at(time.Hour), false},
			{"expired", func(t *testing.T, r *storage.RefreshToken) {}, at(refreshTTL), false},
			{"unknown", func(t *testing.T, r *storage.RefreshToken) { r.TokenHash = storage.Hash("refresh-token-missing") }, at(time.Hour), true},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := createRefresh(t, s, newRefreshToken(fmt.Sprintf("rt-%d", i), fmt.Sprintf("session-%d", i), alice, clientRP))
				c.setup(t, r)
				var before *storage.RefreshToken
				if !c.unknown {
					var err error
					before, err = s.RefreshTokenByHash(ctx, r.TokenHash)
					must(t, err, "RefreshTokenByHash")
				}
				next := newRefreshToken(r.ID+"-late", r.SessionID, alice, clientRP)
				err := s.RotateRefreshToken(ctx, r.TokenHash, next, c.now)
				if c.unknown {
					wantErrOneOf(t, err, "RotateRefreshToken", storage.ErrConflict, storage.ErrNotFound)
				} else {
					wantErr(t, err, storage.ErrConflict, "RotateRefreshToken")
					wantRefresh(t, s, before, before.Revoked)
				}
				_, err = s.RefreshTokenByHash(ctx, next.TokenHash)
				wantErr(t, err, storage.ErrNotFound, "RefreshTokenByHash(rejected successor)")
			})
		}
	}},
	{"a rotation whose successor collides fails with ErrConflict and leaves the old token unrotated", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		r := createRefresh(t, s, newRefreshToken("rt-1", "session-1", alice, clientRP))
		other := createRefresh(t, s, newRefreshToken("rt-other", "session-2", bob, clientRP))
		next := newRefreshToken("rt-2", "session-1", alice, clientRP)
		next.TokenHash = other.TokenHash
		wantErr(t, s.RotateRefreshToken(ctx, r.TokenHash, next, at(time.Hour)), storage.ErrConflict, "RotateRefreshToken")
		wantRefresh(t, s, r, false)
		wantRefresh(t, s, other, false)
		must(t, s.RotateRefreshToken(ctx, r.TokenHash, newRefreshToken("rt-3", "session-1", alice, clientRP), at(time.Hour)),
			"a rotation with a fresh successor afterwards")
	}},
	{"20 goroutines rotate one refresh token: exactly one wins, and only its successor exists", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		r := createRefresh(t, s, newRefreshToken("rt-1", "session-1", alice, clientRP))
		next := make([]*storage.RefreshToken, 20)
		for i := range next {
			next[i] = newRefreshToken(fmt.Sprintf("rt-next-%d", i), "session-1", alice, clientRP)
		}
		errs := race(len(next), func(i int) error {
			return s.RotateRefreshToken(ctx, r.TokenHash, next[i], at(time.Hour))
		})
		w := oneWinner(t, errs, "RotateRefreshToken", storage.ErrConflict)
		for i, n := range next {
			if i == w {
				wantRefresh(t, s, n, false)
				continue
			}
			_, err := s.RefreshTokenByHash(ctx, n.TokenHash)
			wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("the losing successor %d", i))
		}
	}},
	{"RevokeSession revokes every access and refresh token of the family and no other", func(t *testing.T, s storage.Store) {
		// RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the
		// whole family.
		seed(t, s)
		ctx := t.Context()
		r1 := createRefresh(t, s, newRefreshToken("rt-1", "session-1", alice, clientRP))
		r2 := newRefreshToken("rt-2", "session-1", alice, clientRP)
		must(t, s.RotateRefreshToken(ctx, r1.TokenHash, r2, at(time.Minute)), "RotateRefreshToken")
		r1.RotatedAt = at(time.Minute)
		a1 := createAccess(t, s, newAccessToken("at-1", "session-1", r1.ID, alice, clientRP))
		a2 := createAccess(t, s, newAccessToken("at-2", "session-1", r2.ID, alice, clientRP))
		r3 := createRefresh(t, s, newRefreshToken("rt-3", "session-2", alice, clientRP))
		a3 := createAccess(t, s, newAccessToken("at-3", "session-2", r3.ID, alice, clientRP))

		must(t, s.RevokeSession(ctx, "session-1", at(24*time.Hour)), "RevokeSession")
		wantAccess(t, s, a1.ID, nil)
		wantAccess(t, s, a2.ID, nil)
		wantRefresh(t, s, r1, true)
		wantRefresh(t, s, r2, true)
		wantErr(t, s.RotateRefreshToken(ctx, r2.TokenHash, newRefreshToken("rt-4", "session-1", alice, clientRP), at(time.Hour)),
			storage.ErrConflict, "RotateRefreshToken of a revoked family")
		wantAccess(t, s, a3.ID, a3)
		wantRefresh(t, s, r3, false)
	}},
	{"a revoked session refuses new tokens until its tombstone is cleaned up", func(t *testing.T, s storage.Store) {
		// "This wasn't me" before the tokens exist (a QR login confirmed,
		// not yet redeemed) must still leave the session without tokens.
		seed(t, s)
		ctx := t.Context()
		until := at(24 * time.Hour)
		must(t, s.RevokeSession(ctx, "session-1", until), "RevokeSession of a session without tokens")
		err := s.CreateAccessToken(ctx, newAccessToken("at-1", "session-1", "", alice, clientRP))
		wantErr(t, err, storage.ErrConflict, "CreateAccessToken in a revoked session")
		err = s.CreateRefreshToken(ctx, newRefreshToken("rt-1", "session-1", alice, clientRP))
		wantErr(t, err, storage.ErrConflict, "CreateRefreshToken in a revoked session")
		_, err = s.AccessToken(ctx, "at-1", at(time.Minute))
		wantErr(t, err, storage.ErrNotFound, "the refused access token")
		createAccess(t, s, newAccessToken("at-2", "session-2", "", alice, clientRP))

		if _, err := s.DeleteExpired(ctx, until.Add(time.Second), 100); err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		must(t, s.CreateAccessToken(ctx, newAccessToken("at-3", "session-1", "", alice, clientRP)), "CreateAccessToken after the tombstone expired")
	}},
	{"RevokeRefreshToken revokes the token and the access tokens issued with it", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		r1 := createRefresh(t, s, newRefreshToken("rt-1", "session-1", alice, clientRP))
		r2 := createRefresh(t, s, newRefreshToken("rt-2", "session-1", alice, clientRP))
		a1 := createAccess(t, s, newAccessToken("at-1", "session-1", r1.ID, alice, clientRP))
		a2 := createAccess(t, s, newAccessToken("at-2", "session-1", r2.ID, alice, clientRP))
		a3 := createAccess(t, s, newAccessToken("at-3", "session-1", "", alice, clientRP))
		must(t, s.RevokeRefreshToken(ctx, r1.ID), "RevokeRefreshToken")
		wantRefresh(t, s, r1, true)
		wantAccess(t, s, a1.ID, nil)
		wantRefresh(t, s, r2, false)
		wantAccess(t, s, a2.ID, a2)
		wantAccess(t, s, a3.ID, a3)
	}},
	{"RevokeUserClientSessions revokes the user's tokens at that client only", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		type pair struct {
			a *storage.AccessToken
			r *storage.RefreshToken
		}
		mk := func(n int, subject, clientID string) pair {
			sid := fmt.Sprintf("session-%d", n)
			r := createRefresh(t, s, newRefreshToken(fmt.Sprintf("rt-%d", n), sid, subject, clientID))
			return pair{createAccess(t, s, newAccessToken(fmt.Sprintf("at-%d", n), sid, r.ID, subject, clientID)), r}
		}
		aliceRP1, aliceRP2 := mk(1, alice, clientRP), mk(2, alice, clientRP)
		aliceOther, bobRP := mk(3, alice, clientOther), mk(4, bob, clientRP)
		must(t, s.RevokeUserClientSessions(ctx, alice, clientRP), "RevokeUserClientSessions")
		for _, p := range []pair{aliceRP1, aliceRP2} {
			wantAccess(t, s, p.a.ID, nil)
			wantRefresh(t, s, p.r, true)
		}
		for _, p := range []pair{aliceOther, bobRP} {
			wantAccess(t, s, p.a.ID, p.a)
			wantRefresh(t, s, p.r, false)
		}
	}},
}
