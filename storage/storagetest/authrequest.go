package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

const authRequestTTL = 10 * time.Minute

// revokeUntil is how long a session revoked by a replayed code stays
// revoked in these cases.
var revokeUntil = at(48 * time.Hour)

// newAuthRequest returns an unfinished authorization request numbered n,
// created at base.
func newAuthRequest(n int) *storage.AuthRequest {
	return &storage.AuthRequest{
		ID:                  fmt.Sprintf("authreq-%d", n),
		ClientID:            clientRP,
		RedirectURI:         "https://rp.example/cb",
		State:               fmt.Sprintf("state-%d", n),
		Nonce:               fmt.Sprintf("nonce-%d", n),
		Scopes:              []string{"openid", "email"},
		ResponseType:        "code",
		ResponseMode:        "query",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Prompt:              []string{"login", "consent"},
		LoginHint:           "alice",
		SessionID:           fmt.Sprintf("session-authreq-%d", n),
		CreatedAt:           base,
		ExpiresAt:           base.Add(authRequestTTL),
	}
}

func mustCreateAuthRequest(t *testing.T, s storage.Store, a *storage.AuthRequest) {
	t.Helper()
	must(t, s.CreateAuthRequest(t.Context(), a), "CreateAuthRequest("+a.ID+")")
}

// codeRequest creates request n, completes it for alice and attaches the
// code "code-n".
func codeRequest(t *testing.T, s storage.Store, n int) (*storage.AuthRequest, []byte) {
	t.Helper()
	ctx := t.Context()
	a := newAuthRequest(n)
	mustCreateAuthRequest(t, s, a)
	must(t, s.CompleteAuthRequest(ctx, a.ID, alice, at(time.Minute), []string{"pwd"}, ""), "CompleteAuthRequest")
	code := storage.Hash(fmt.Sprintf("code-%d", n))
	must(t, s.SaveAuthCode(ctx, a.ID, code), "SaveAuthCode")
	a.Subject, a.AuthTime, a.AMR, a.Done, a.CodeHash = alice, at(time.Minute), []string{"pwd"}, true, code
	return a, code
}

func uintPtr(v uint) *uint { return &v }

var authRequestCases = []testCase{
	{"an auth request reads back until it expires", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		a := newAuthRequest(1)
		mustCreateAuthRequest(t, s, a)
		got, err := s.AuthRequest(ctx, a.ID, a.ExpiresAt.Add(-time.Microsecond))
		must(t, err, "AuthRequest before expiry")
		wantSame(t, got, a, "AuthRequest")
		_, err = s.AuthRequest(ctx, a.ID, a.ExpiresAt)
		wantErr(t, err, storage.ErrNotFound, "AuthRequest at expiry")
		_, err = s.AuthRequest(ctx, "authreq-missing", base)
		wantErr(t, err, storage.ErrNotFound, "AuthRequest(unknown)")
	}},
	{"a duplicate auth request id fails with ErrConflict", func(t *testing.T, s storage.Store) {
		seed(t, s)
		a := newAuthRequest(1)
		mustCreateAuthRequest(t, s, a)
		dup := newAuthRequest(1)
		dup.State = "another state"
		wantErr(t, s.CreateAuthRequest(t.Context(), dup), storage.ErrConflict, "CreateAuthRequest(duplicate)")
		got, err := s.AuthRequest(t.Context(), a.ID, base)
		must(t, err, "AuthRequest")
		wantSame(t, got, a, "the first request")
	}},
	{"max_age round-trips, and zero stays distinct from absent", func(t *testing.T, s storage.Store) {
		// OIDC Core §3.1.2.1: max_age=0 forces a fresh login; it must not
		// read back as "no max_age".
		seed(t, s)
		for i, maxAge := range []*uint{nil, uintPtr(0), uintPtr(3600)} {
			a := newAuthRequest(i + 1)
			a.MaxAge = maxAge
			mustCreateAuthRequest(t, s, a)
			got, err := s.AuthRequest(t.Context(), a.ID, base)
			must(t, err, "AuthRequest")
			wantSame(t, got, a, fmt.Sprintf("AuthRequest with MaxAge %v", maxAge))
		}
	}},
	{"CompleteAuthRequest records the user once", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		a := newAuthRequest(1)
		mustCreateAuthRequest(t, s, a)
		must(t, s.CompleteAuthRequest(ctx, a.ID, alice, at(time.Minute), []string{"pwd", "qr"}, ""), "CompleteAuthRequest")
		want := *a
		want.Subject, want.AuthTime, want.AMR, want.Done = alice, at(time.Minute), []string{"pwd", "qr"}, true
		got, err := s.AuthRequest(ctx, a.ID, base)
		must(t, err, "AuthRequest")
		wantSame(t, got, &want, "AuthRequest after completion")
		wantErr(t, s.CompleteAuthRequest(ctx, a.ID, bob, at(2*time.Minute), []string{"pwd"}, ""),
			storage.ErrConflict, "second CompleteAuthRequest")
		got, err = s.AuthRequest(ctx, a.ID, base)
		must(t, err, "AuthRequest")
		wantSame(t, got, &want, "AuthRequest after the second completion")
		wantErr(t, s.CompleteAuthRequest(ctx, "authreq-missing", alice, base, nil, ""),
			storage.ErrNotFound, "CompleteAuthRequest(unknown)")
	}},
	{"SaveAuthCode attaches one code", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		a, code := codeRequest(t, s, 1)
		wantErr(t, s.SaveAuthCode(ctx, a.ID, storage.Hash("code-other")), storage.ErrConflict, "second SaveAuthCode")
		got, err := s.AuthRequest(ctx, a.ID, base)
		must(t, err, "AuthRequest")
		wantSame(t, got.CodeHash, code, "CodeHash after the second SaveAuthCode")
		wantErr(t, s.SaveAuthCode(ctx, "authreq-missing", storage.Hash("code-x")), storage.ErrNotFound, "SaveAuthCode(unknown)")
	}},
	{"ConsumeAuthCode returns the request once and detaches its code", func(t *testing.T, s storage.Store) {
		// RFC 6749 §4.1.2: the authorization code is usable once.
		seed(t, s)
		ctx := t.Context()
		a, code := codeRequest(t, s, 1)
		got, err := s.ConsumeAuthCode(ctx, code, at(time.Minute), revokeUntil)
		must(t, err, "ConsumeAuthCode")
		got.CodeHash = a.CodeHash // the contract leaves the returned CodeHash open
		wantSame(t, got, a, "ConsumeAuthCode")
		_, err = s.ConsumeAuthCode(ctx, code, at(time.Minute), revokeUntil)
		wantErr(t, err, storage.ErrConflict, "second ConsumeAuthCode")
		after, err := s.AuthRequest(ctx, a.ID, at(time.Minute))
		must(t, err, "AuthRequest after consumption")
		if len(after.CodeHash) != 0 {
			t.Fatalf("CodeHash after consumption = %x, want none", after.CodeHash)
		}
		_, err = s.ConsumeAuthCode(ctx, storage.Hash("code-missing"), at(time.Minute), revokeUntil)
		wantErr(t, err, storage.ErrNotFound, "ConsumeAuthCode(unknown)")
	}},
	{"20 goroutines consume one auth code: exactly one wins", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		_, code := codeRequest(t, s, 1)
		errs := race(20, func(int) error {
			_, err := s.ConsumeAuthCode(ctx, code, at(time.Minute), revokeUntil)
			return err
		})
		oneWinner(t, errs, "ConsumeAuthCode", storage.ErrConflict)
	}},
	{"an expired request's code cannot be consumed", func(t *testing.T, s storage.Store) {
		seed(t, s)
		a, code := codeRequest(t, s, 1)
		_, err := s.ConsumeAuthCode(t.Context(), code, a.ExpiresAt, revokeUntil)
		wantErr(t, err, storage.ErrNotFound, "ConsumeAuthCode at expiry")
	}},
	{"a spent code presented again is ErrConflict and revokes the tokens issued from it, and only those", func(t *testing.T, s storage.Store) {
		// RFC 6749 §4.1.2: deny the second use and revoke the tokens
		// previously issued based on that code.
		seed(t, s)
		ctx := t.Context()
		a, code := codeRequest(t, s, 1)
		_, err := s.ConsumeAuthCode(ctx, code, at(time.Minute), revokeUntil)
		must(t, err, "ConsumeAuthCode")
		rt := createRefresh(t, s, newRefreshToken("rt-1", a.SessionID, alice, clientRP))
		at1 := createAccess(t, s, newAccessToken("at-1", a.SessionID, rt.ID, alice, clientRP))
		other := createAccess(t, s, newAccessToken("at-other", "session-other", "", alice, clientRP))
		// zitadel deletes the request once its tokens exist: the spent
		// code must outlive it.
		must(t, s.DeleteAuthRequest(ctx, a.ID), "DeleteAuthRequest")

		_, err = s.ConsumeAuthCode(ctx, code, at(2*time.Minute), revokeUntil)
		wantErr(t, err, storage.ErrConflict, "ConsumeAuthCode of a spent code")
		wantAccess(t, s, at1.ID, nil)
		wantRefresh(t, s, rt, true)
		wantAccess(t, s, other.ID, other)
		// A token of that session minted after the replay (a redemption
		// still under way) is refused too.
		wantErr(t, s.CreateAccessToken(ctx, newAccessToken("at-late", a.SessionID, "", alice, clientRP)), storage.ErrConflict, "CreateAccessToken after the replay")
	}},
	{"a spent code is remembered until its request would have expired, then unknown", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		a, code := codeRequest(t, s, 1)
		_, err := s.ConsumeAuthCode(ctx, code, at(time.Minute), revokeUntil)
		must(t, err, "ConsumeAuthCode")
		at1 := createAccess(t, s, newAccessToken("at-1", a.SessionID, "", alice, clientRP))
		_, err = s.ConsumeAuthCode(ctx, code, a.ExpiresAt, revokeUntil)
		wantErr(t, err, storage.ErrNotFound, "ConsumeAuthCode of a spent code at expiry")
		wantAccess(t, s, at1.ID, at1)
		_, err = s.DeleteExpired(ctx, a.ExpiresAt.Add(time.Second), 100)
		must(t, err, "DeleteExpired")
		_, err = s.ConsumeAuthCode(ctx, code, at(2*time.Minute), revokeUntil)
		wantErr(t, err, storage.ErrNotFound, "ConsumeAuthCode of a spent code after DeleteExpired")
		wantAccess(t, s, at1.ID, at1)
	}},
	{"DeleteAuthRequest removes the request and its code", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		a, code := codeRequest(t, s, 1)
		other, _ := codeRequest(t, s, 2)
		must(t, s.DeleteAuthRequest(ctx, a.ID), "DeleteAuthRequest")
		_, err := s.AuthRequest(ctx, a.ID, base)
		wantErr(t, err, storage.ErrNotFound, "AuthRequest after delete")
		_, err = s.ConsumeAuthCode(ctx, code, base, revokeUntil)
		wantErr(t, err, storage.ErrNotFound, "ConsumeAuthCode after delete")
		got, err := s.AuthRequest(ctx, other.ID, base)
		must(t, err, "the other request")
		wantSame(t, got, other, "the other request")
	}},
}
