package idp

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a per-key token bucket (per client, per IP) for the endpoints
// SPEC §7 names. It is per instance: N instances allow N times the rate,
// which the README states.
type limiter struct {
	rps   rate.Limit
	burst int
	now   func() time.Time

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// maxLimiterKeys bounds the limiter's memory under a flood of keys.
const maxLimiterKeys = 100000

// evict drops the buckets that are full again (idle keys, which a fresh
// bucket would treat the same); only if that frees nothing does it start
// over. Clearing everything at once would let a flood of addresses reset
// the buckets of the keys actually being limited. The caller holds l.mu.
func (l *limiter) evict(now time.Time) {
	for k, lim := range l.m {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.m, k)
		}
	}
	if len(l.m) >= maxLimiterKeys {
		clear(l.m)
	}
}

// limitKey is the rate-limit key of an address: IPv6 clients get a /64
// each (one subscriber's allocation), or every address of it would be a
// fresh bucket.
func limitKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

func newLimiter(rps float64, burst int, now func() time.Time) *limiter {
	return &limiter{rps: rate.Limit(rps), burst: burst, now: now, m: map[string]*rate.Limiter{}}
}

// allow reports whether key may make a request now, and if not how many
// seconds to wait (Retry-After).
func (l *limiter) allow(key string) (bool, int) {
	if l.rps < 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	lim, ok := l.m[key]
	if !ok {
		if len(l.m) >= maxLimiterKeys {
			l.evict(now)
		}
		lim = rate.NewLimiter(l.rps, l.burst)
		l.m[key] = lim
	}
	l.mu.Unlock()
	if lim.AllowN(now, 1) {
		return true, 0
	}
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return false, max(1, int(d.Seconds()+0.999))
}

// available reports whether key has a request left now, without spending
// it; spend takes one. Together they limit failures only (wrong
// passwords), not successes.
func (l *limiter) available(key string) bool {
	if l.rps < 0 {
		return true
	}
	l.mu.Lock()
	lim, ok := l.m[key]
	l.mu.Unlock()
	return !ok || lim.TokensAt(l.now()) >= 1
}

func (l *limiter) spend(key string) { l.allow(key) }
