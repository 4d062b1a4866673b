package idp

import (
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

func newLimiter(rps float64, burst int, now func() time.Time) *limiter {
	return &limiter{rps: rate.Limit(rps), burst: burst, now: now, m: map[string]*rate.Limiter{}}
}

// allow reports whether key may make a request now, and if not how many
// seconds to wait (Retry-After).
func (l *limiter) allow(key string) (bool, int) {
	if l.rps < 0 {
		return true, 0
	}
	l.mu.Lock()
	lim, ok := l.m[key]
	if !ok {
		if len(l.m) > 100000 { // a flood of keys: start over rather than grow
			clear(l.m)
		}
		lim = rate.NewLimiter(l.rps, l.burst)
		l.m[key] = lim
	}
	l.mu.Unlock()
	now := l.now()
	if lim.AllowN(now, 1) {
		return true, 0
	}
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return false, max(1, int(d.Seconds()+0.999))
}
