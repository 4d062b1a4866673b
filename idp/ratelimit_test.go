package idp

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestLimitKeyGroupsIPv6By64(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                 "192.0.2.7",
		"::ffff:192.0.2.7":          "192.0.2.7", // the same IPv4 client
		"2001:db8:1:2:aaaa::1":      "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::9": "2001:db8:1:2::/64",
		"not-an-ip":                 "not-an-ip",
	} {
		if got := limitKey(in); got != want {
			t.Errorf("limitKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// fixedClock is a clock that moves only when the test says; advance it
// only while nothing else runs.
func fixedClock() (now func() time.Time, advance func(time.Duration)) {
	t := time.Unix(0, 0)
	return func() time.Time { return t }, func(d time.Duration) { t = t.Add(d) }
}

// Finding 11 of issue 8: at 100,000 keys the limiter cleared every bucket,
// so a flood of fresh keys reset the limit of the keys being limited. Now
// a flood evicts idle buckets only, refuses newcomers when every bucket is
// busy, and memory stays bounded.
func TestLimiterEvictionNeverResetsALimit(t *testing.T) {
	now, advance := fixedClock()
	l := newLimiter(now)
	const r, burst = 1, 2
	l.allow("hot", r, burst)
	l.allow("hot", r, burst)
	for i := range maxLimiterKeys - 1 {
		l.m[fmt.Sprint("idle-", i)] = rate.NewLimiter(r, burst) // full: idle
	}
	if ok, _ := l.allow("newcomer", r, burst); !ok { // at the bound: evicts the idle ones
		t.Fatal("a newcomer was refused although idle buckets could go")
	}
	if len(l.m) != 2 {
		t.Fatalf("%d buckets kept after eviction, want the hot one and the newcomer", len(l.m))
	}
	if ok, _ := l.allow("hot", r, burst); ok {
		t.Fatal("eviction reset the bucket that was limiting")
	}
	for i := range maxLimiterKeys + 10 { // busy buckets only
		l.allow(fmt.Sprint("flood-", i), r, burst)
	}
	if n := len(l.m); n > maxLimiterKeys {
		t.Fatalf("%d keys kept, bound is %d", n, maxLimiterKeys)
	}
	if ok, _ := l.allow("hot", r, burst); ok {
		t.Fatal("a flood of busy keys reset the bucket that was limiting")
	}
	if ok, retry := l.allow("late-newcomer", r, burst); ok || retry < 1 {
		t.Fatalf("with every bucket busy a newcomer got %v, retry %d; want refused with Retry-After", ok, retry)
	}
	advance(10 * time.Second) // every bucket full again: idle
	if ok, _ := l.allow("late-newcomer", r, burst); !ok {
		t.Fatal("once the flood is over a newcomer is still refused")
	}
}

// A client's quota changes (the admin raised it): its bucket takes the new
// rate and burst.
func TestLimiterTakesANewRate(t *testing.T) {
	now, advance := fixedClock()
	l := newLimiter(now)
	for range 2 {
		l.allow("client", 1, 2)
	}
	if ok, _ := l.allow("client", 1, 2); ok {
		t.Fatal("third request within the burst of 2 allowed")
	}
	advance(time.Second)
	allowed := 0
	for range 20 {
		if ok, _ := l.allow("client", 100, 200); ok {
			allowed++
		}
	}
	if allowed != 1 {
		t.Fatalf("%d allowed right after the rate went up; the bucket keeps its tokens", allowed)
	}
	advance(time.Second)
	if ok, _ := l.allow("client", 100, 200); !ok {
		t.Fatal("the new rate does not refill the bucket")
	}
}

// Finding 1 of issue 8: the budget was checked before argon2 and spent
// after, so a burst passed it whole. A reservation is taken first.
func TestLockoutBudgetHoldsUnderConcurrency(t *testing.T) {
	now, advance := fixedClock()
	l := newLockouts(5, time.Minute, time.Hour, now)
	var mu sync.Mutex
	var wg sync.WaitGroup
	granted := 0
	for range 60 {
		wg.Go(func() {
			if ok, retry := l.reserve("alice"); ok {
				mu.Lock()
				granted++
				mu.Unlock()
			} else if retry < 1 {
				t.Error("refused without Retry-After")
			}
		})
	}
	wg.Wait()
	if granted != 5 {
		t.Fatalf("%d of 60 concurrent checks reserved, want the budget of 5", granted)
	}
	var first int
	var lockedFor time.Duration
	for range granted {
		if f, d := l.settle("alice", checkWrong); f {
			first++
			lockedFor = d
		}
	}
	if first != 1 || lockedFor != time.Minute {
		t.Fatalf("first lockout reported %d times, for %s; want once, 1m", first, lockedFor)
	}
	if ok, retry := l.reserve("alice"); ok || retry != 60 {
		t.Fatalf("locked account: reserve = %v, retry %d; want refused, 60", ok, retry)
	}

	// Back-off: after the lockout, one check at a time, and each wrong
	// one doubles the lockout.
	for _, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute} {
		advance(time.Hour)
		if ok, _ := l.reserve("alice"); !ok {
			t.Fatal("no check allowed after the lockout ended")
		}
		if ok, _ := l.reserve("alice"); ok {
			t.Fatal("two checks in flight after a lockout")
		}
		if f, d := l.settle("alice", checkWrong); f || d != want {
			t.Fatalf("next lockout %s (first %v), want %s", d, f, want)
		}
	}
	advance(time.Hour)
	if ok, _ := l.reserve("alice"); !ok {
		t.Fatal("no check allowed after the lockout ended")
	}
	l.settle("alice", checkRight)
	if len(l.m) != 0 {
		t.Fatal("a correct password left the account's state behind")
	}
	for range 5 {
		if ok, _ := l.reserve("alice"); !ok {
			t.Fatal("after a correct password the budget is not whole again")
		}
	}
	for range 5 {
		l.settle("alice", checkVoid) // nothing learnt: the budget comes back
	}
	for range 5 {
		if ok, _ := l.reserve("alice"); !ok {
			t.Fatal("void checks spent the budget")
		}
	}
}

// The longest lockout is the configured maximum, however many wrong
// passwords come.
func TestLockoutIsCapped(t *testing.T) {
	now, advance := fixedClock()
	l := newLockouts(1, time.Minute, 10*time.Minute, now)
	var d time.Duration
	for range 70 {
		advance(time.Hour)
		if ok, _ := l.reserve("bob"); !ok {
			t.Fatal("refused after the lockout ended")
		}
		_, d = l.settle("bob", checkWrong)
	}
	if d != 10*time.Minute {
		t.Fatalf("lockout after 70 wrong passwords: %s, want the maximum 10m", d)
	}
}

// Finding 11 of issue 8: a flood of usernames must not evict a lockout.
func TestLockoutSurvivesAFloodOfAccounts(t *testing.T) {
	now, _ := fixedClock()
	l := newLockouts(5, time.Minute, time.Hour, now)
	for range 5 {
		l.reserve("alice")
	}
	for range 5 {
		l.settle("alice", checkWrong)
	}
	for i := range maxLockoutKeys + maxLockoutKeys/2 {
		u := fmt.Sprint("user-", i)
		if ok, _ := l.reserve(u); ok {
			l.settle(u, checkWrong)
		}
	}
	if n := len(l.m); n > maxLockoutKeys {
		t.Fatalf("%d accounts kept, bound is %d", n, maxLockoutKeys)
	}
	if ok, _ := l.reserve("alice"); ok {
		t.Fatal("a flood of usernames lifted alice's lockout")
	}
}

// README "Security" lists every parameter cap with its value.
func TestREADMEListsEveryParameterCap(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(raw)), " ")
	for name, limit := range paramCaps {
		if want := fmt.Sprintf("`%s` %d", name, limit); !strings.Contains(readme, want) {
			t.Errorf("README does not list %q", want)
		}
	}
}
