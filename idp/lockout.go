package idp

import (
	"crypto/sha256"
	"sync"
	"time"
)

// lockouts limits wrong passwords per account, whatever address they come
// from (SPEC §7; OWASP Authentication Cheat Sheet, "Account Lockout").
//
// A check is reserved before argon2id runs and settled after it, so the
// budget holds under concurrency: an account with f wrong passwords so far
// has free−f checks left, and that many may be in flight at once — never
// more, however many requests arrive together. After free wrong passwords
// the account is locked for base; each further wrong password (one check
// at a time) locks it for twice as long as the last, up to max. A correct
// password ends it all; wrong passwords forgotten after forgetAfter
// without one.
//
// Accounts are keyed by username, known or not: refusing only existing
// accounts would tell which exist. A lockout slows the account's password
// logins only; its QR logins, approved on the phone, go on.
type lockouts struct {
	free      int
	base, max time.Duration
	now       func() time.Time

	mu sync.Mutex
	m  map[string]*account
	// saturated: as limiter.saturated.
	saturated time.Time
}

type account struct {
	failures    int // consecutive wrong passwords
	inflight    int // checks reserved, not yet settled
	last        time.Time
	lockedUntil time.Time
}

// forgetAfter: wrong passwords this old, with no lockout running, no
// longer count (a user who mistypes now and then is never locked out).
const forgetAfter = 24 * time.Hour

// maxLockoutKeys bounds the table. An entry costs about 100 bytes; filling
// the table with accounts that may not be evicted takes free wrong
// passwords each, that is a million argon2id checks.
const maxLockoutKeys = 200000

func newLockouts(free int, base, maxLock time.Duration, now func() time.Time) *lockouts {
	return &lockouts{free: max(1, free), base: base, max: max(base, maxLock), now: now, m: map[string]*account{}}
}

// lockoutKey is the table's key of a username: a fixed-size digest, so a
// long username costs no more memory than a short one.
func lockoutKey(username string) string {
	h := sha256.Sum256([]byte(username))
	return string(h[:16])
}

// reserve takes one check of the account's budget. ok false means the
// account is locked or its budget is in flight: retry is the Retry-After
// in seconds. Every reservation must be settled with settle.
func (l *lockouts) reserve(username string) (ok bool, retry int) {
	key := lockoutKey(username)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.m[key]
	if a == nil {
		if len(l.m) >= maxLockoutKeys && !l.evict(now) {
			return false, 1
		}
		a = &account{}
		l.m[key] = a
	}
	if a.failures > 0 && now.After(a.lockedUntil) && now.Sub(a.last) > forgetAfter {
		a.failures = 0
	}
	if now.Before(a.lockedUntil) {
		return false, seconds(a.lockedUntil.Sub(now))
	}
	budget := 1 // after a lockout, one check at a time
	if a.failures < l.free {
		budget = l.free - a.failures
	}
	if a.inflight >= budget {
		return false, 1 // the budget is being checked right now
	}
	a.inflight++
	return true, 0
}

// outcome of a reserved check.
type outcome int

const (
	checkVoid  outcome = iota // nothing was learnt (store down, gate busy): the reservation is returned
	checkWrong                // wrong password (or unknown username)
	checkRight                // correct password
)

// settle ends a reservation. For a wrong password it reports whether this
// one started the account's first lockout of a run (the moment to tell the
// account's owner), and the lockout's length.
func (l *lockouts) settle(username string, o outcome) (firstLock bool, lockedFor time.Duration) {
	key := lockoutKey(username)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.m[key]
	if a == nil {
		return false, 0
	}
	a.inflight--
	switch o {
	case checkRight:
		a.failures, a.lockedUntil = 0, time.Time{}
	case checkWrong:
		a.failures++
		a.last = now
		if a.failures >= l.free {
			lockedFor = l.base << min(a.failures-l.free, 30)
			if lockedFor <= 0 || lockedFor > l.max {
				lockedFor = l.max
			}
			a.lockedUntil = now.Add(lockedFor)
			firstLock = a.failures == l.free
		}
	}
	if a.inflight == 0 && a.failures == 0 {
		delete(l.m, key)
	}
	return firstLock, lockedFor
}

// evict drops accounts whose state may go without harm: nothing in flight,
// not locked, and fewer wrong passwords than free (or forgotten). It never
// drops a lockout or the back-off of an account past one: a flood of
// usernames must not buy an attacker a fresh budget. The caller holds
// l.mu; it reports whether there is room for a new account.
func (l *lockouts) evict(now time.Time) bool {
	if now.Before(l.saturated) {
		return false
	}
	for k, a := range l.m {
		forgotten := now.Sub(a.last) > forgetAfter
		if a.inflight == 0 && !now.Before(a.lockedUntil) && (a.failures < l.free || forgotten) {
			delete(l.m, k)
		}
	}
	if len(l.m) > maxLockoutKeys-maxLockoutKeys/16 {
		l.saturated = now.Add(time.Second)
	}
	return len(l.m) < maxLockoutKeys
}

// seconds rounds d up to whole seconds, at least one (Retry-After).
func seconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}
