package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage/postgres"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// Failover under load, on a real streaming replica (issue 10): two
// PostgreSQL servers of the test's own — a primary and a standby made by
// pg_basebackup, replicating synchronously (synchronous_standby_names =
// '*', synchronous_commit = on) — and two qrlogin instances on the
// multi-host URL postgres://…primary,…standby/qrlogin?target_session_attrs=read-write.
// Workers run complete QR logins (start and long-poll at one instance,
// scan and confirm at the other) without pause. Mid-run the standby is
// promoted and the old primary stopped (immediate: as if it crashed); the
// load goes on. Then:
//
//   - every login whose /qr/confirm answered 200 was redeemed exactly
//     once: its PC got tokens once, a later poll is invalid_grant, and the
//     new primary's audit holds one "redeemed" event for it;
//   - no answer was a 500 (503 during the switch is expected; the workers
//     retry, as clients do);
//   - both instances LISTEN on the new primary, and a held long-poll on
//     one is woken by a confirm on the other;
//   - the recovery time is printed: from the promotion to the completion
//     of the first login begun after it.
//
// Promotion comes before the stop, so for a moment two servers take
// connections: commits on the old primary then wait for a synchronous
// standby it no longer has, and are never acknowledged — nothing written
// there is reported done to a client.
func TestPostgresFailover(t *testing.T) {
	primary := pgtest.StartServer(t, "primary")
	standby := primary.StartStandby(t, "standby")
	primary.RequireSyncStandby(t)
	const db = "qrlogin"
	primary.CreateDatabase(t, db)
	dbURL := pgtest.HostsURL(db, primary, standby) + "&target_session_attrs=read-write"
	if _, err := postgres.MigrateURL(context.Background(), dbURL); err != nil {
		t.Fatal(err)
	}
	// The real clock: a client retrying after a 503 must find its poll
	// interval passed.
	c := clusterOn(t, dbURL, func(cfg *idp.Config) { cfg.Now = time.Now })
	a, b := c.start("A"), c.start("B")
	ld := &failoverLoad{phone: phoneToken(t, everyStepAt(a))}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var workers sync.WaitGroup
	t.Cleanup(func() { cancel(); workers.Wait() }) // before the instances stop
	const nWorkers = 6
	for i := range nWorkers {
		pc, phoneAt := a, b
		if i%2 == 1 {
			pc, phoneAt = b, a
		}
		workers.Go(func() {
			for !ld.stopping.Load() && ctx.Err() == nil {
				ld.login(ctx, pc, phoneAt)
			}
		})
	}

	const before, after = 24, 24
	ld.waitDone(t, ctx, before, time.Time{})
	promoted := time.Now()
	standby.Promote(t)
	promotion := time.Since(promoted)
	primary.Stop(t, "immediate")
	stopped := time.Since(promoted)
	ld.waitDone(t, ctx, after, promoted)
	ld.stopping.Store(true)
	workers.Wait()

	// What the clients saw.
	ld.mu.Lock()
	defer ld.mu.Unlock()
	for _, p := range ld.problems {
		t.Error(p)
	}
	if len(ld.errors5xx) > 0 {
		t.Errorf("%d answers were 5xx other than 503: %v", len(ld.errors5xx), ld.errors5xx)
	}

	// Both instances LISTEN on the new primary (counted before the store
	// below adds its own). The bound only keeps a broken run from hanging.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n := listeners(t, standby.URL(db))
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d LISTEN connections on the new primary, want 2 (one per instance)", n)
		}
	}

	// What the new primary holds, read there alone.
	newPrimary := pgtest.OpenStore(t, standby.URL(db))
	var confirmed, redeemed, lost, acrossSwitch int
	recovery := time.Duration(-1)
	for _, lg := range ld.logins {
		if lg.tokens > 0 {
			if n := redeemedCount(t, newPrimary, lg.l); n != 1 {
				t.Errorf("login %s: %d redeemed events on the new primary, want 1", lg.l.DeviceCode[:8], n)
			}
			wantError(t, "a second redeem", must(t)(poll(context.Background(), lg.pc, lg.l, "")),
				http.StatusBadRequest, "invalid_grant")
			redeemed++
			if lg.began.Before(promoted) && lg.done.After(promoted) {
				acrossSwitch++
			}
			if !lg.began.Before(promoted) && (recovery < 0 || lg.done.Sub(promoted) < recovery) {
				recovery = lg.done.Sub(promoted)
			}
		}
		if lg.confirmed {
			confirmed++
			if lg.tokens != 1 {
				lost++
				t.Errorf("login %s: confirmed (200), yet its PC got tokens %d times; phone %s; PC %s",
					lg.l.DeviceCode[:8], lg.tokens, lg.phoneStep, lg.pcStep)
			}
		}
	}
	if redeemed != confirmed {
		// A confirm whose 200 was lost in the switch, then found done
		// when retried, is redeemed without being counted confirmed.
		t.Logf("redeemed %d, confirmed with a 200 %d: %d confirms were answered only by their retry", redeemed, confirmed, redeemed-confirmed)
	}

	// LISTEN works on the new primary: a long-poll held on one
	// instance answers with tokens only when woken by the confirm made on
	// the other (its wait, 30 s, would end with authorization_pending).
	for _, pair := range [][2]*instance{{a, b}, {b, a}} {
		pc, phoneAt := pair[0], pair[1]
		l := qrStart(t, pc)
		ticket := scan(t, phoneAt, ld.phone, l)
		// A long-poll: the scan made at the other instance reaches this
		// one's view of the login with its NOTIFY.
		if r := must(t)(poll(ctx, pc, l, "5")); !strings.Contains(string(r.body), `"scanned"`) {
			t.Fatalf("poll after the scan: %v", r)
		}
		held := make(chan reply, 1)
		go func() {
			r, err := poll(ctx, pc, l, "30")
			if err != nil {
				r = reply{status: -1, body: []byte(err.Error())}
			}
			held <- r
		}()
		waitHeld(t, pc, 1)
		confirm(t, phoneAt, ld.phone, ticket)
		r := <-held
		tokensOf(t, fmt.Sprintf("a long-poll held at %s, confirmed at %s after the failover", pc.name, phoneAt.name), r)
		t.Logf("long-poll at %s woken by a confirm at %s through the new primary in %v", pc.name, phoneAt.name, r.took)
	}

	if recovery < 0 {
		t.Fatal("no login begun after the promotion was completed")
	}
	// A sanity cap only: the figure is printed, not asserted.
	if recovery > time.Minute {
		t.Errorf("recovery took %v", recovery)
	}
	t.Logf("switch: promotion took %v, old primary stopped %v after the promotion began; %d logins were in flight across it",
		promotion.Round(time.Millisecond), stopped.Round(time.Millisecond), acrossSwitch)
	t.Logf("failover summary: logins confirmed %d, redeemed %d, lost %d, 500s %d (503s %d, retried); recovery %v (promotion to the first complete login begun after it)",
		confirmed, redeemed, lost, len(ld.errors5xx), ld.n503.Load(), recovery.Round(time.Millisecond))
}

// listeners counts the LISTEN connections of qrlogin on the database of
// dbURL.
func listeners(t *testing.T, dbURL string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, postgres.ListenAppName).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// failoverLoad runs complete QR logins as clients would through an
// outage: every step is retried after a 503 or a broken connection.
type failoverLoad struct {
	phone    string
	stopping atomic.Bool
	n503     atomic.Int64

	mu        sync.Mutex
	logins    []*loadLogin
	errors5xx []string // answers 500 and up, except 503
	problems  []string // anything else a client would not expect
}

// loadLogin is one login as its two clients saw it.
type loadLogin struct {
	l           *qrLogin
	pc, phoneAt *instance
	began, done time.Time
	confirmed   bool   // a /qr/confirm answered 200
	tokens      int    // token answers the PC got
	outcome     string // the PC's last answer when it was not tokens
	phoneStep   string // where the phone is, for a failure's report
	pcStep      string // where the PC is
}

// stepped records where one side of lg is (under ld.mu).
func (ld *failoverLoad) stepped(step *string, format string, args ...any) {
	ld.mu.Lock()
	*step = time.Now().Format("15:04:05.000 ") + fmt.Sprintf(format, args...)
	ld.mu.Unlock()
}

// send repeats do until its answer is neither a 503 nor a broken
// connection, waiting the Retry-After of each 503 (1 s) as a client
// should: a poll retried sooner would rightly be told slow_down (RFC 8628
// §3.5). retried says whether it had to; ok is false when ctx ended.
func (ld *failoverLoad) send(ctx context.Context, what string, do func() (reply, error)) (r reply, retried, ok bool) {
	for {
		r, err := do()
		pause := time.Second
		switch {
		case ctx.Err() != nil:
			return r, retried, false
		case err != nil:
			ld.problem("%s: %v", what, err)
		case r.status == http.StatusServiceUnavailable:
			ld.n503.Add(1)
			if s, err := strconv.Atoi(r.header.Get("Retry-After")); err == nil {
				pause = time.Duration(s) * time.Second
			} else {
				ld.problem("%s: a 503 without Retry-After: %v", what, r)
			}
		case r.status >= 500:
			ld.mu.Lock()
			ld.errors5xx = append(ld.errors5xx, what+": "+r.String())
			ld.mu.Unlock()
			return r, retried, true
		default:
			return r, retried, true
		}
		retried = true
		select {
		case <-ctx.Done():
			return r, retried, false
		case <-time.After(pause):
		}
	}
}

func (ld *failoverLoad) problem(format string, args ...any) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	ld.problems = append(ld.problems, fmt.Sprintf(format, args...))
}

// login runs one QR login: the PC starts it at pc and long-polls there
// while the phone scans and confirms at phoneAt.
func (ld *failoverLoad) login(ctx context.Context, pc, phoneAt *instance) {
	lg := &loadLogin{pc: pc, phoneAt: phoneAt, began: time.Now()}
	r, _, ok := ld.send(ctx, "start", func() (reply, error) {
		return postForm(ctx, pc.url+"/qr/authorize", rpID, rpSecret,
			url.Values{"scope": {strings.Join(rpScopes, " ")}, "nonce": {"n-cluster"}})
	})
	if !ok {
		return
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &lg.l) != nil || lg.l == nil {
		ld.problem("start: %v", r)
		return
	}
	ld.mu.Lock()
	ld.logins = append(ld.logins, lg)
	ld.mu.Unlock()

	pctx, stopPC := context.WithCancel(ctx)
	defer stopPC()
	pcDone := make(chan struct{})
	go func() {
		defer close(pcDone)
		ld.pcPolls(pctx, lg)
	}()
	if !ld.phoneConfirms(ctx, lg) {
		stopPC() // it will never be confirmed
	}
	<-pcDone
}

// pcPolls long-polls until the tokens or a final answer come.
func (ld *failoverLoad) pcPolls(ctx context.Context, lg *loadLogin) {
	for {
		ld.stepped(&lg.pcStep, "polling")
		r, _, ok := ld.send(ctx, "poll", func() (reply, error) { return poll(ctx, lg.pc, lg.l, "20") })
		if !ok {
			ld.stepped(&lg.pcStep, "gave up polling")
			return
		}
		ld.stepped(&lg.pcStep, "answered %v", r)
		body := r.json()
		switch {
		case r.status == http.StatusOK:
			var tok tokens
			if json.Unmarshal(r.body, &tok) != nil || tok.AccessToken == "" || tok.IDToken == "" {
				ld.problem("poll: 200 without tokens: %v", r)
			}
			ld.mu.Lock()
			lg.tokens++
			lg.done = time.Now()
			ld.mu.Unlock()
			return
		case body["error"] == "authorization_pending":
		case body["error"] == "slow_down":
			// RFC 8628 §3.5: wait the new interval.
			interval, _ := body["interval"].(float64)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(interval) * time.Second):
			}
		default:
			ld.mu.Lock()
			lg.outcome = r.String()
			ld.mu.Unlock()
			return
		}
	}
}

// phoneConfirms scans and confirms; it reports whether the login may be
// confirmed. A confirm retried after a 503 may find its first try done:
// its 4xx then means "already confirmed", and the PC's poll tells.
func (ld *failoverLoad) phoneConfirms(ctx context.Context, lg *loadLogin) bool {
	ld.stepped(&lg.phoneStep, "scanning")
	r, _, ok := ld.send(ctx, "scan", func() (reply, error) {
		return postJSON(ctx, lg.phoneAt.url+"/qr/scan", ld.phone, map[string]string{"qr": lg.l.QR})
	})
	if !ok {
		return false
	}
	ticket, _ := r.json()["ticket"].(string)
	if r.status != http.StatusOK || ticket == "" {
		ld.problem("scan: %v", r)
		return false
	}
	ld.stepped(&lg.phoneStep, "confirming")
	r, retried, ok := ld.send(ctx, "confirm", func() (reply, error) {
		return postJSON(ctx, lg.phoneAt.url+"/qr/confirm", ld.phone, map[string]string{"ticket": ticket})
	})
	ld.stepped(&lg.phoneStep, "confirm answered %v (retried %v)", r, retried)
	switch {
	case !ok:
		return false
	case r.status == http.StatusOK:
		ld.mu.Lock()
		lg.confirmed = true
		ld.mu.Unlock()
		return true
	case retried && r.status < 500:
		return true
	default:
		ld.problem("confirm: %v", r)
		return false
	}
}

// waitDone returns once n logins begun at or after since have their
// tokens.
func (ld *failoverLoad) waitDone(t *testing.T, ctx context.Context, n int, since time.Time) {
	t.Helper()
	for {
		ld.mu.Lock()
		done := 0
		for _, lg := range ld.logins {
			if lg.tokens > 0 && !lg.began.Before(since) {
				done++
			}
		}
		problems := slices.Clone(ld.problems)
		var pending []string
		for _, lg := range ld.logins {
			if lg.tokens == 0 {
				pending = append(pending, fmt.Sprintf("\n  login %s at %s (began %s): phone %s; PC %s",
					lg.l.DeviceCode[:8], lg.pc.name, lg.began.Format("15:04:05.000"), lg.phoneStep, lg.pcStep))
			}
		}
		ld.mu.Unlock()
		if done >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d logins done when the run's time ran out; problems: %v; logins without tokens: %v",
				done, n, problems, pending)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
