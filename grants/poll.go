package grants

import (
	"context"
	"errors"
	"net/http"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/qrlogin/qrlogin/grants/rules"
	"github.com/qrlogin/qrlogin/idp/dpop"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// PollRequest is one poll of the token endpoint for a QR login.
type PollRequest struct {
	DeviceCode string
	ClientID   string // the authenticated client
	Wait       time.Duration
	IP         string // the PC's, for the audit trail of the redeem
	// DPoPJKT is the key of the request's DPoP proof, "" without one.
	DPoPJKT string
	// Mint makes the tokens when they are due (see Minter).
	Mint Minter
	// Park, if set, is called when the poll is about to be held: it may
	// take the poll off its request's goroutine (the token endpoint
	// hijacks an HTTP/1.x connection) and return the function that sends
	// the answer, with ok; Poll then parks the long-poll (park.go) and
	// returns ErrParked at once, and the answer goes to that function,
	// from another goroutine. Without ok the poll is held as without Park.
	// A poll is not parked once the instance drains: what is still in
	// flight then is its requests', which the HTTP server's shutdown waits
	// for.
	Park func() (answered func(resp any, err error), ok bool)
	// Gone, if set, reports whether the client of a parked poll hung up.
	// A held poll learns it from its context; a parked one has none, and
	// must not redeem for nobody: the tokens would go to a closed
	// connection and the client's retry would find the login redeemed
	// (invalid_grant) although the user confirmed it.
	Gone func() bool
}

// Poll answers one poll (SPEC §2.2): the token response (Minter.Response)
// when the login is confirmed and this poll wins its redeem, otherwise an
// *oauth.Error: authorization_pending (with qr_status), slow_down,
// access_denied, expired_token or invalid_grant.
//
// With Wait > 0 a pending or scanned login is held until it changes state
// (on any instance) or Wait elapses.
//
// A poll is answered from this instance's view of the login (view.go): one
// whose answer did not change reads and writes nothing; only its first
// poll here may read the login, and only the redeem writes.
func (q *QR) Poll(ctx context.Context, p PollRequest) (any, error) {
	return q.settle(q.poll(ctx, p))
}

// settle is a poll's answer, once given.
func (q *QR) settle(v *view, resp any, err error) (any, error) {
	if v != nil && failed(err) && !errors.Is(err, ErrParked) && !errors.Is(err, ErrGone) {
		// The client got no answer, only "try again": this poll is not
		// one it should be slowed down for. (Not for a client that hung
		// up: a newer poll may have written the record since.)
		q.mu.Lock()
		v.lastPollAt, v.lastPollSt = v.prevPollAt, v.prevPollSt
		q.mu.Unlock()
	}
	return resp, err
}

// failed: err says the server could not answer (a store failure).
func failed(err error) bool {
	var e *oauth.Error
	return err != nil && (!errors.As(err, &e) || e.Status >= 500)
}

func (q *QR) poll(ctx context.Context, p PollRequest) (*view, any, error) {
	v, err := q.byDeviceCode(ctx, storage.Hash(p.DeviceCode))
	if err != nil || v.clientID != p.ClientID || v.hosted {
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, nil, oauth.StoreError(err)
		}
		// Unknown, issued to another client (RFC 8628 §3.4 binds the device
		// code to its client), or a login of the hosted page, which the
		// page finishes: one answer for all.
		return nil, nil, oauth.New(oauth.InvalidGrant, "unknown device_code")
	}
	// A login started with a DPoP key answers only requests with a proof of
	// that key, before anything else: a stolen device code neither redeems
	// nor learns the login's state, nor slows the PC down (RFC 9449 §10's
	// rule for codes).
	if e := dpop.CheckBinding(v.jkt, p.DPoPJKT, "the device code"); e != nil {
		return nil, nil, e
	}
	// The PC's request carries the login's public id, as the phone's do
	// (through their store calls): a tracing backend finds both by it.
	trace.SpanFromContext(ctx).SetAttributes(attribute.String(AttrLoginID, v.id))
	now := q.now()
	wait := min(p.Wait, q.cfg.MaxWait)

	q.mu.Lock()
	status := v.statusAt(now)
	// What the previous poll left, then this poll's record: its arrival
	// and the stored status it found.
	prevAt, prevSt := v.lastPollAt, v.lastPollSt
	v.prevPollAt, v.prevPollSt = prevAt, prevSt
	v.lastPollAt, v.lastPollSt = now, v.status
	if early(v, prevAt, prevSt, status, now, wait) {
		// RFC 8628 §3.5: slow_down, and every later poll must wait 5 s more.
		v.interval += 5 * time.Second
		interval := v.interval
		q.mu.Unlock()
		return v, nil, oauth.New(oauth.SlowDown, "polling too fast").With("interval", int(interval/time.Second))
	}
	// A long-poll is held only while nothing changed since the previous
	// answer: a scan between two polls is reported at once, not swallowed
	// until the next change. Before any poll, the client was last told
	// "pending" (by /qr/authorize).
	reported := prevSt
	if reported == storage.StatusInvalid {
		reported = storage.StatusPending
	}
	changed := reported != v.status
	interval := v.interval
	if wait <= 0 || changed || !waitable(status) {
		if changed {
			v.reportedChange(status)
		}
		q.mu.Unlock()
		return q.answer(ctx, v, status, p)
	}
	q.mu.Unlock()

	drain := q.drain
	if q.draining() {
		// Held only until the interval since the previous poll has passed:
		// "poll again" at once, but not faster than the client may poll.
		wait = min(wait, interval-now.Sub(prevAt))
		drain = nil
		if wait <= 0 {
			return q.answer(ctx, v, status, p)
		}
	}
	release, err := q.Hold(v.id)
	if errors.Is(err, ErrHeldPerLogin) && q.evictGone(v) > 0 {
		release, err = q.Hold(v.id)
	}
	if err != nil {
		return q.answer(ctx, v, status, p) // past a bound: at once, not held
	}
	if p.Park != nil && drain != nil {
		if answered, ok := p.Park(); ok {
			// Nothing of the request's goroutine stays: the answer is
			// computed on the goroutine that wakes the poll, with the
			// request's context values but not its cancellation (the
			// request has returned).
			p.Park, p.DeviceCode = nil, "" // nor what the answer does not need
			ctx := context.WithoutCancel(ctx)
			q.resume(&parked{q: q, ctx: ctx, v: v, since: status, end: time.Now().Add(wait), gone: p.Gone,
				done: func(s storage.Status, err error) {
					answered(q.settle(q.waitedParked(ctx, v, status, s, err, p, release)))
				}})
			return v, nil, ErrParked
		}
	}
	defer release()
	s, err := q.wait(ctx, v, status, wait, drain)
	return q.waited(ctx, v, status, s, err, p)
}

// waited answers a long-poll held from status since, whose wait ended
// with s (or failed with err).
func (q *QR) waited(ctx context.Context, v *view, since, s storage.Status, err error, p PollRequest) (*view, any, error) {
	if err != nil {
		return v, nil, err
	}
	if !changedFrom(since, s) {
		return q.answer(ctx, v, since, p) // the wait ended, nothing changed
	}
	q.mu.Lock()
	v.reportedChange(s)
	q.mu.Unlock()
	return q.answer(ctx, v, s, p)
}

// waitedParked is waited for a parked poll, then release. It runs on no
// request's goroutine: a panic (in minting, say) is logged and answered
// as a 500, as the HTTP server and the middleware make it for a poll held
// in its request's goroutine, instead of ending the process.
func (q *QR) waitedParked(ctx context.Context, v *view, since, s storage.Status, err error, p PollRequest, release func()) (rv *view, resp any, rerr error) {
	defer release()
	if err == nil && p.Gone != nil && rules.Allows(s, storage.EventRedeem) && p.Gone() {
		return v, nil, ErrGone // the login stays confirmed for the client's next poll
	}
	defer func() {
		if r := recover(); r != nil {
			q.cfg.Logger.ErrorContext(ctx, "panic", "panic", r, "stack", string(debug.Stack()))
			rv, resp, rerr = nil, nil, oauth.New(oauth.ServerError, "internal error").WithStatus(http.StatusInternalServerError)
		}
	}()
	return q.waited(ctx, v, since, s, err, p)
}

// reportedChange records that an answer reported status s, with no time:
// the client was told something changed and may come straight back (never
// slow_down), and its next long-poll is held until the next change. The
// caller holds QR.mu.
func (v *view) reportedChange(s storage.Status) {
	if waitable(s) {
		v.lastPollAt, v.lastPollSt = time.Time{}, s
	}
}

// waitable: a long-poll may wait for this status to change.
func waitable(s storage.Status) bool { return s == storage.StatusPending || s == storage.StatusScanned }

// early reports whether this poll came sooner than the interval after the
// previous one (prevAt, which found prevSt stored). The first poll is
// never early, nor is one whose previous answer reported a state different
// from the current one (the client was told something changed and may come
// straight back), nor one for a final state, whose answer is more useful
// than slow_down. A long-poll that will be held at least until the
// interval has passed is not early either: the server paces it, and it is
// answered before then only if the state changes. The caller holds QR.mu.
func early(v *view, prevAt time.Time, prevSt, status storage.Status, now time.Time, wait time.Duration) bool {
	if prevAt.IsZero() || rules.Final(status) || prevSt != v.status {
		return false
	}
	remaining := v.interval - now.Sub(prevAt)
	if remaining <= 0 {
		return false
	}
	return !(wait > 0 && waitable(status)) || wait < remaining
}

// answer is the poll's answer for status s: the tokens when the table
// allows the login's redeem, else the status as an OAuth error.
func (q *QR) answer(ctx context.Context, v *view, s storage.Status, p PollRequest) (*view, any, error) {
	if rules.Allows(s, storage.EventRedeem) {
		resp, err := q.redeem(ctx, v, p.IP, p.Mint)
		return v, resp, err
	}
	if rules.Final(s) {
		q.mu.Lock()
		q.forget(v) // answered for good: nothing will change it
		q.mu.Unlock()
	}
	if s == storage.StatusScanned && v.matchNumber != 0 {
		// Number matching: the PC shows the number once the QR is scanned,
		// never before (whoever sees the QR must not learn it from there).
		return v, nil, answer(s).With("match_number", v.matchNumber)
	}
	return v, nil, answer(s)
}

// answer maps a status the PC may not redeem to its OAuth error (SPEC
// §2.2).
func answer(s storage.Status) *oauth.Error {
	switch s {
	case storage.StatusPending, storage.StatusScanned:
		// SPEC §2.2: scanned says nothing about the user (F6).
		return oauth.New(oauth.AuthorizationPending, "the user has not confirmed yet").With("qr_status", s.String())
	case storage.StatusDenied:
		return oauth.New(oauth.AccessDenied, "the user denied the login")
	case storage.StatusExpired:
		return oauth.New(oauth.ExpiredToken, "the QR login expired")
	default: // redeemed (F2)
		return oauth.New(oauth.InvalidGrant, "unknown device_code")
	}
}
