package clustertest

import (
	"context"
	"net/http"
	"slices"
	"testing"
)

// Acceptance 3: the instance restarts (server and pool closed, a new pool
// and a new idp.Server opened on the same database) between the phone's
// confirm and the PC's redeem: the new process redeems the confirmed
// login, exactly once, and signs with the same key.
func TestRestartBetweenConfirmAndRedeem(t *testing.T) {
	t.Parallel()
	c := newCluster(t, nil)
	before := c.start("before")
	keysBefore := kids(t, before)
	phone := phoneToken(t, everyStepAt(before))
	l := qrStart(t, before)
	wantError(t, "first poll", must(t)(poll(context.Background(), before, l, "")), http.StatusBadRequest, "authorization_pending")
	confirm(t, before, phone, scan(t, before, phone, l))
	before.stop()

	after := c.start("after")
	tok := tokensOf(t, "redeem after the restart", must(t)(poll(context.Background(), after, l, "")))
	if got := kidOf(t, tok.IDToken); !slices.Equal(keysBefore, []string{got}) {
		t.Fatalf("signed with %s after the restart, published %v before", got, keysBefore)
	}
	if claims := verifyIDToken(t, after, tok.IDToken, "n-cluster"); claims.Subject != c.userID {
		t.Fatalf("sub %q", claims.Subject)
	}
	wantError(t, "second redeem", must(t)(poll(context.Background(), after, l, "")), http.StatusBadRequest, "invalid_grant")
	if n := redeemedCount(t, after.store, l); n != 1 {
		t.Fatalf("%d redeemed events, want 1", n)
	}
}

// Acceptance 3: the instance restarts between two refreshes. The refresh
// token rotated before the restart refreshes after it, tokens issued
// before it still work (the token encryption key is the stored one, not a
// per-process one), and reuse detection remembers what was rotated
// before the restart.
func TestRestartBetweenRefreshes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, nil)
	before := c.start("before")
	phone := phoneToken(t, everyStepAt(before))
	first := loginByQR(t, before, before, phone)
	second := tokensOf(t, "refresh before the restart", refresh(t, before, first.RefreshToken))
	before.stop()

	after := c.start("after")
	third := tokensOf(t, "refresh after the restart", refresh(t, after, second.RefreshToken))
	verifyIDToken(t, after, third.IDToken, "")
	for _, at := range []string{first.AccessToken, second.AccessToken} {
		if r := must(t)(get(context.Background(), after.url+"/userinfo", at)); r.status != http.StatusOK {
			t.Fatalf("/userinfo after the restart with a token from before: %v", r)
		}
	}
	// The phone app's token from before the restart still approves.
	loginByQR(t, after, after, phone)

	// RFC 9700 §4.14.2: the token rotated before the restart is reuse,
	// and revokes the family, including the token rotated after it.
	wantError(t, "replaying the first refresh token", refresh(t, after, first.RefreshToken), http.StatusBadRequest, "invalid_grant")
	wantError(t, "the family's newest token", refresh(t, after, third.RefreshToken), http.StatusBadRequest, "invalid_grant")
}
