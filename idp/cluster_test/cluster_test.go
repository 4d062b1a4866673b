package clustertest

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// pollWait is the long-poll's wait. A poll that is not woken answers only
// when it elapses, so an answer well before it (wakeBound) shows that the
// phone's action woke it. The latency itself is a benchmark's figure
// (README "Benchmarks"), never a test's assertion: a loaded machine would
// make such a test flaky.
const (
	pollWait  = 10 * time.Second
	wakeBound = pollWait / 2
)

// longPollAcross holds a long-poll at pc, runs act (the phone's step, on
// any instance) once the poll is held, and returns the poll's answer and
// the time from the start of act to the answer's arrival: an upper bound
// on the wake-up, since it includes act's own round trip.
func longPollAcross(t *testing.T, pc *instance, l *qrLogin, act func()) (reply, time.Duration) {
	t.Helper()
	type result struct {
		r   reply
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		r, err := poll(context.Background(), pc, l, strconv.Itoa(int(pollWait/time.Second)))
		done <- result{r, err, time.Now()}
	}()
	waitHeld(t, pc, 1)
	began := time.Now()
	act()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	return res.r, res.at.Sub(began)
}

// Acceptance 2: the PC long-polls instance A, the phone scans and
// confirms on instance B, and A answers long before its wait elapses each
// time: B's committed transition reaches A through PostgreSQL's NOTIFY.
// The measured latencies are logged.
//
// Not parallel: Go runs it before the package's parallel tests resume, so
// the figure is the wake-up's and not the 2-core machine's other work.
func TestLongPollOnAWakesWhenThePhoneActsOnB(t *testing.T) {
	c := newCluster(t, nil)
	a, b := c.start("A"), c.start("B")
	phone := phoneToken(t, everyStepAt(a)) // made on A, used on B
	// One login unmeasured: both pools hold warm connections afterwards,
	// as a serving instance's do.
	loginByQR(t, a, b, phone)

	const rounds = 5
	var scans, confirms []time.Duration
	for range rounds {
		l := qrStart(t, a)
		var ticket string
		r, d := longPollAcross(t, a, l, func() { ticket = scan(t, b, phone, l) })
		if r.status != http.StatusBadRequest || r.json()["qr_status"] != "scanned" {
			t.Fatalf("long-poll on A after the scan on B: want pending/scanned, got %v", r)
		}
		scans = append(scans, d)

		r, d = longPollAcross(t, a, l, func() { confirm(t, b, phone, ticket) })
		tok := tokensOf(t, "long-poll on A after the confirm on B", r)
		confirms = append(confirms, d)
		if claims := verifyIDToken(t, b, tok.IDToken, "n-cluster"); claims.Subject != c.userID {
			t.Fatalf("sub %q, want %q", claims.Subject, c.userID)
		}
		if got := redeemedCount(t, a.store, l); got != 1 {
			t.Fatalf("%d redeemed events, want 1", got)
		}
	}
	t.Logf("scan on B → A answers: %v", scans)
	t.Logf("confirm on B → A answers with tokens: %v", confirms)
	for i := range rounds {
		if scans[i] > wakeBound || confirms[i] > wakeBound {
			t.Errorf("round %d: A answered %v after the scan and %v after the confirm on B: not woken (wait %v)",
				i+1, scans[i], confirms[i], pollWait)
		}
	}
}

// Shared secrets: the signing keys, the token encryption key and the
// cookie keys come from the database, so whatever one instance issued
// works on the other.
func TestStateMadeOnOneInstanceWorksOnTheOther(t *testing.T) {
	t.Parallel()
	c := newCluster(t, nil)
	a, b := c.start("A"), c.start("B")

	// The phone app signs in across both instances: the authorization
	// request and the login page (session cookie, CSRF token) on A, the
	// form posted to B, the callback on A, the code exchanged on B. B
	// accepts the form only if it can read A's session cookie.
	phone := phoneToken(t, signInSteps{authorize: a, page: a, post: b, callback: a, exchange: b})
	// B's phone token works at A's phone API; A redeems.
	tok := loginByQR(t, a, a, phone)

	t.Run("the ID token from A verifies against B's /keys", func(t *testing.T) {
		claims := verifyIDToken(t, b, tok.IDToken, "n-cluster")
		if claims.Subject != c.userID || !slices.Contains(claims.AuthenticationMethodsReferences, "qr") {
			t.Fatalf("sub %q amr %v", claims.Subject, claims.AuthenticationMethodsReferences)
		}
	})

	t.Run("the opaque access token from A works at B's /userinfo", func(t *testing.T) {
		r := must(t)(get(context.Background(), b.url+"/userinfo", tok.AccessToken))
		if r.status != http.StatusOK || r.json()["sub"] != c.userID || r.json()["email"] != "alice@example.com" {
			t.Fatalf("B /userinfo: %v", r)
		}
	})

	t.Run("a refresh token from A refreshes on B, and B's on A", func(t *testing.T) {
		onB := tokensOf(t, "refresh on B", refresh(t, b, tok.RefreshToken))
		verifyIDToken(t, a, onB.IDToken, "")
		onA := tokensOf(t, "refresh on A", refresh(t, a, onB.RefreshToken))
		r := must(t)(get(context.Background(), b.url+"/userinfo", onA.AccessToken))
		if r.status != http.StatusOK {
			t.Fatalf("B /userinfo with A's refreshed token: %v", r)
		}
	})

	t.Run("a refresh token rotated on A and replayed on B revokes the family everywhere", func(t *testing.T) {
		// RFC 9700 §4.14.2: reuse detection must hold across instances.
		first := loginByQR(t, a, b, phone)
		next := tokensOf(t, "refresh on A", refresh(t, a, first.RefreshToken))
		wantError(t, "replay on B", refresh(t, b, first.RefreshToken), http.StatusBadRequest, "invalid_grant")
		wantError(t, "the rotated token on A", refresh(t, a, next.RefreshToken), http.StatusBadRequest, "invalid_grant")
	})
}

// RFC 6749 §4.1.2: an authorization code redeemed on A and replayed on B
// is refused, and every token A issued from it — access and refresh —
// stops working on both instances.
func TestCodeReplayedOnAnotherInstanceRevokesItsTokens(t *testing.T) {
	t.Parallel()
	c := newCluster(t, nil)
	a, b := c.start("A"), c.start("B")
	ctx := context.Background()
	cfg, code, verifier := signInCode(t, everyStepAt(a), rpID, rpSecret, rpRedirect, []string{"openid", "offline_access"})
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("first redemption on A: %v", err)
	}
	if r := must(t)(get(ctx, b.url+"/userinfo", tok.AccessToken)); r.status != http.StatusOK {
		t.Fatalf("the access token before the replay: %v", r)
	}
	onB := *cfg
	onB.Endpoint.TokenURL = b.url + "/oauth/token"
	_, err = onB.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("replay on B: %v, want invalid_grant", err)
	}
	for _, in := range []*instance{a, b} {
		wantError(t, "the access token at "+in.name+"'s /userinfo after the replay",
			must(t)(get(ctx, in.url+"/userinfo", tok.AccessToken)), http.StatusUnauthorized, "invalid_token")
	}
	wantError(t, "the refresh token after the replay", refresh(t, a, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
}
