package idp

import (
	"crypto/sha256"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/sessions"
	"golang.org/x/time/rate"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/idp/oauth"
)

// Names of the server's limits, as README "Security" lists them. They are
// stable: a refusal is logged with its limit's name, and metrics may count
// refusals by it.
const (
	limitAuthorizeAddress  = "authorize_per_address"     // /authorize requests per address
	limitQRClient          = "qr_per_client"             // /qr/authorize per confidential client (its quota)
	limitQRAddress         = "qr_per_address"            // /qr/authorize for public clients, and new QR codes on login pages, per address
	limitQRPage            = "qr_per_login_page"         // new QR codes per authorization request
	limitScanAccount       = "scan_per_account"          // scans per phone account
	limitLoginAddress      = "login_per_address"         // password form posts per address
	limitPasswordAccount   = "password_per_account"      // wrong passwords per account: lockout with back-off
	limitPasswordHashing   = "password_hashing"          // argon2id checks running or queued on this instance
	limitInput             = "input_size"                // username or password over its cap
	limitDeviceGuesses     = "device_code_guesses"       // typed user codes per address and per account
	limitHeldPerLogin      = grants.LimitHeldPerLogin    // long-polls held for one QR login
	limitHeldPerSession    = "held_polls_per_session"    // login-page status long-polls held for one browser session
	limitHeldPerInstance   = grants.LimitHeldPerInstance // long-polls held by this instance
	limitConnectionAddress = "connections_per_address"   // open connections per address (Listener)
	limitConnections       = "connections_total"         // open connections in all (Listener)
)

// refused records that a request was refused by limit (one line at debug,
// keyed by the limit's stable name) and returns the answer: 429 with
// Retry-After (RFC 6585 §4), in the endpoint's error format.
func (s *Server) refused(limit string, retryAfter int) *oauth.Error {
	s.countRefusal(limit)
	return tooMany(retryAfter)
}

// countRefusal records a refusal by limit: one line at debug, one count
// in qrlogin_rate_limited_total. grants.QR reports its own bounds here
// (grants.Config.Refused).
func (s *Server) countRefusal(limit string) {
	s.log.Debug("limit reached", "limit", limit)
	s.metrics.refused(limit)
}

// tooMany is the answer past a limit already counted.
func tooMany(retryAfter int) *oauth.Error {
	e := oauth.New(oauth.TooManyRequests, "too many requests; try again later").WithStatus(http.StatusTooManyRequests)
	e.RetryAfter = max(1, retryAfter)
	return e
}

// limitPage answers a browser's request refused by a limit: the error
// page with e's status and Retry-After.
func (s *Server) limitPage(w http.ResponseWriter, r *http.Request, e *oauth.Error, p problem) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, e.RetryAfter)))
	s.errorPage(w, r, e.Status, p)
}

// limiter is a per-key token bucket (per client, per address, per account)
// for the endpoints SPEC §7 names. A request takes its token before the
// work it pays for, so a burst of concurrent requests cannot all pass a
// check made before any of them spent. It is per instance: N instances
// allow N times the rate, which the README states.
type limiter struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string]*rate.Limiter
	// saturated: the last eviction found (almost) every bucket in use, so
	// until then keys without a bucket are refused rather than swept for
	// again on every request.
	saturated time.Time
}

// maxLimiterKeys bounds a limiter's memory under a flood of keys.
const maxLimiterKeys = 100000

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, m: map[string]*rate.Limiter{}}
}

// allow takes one token from key's bucket (r per second, burst), and
// reports whether there was one, and if not how many seconds to wait
// (Retry-After). A negative r allows everything. A bucket whose rate or
// burst changed (a client's quota) keeps its tokens and takes the new rate.
func (l *limiter) allow(key string, r rate.Limit, burst int) (bool, int) {
	if r < 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	lim, ok := l.m[key]
	if !ok {
		if len(l.m) >= maxLimiterKeys && !l.evict(now) {
			l.mu.Unlock()
			return false, 1
		}
		lim = rate.NewLimiter(r, burst)
		l.m[key] = lim
	}
	l.mu.Unlock()
	if lim.Limit() != r {
		lim.SetLimitAt(now, r)
	}
	if lim.Burst() != burst {
		lim.SetBurstAt(now, burst)
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	res := lim.ReserveN(now, 1)
	d := res.DelayFrom(now)
	res.CancelAt(now)
	return false, max(1, int(d.Seconds()+0.999))
}

// evict drops the buckets that are full again: an idle key, which a fresh
// bucket would treat the same. It never drops a bucket that is limiting
// (that would reset the limit of exactly the keys being limited — the old
// "clear everything" did). When that frees less than a sixteenth, every
// key is busy: new keys are refused for a second instead of sweeping the
// map on every request. The caller holds l.mu; it reports whether there is
// room for a new key.
func (l *limiter) evict(now time.Time) bool {
	if now.Before(l.saturated) {
		return false
	}
	for k, lim := range l.m {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(l.m, k)
		}
	}
	if len(l.m) > maxLimiterKeys-maxLimiterKeys/16 {
		l.saturated = now.Add(time.Second)
	}
	return len(l.m) < maxLimiterKeys
}

// limitKey is the rate-limit key of an address: IPv6 clients get a /64
// each (one subscriber's allocation), or every address of it would be a
// fresh bucket.
func limitKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	return addrKey(a)
}

func addrKey(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		return a.Unmap().String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// holds bounds how many requests per key are held at once (long-polls per
// browser session). An entry lives while a request holds it.
type holds struct {
	max int
	mu  sync.Mutex
	m   map[string]int
}

func newHolds(maxPerKey int) *holds { return &holds{max: maxPerKey, m: map[string]int{}} }

// hold takes one of key's places, if there is one left; release gives it
// back.
func (h *holds) hold(key string) (release func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m[key] >= h.max {
		return nil, false
	}
	h.m[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.m[key]--; h.m[key] <= 0 {
				delete(h.m, key)
			}
		})
	}, true
}

// maxHeldPerSession caps the login-page status requests one browser
// session holds: a page per tab, a few tabs.
const maxHeldPerSession = 6

// sessionHoldKey names a browser session for holds: a digest of its CSRF
// token, which is random per session and stays the same for its life.
func sessionHoldKey(sess *sessions.Session) string {
	h := sha256.Sum256([]byte(csrfToken(sess)))
	return string(h[:16])
}
