package grants

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// Long-polls held by one instance: how many, and how they learn of a
// change. A held long-poll costs a connection, a goroutine unless it is
// parked (park.go) and, on every change of its login, what it takes to
// learn the new state; the token
// endpoint's long-polls and the hosted login page's status requests are
// counted together.
//
// The bounds: at most maxHeldPerLogin per login and Config.MaxHeld in
// all. Past either, the caller answers at once with the current state
// (the token endpoint: authorization_pending with qr_status; the login
// page: its status, asked to come back later) instead of holding.
//
// Learning of a change: the long-polls of one login on an instance wait
// on its view (view.go), which the store's announcements keep current and
// which carry the new status: a change wakes them without a read. (Each
// waiter used to read the row itself: one scan of a login held 10,000
// times cost as many reads.) A held long-poll is either its request's
// goroutine blocked in one select with one timer (wait), or, when the
// caller can take it off its goroutine (PollRequest.Park), an entry on the
// view with one runtime timer and no goroutine (park.go); both take the
// same turns.

// Names of the limits, as README "Security" lists them; logs and metrics
// count refusals by them.
const (
	LimitHeldPerLogin    = "held_polls_per_login"
	LimitHeldPerInstance = "held_polls_per_instance"
)

// maxHeldPerLogin caps the long-polls one login may hold on an instance:
// a PC needs one, a page in two tabs two.
const maxHeldPerLogin = 3

var (
	// ErrHeldPerLogin: the login holds maxHeldPerLogin long-polls already.
	ErrHeldPerLogin = errors.New("grants: " + LimitHeldPerLogin)
	// ErrHeldPerInstance: the instance holds Config.MaxHeld long-polls.
	ErrHeldPerInstance = errors.New("grants: " + LimitHeldPerInstance)
)

// Hold reserves one held long-poll of login id, or says which bound
// refused it (ErrHeldPerLogin, ErrHeldPerInstance). Call release when the
// long-poll is answered.
func (q *QR) Hold(id string) (release func(), err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.holding[id] >= maxHeldPerLogin:
		q.refused(LimitHeldPerLogin)
		return nil, ErrHeldPerLogin
	case q.held >= q.cfg.MaxHeld:
		q.refused(LimitHeldPerInstance)
		return nil, ErrHeldPerInstance
	}
	q.holding[id]++
	q.held++
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			q.held--
			if q.holding[id]--; q.holding[id] <= 0 {
				delete(q.holding, id)
			}
		})
	}, nil
}

func (q *QR) refused(limit string) {
	if q.cfg.Refused != nil {
		q.cfg.Refused(limit)
	}
}

// Held reports how many long-polls this instance holds now.
func (q *QR) Held() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.held
}

// Wait is the one long-poll of QR logins, the token endpoint's and the
// hosted login page's alike: it holds until login id is in a state other
// than since, d elapses, drain is closed (nil: never) or ctx ends, and
// returns the login's effective status then. A scanned caller is not told
// of pending (a view that still says pending has the scan's announcement
// on its way). Call it within a Hold; d is capped by Config.MaxWait.
func (q *QR) Wait(ctx context.Context, id string, since storage.Status, d time.Duration, drain <-chan struct{}) (storage.Status, error) {
	v, err := q.byID(ctx, id)
	if err != nil {
		return storage.StatusInvalid, oauth.StoreError(err)
	}
	return q.wait(ctx, v, since, min(d, q.cfg.MaxWait), drain)
}

// wait holds on view v (see Wait): one timer, for the end of the wait or
// the login's expiry, whichever comes first; expiry is a time comparison,
// so reaching it needs no read. The wait is measured on the wall clock
// (the request's own duration); expiry on Config.Now, like every rule.
func (q *QR) wait(ctx context.Context, v *view, since storage.Status, d time.Duration, drain <-chan struct{}) (storage.Status, error) {
	end := time.Now().Add(d)
	var timer *time.Timer // Go 1.23 timers: Reset drops a stale expiry
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		q.mu.Lock()
		if err := q.fresh(ctx, v); err != nil {
			q.mu.Unlock()
			return storage.StatusInvalid, err
		}
		s, left, done := q.turn(v, since, end, false)
		if done {
			q.mu.Unlock()
			return s, nil
		}
		changed := v.changedCh()
		q.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(left)
		} else {
			timer.Reset(left)
		}
		select {
		case <-changed:
		case <-timer.C:
		case <-drain:
			q.mu.Lock()
			s, _, _ := q.turn(v, since, end, true)
			q.mu.Unlock()
			return s, nil
		case <-ctx.Done():
			return storage.StatusInvalid, ctx.Err()
		}
	}
}

// fresh reads v again if changes may have been missed. A long-poll held
// through an outage stays held (it learns of the reconnect, which wakes it
// again); a new one answers 503 (Poll, Wait read first). The caller holds
// QR.mu, which fresh releases during the read.
func (q *QR) fresh(ctx context.Context, v *view) error {
	if !v.stale {
		return nil
	}
	q.mu.Unlock()
	_, err := q.byID(ctx, v.id)
	q.mu.Lock()
	if err != nil && !errors.Is(err, storage.ErrUnavailable) {
		return oauth.StoreError(err)
	}
	return nil
}

// turn is one turn of a wait on v that ends at end (wall clock): the
// status to answer with and true once it is news to since, the wait is
// over or drained says a drain ends it; else how long at most to wait for
// v's next change (until end, or just past the login's expiry). The one
// rule of when a held long-poll is answered, in a goroutine (wait) or
// parked (park.go). The caller holds QR.mu.
func (q *QR) turn(v *view, since storage.Status, end time.Time, drained bool) (storage.Status, time.Duration, bool) {
	now := q.now()
	s := v.statusAt(now)
	left := time.Until(end)
	// A view this instance does not keep never learns of a change (keeps,
	// view.go): answered at once, not held deaf.
	if changedFrom(since, s) || left <= 0 || drained || !q.keeps(v) {
		return s, 0, true
	}
	if untilExpiry := v.expiresAt.Sub(now) + time.Millisecond; untilExpiry < left {
		left = untilExpiry
	}
	return s, left, false
}

// changedFrom reports whether s is news to a caller who knows since: any
// other status, except pending to one who saw scanned (the announcement of
// the scan has not reached this view yet).
func changedFrom(since, s storage.Status) bool {
	return s != since && !(since == storage.StatusScanned && s == storage.StatusPending)
}
