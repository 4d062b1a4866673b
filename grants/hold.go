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
// change. A held long-poll costs a goroutine, a connection and, on every
// change of its login, what it takes to learn the new state; the token
// endpoint's long-polls and the hosted login page's status requests are
// counted together.
//
// The bounds: at most maxHeldPerLogin per login and Config.MaxHeld in
// all. Past either, the caller answers at once with the current state
// (the token endpoint: authorization_pending with qr_status; the login
// page: its status, asked to come back later) instead of holding.
//
// Learning of a change: all the long-polls of one login on an instance
// share one watch, which subscribes to the login's changes once and reads
// the row once per change, whatever the number of waiters. (Each waiter
// used to read it itself: one scan of a login held 10,000 times cost as
// many reads.)

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

// watch is an instance's shared view of one login for its long-polls.
type watch struct {
	id     string
	refs   int // guarded by QR.mu
	cancel context.CancelFunc

	mu    sync.Mutex
	cur   *storage.QRLogin // last read; nil before the first
	err   error            // the last read failed: the watch is over
	fresh chan struct{}    // closed when cur or err is replaced
}

func (w *watch) publish(l *storage.QRLogin, err error) {
	w.mu.Lock()
	w.cur, w.err = l, err
	close(w.fresh)
	w.fresh = make(chan struct{})
	w.mu.Unlock()
}

func (w *watch) snapshot() (*storage.QRLogin, error, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur, w.err, w.fresh
}

// join returns the watch of login id, starting it if there is none.
func (q *QR) join(id string) *watch {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.watches[id]
	if w == nil {
		ctx, cancel := context.WithCancel(context.Background())
		w = &watch{id: id, cancel: cancel, fresh: make(chan struct{})}
		q.watches[id] = w
		go q.run(ctx, w)
	}
	w.refs++
	return w
}

func (q *QR) leave(w *watch) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if w.refs--; w.refs == 0 {
		if q.watches[w.id] == w {
			delete(q.watches, w.id)
		}
		w.cancel()
	}
}

// run subscribes to the login's changes, then reads it, and again after
// every change notified, until the last waiter leaves. Subscribing first
// means a change between a waiter's own read and the watch's is not
// missed. A failed read ends the watch (its waiters answer with the
// error); the next waiter starts a new one.
func (q *QR) run(ctx context.Context, w *watch) {
	ch, unsubscribe := q.cfg.Store.SubscribeQRLogin(w.id)
	defer unsubscribe()
	for {
		l, err := q.cfg.Store.QRLogin(ctx, w.id)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			q.mu.Lock()
			if q.watches[w.id] == w {
				delete(q.watches, w.id)
			}
			q.mu.Unlock()
			w.publish(nil, err)
			return
		}
		w.publish(l, nil)
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// WaitChange holds until login id is seen in a state other than status
// (pending or scanned), d elapses, drain is closed (nil: never) or ctx
// ends, and returns the login as last read: changed, or as it was when
// the wait ended. The read is shared with every other long-poll of the
// login on this instance. Call it within a Hold.
//
// A read older than the caller's own knowledge is not a change: a watch
// that still says pending to a caller that saw scanned has a notification
// on its way.
func (q *QR) WaitChange(ctx context.Context, id string, status storage.Status, d time.Duration, drain <-chan struct{}) (*storage.QRLogin, error) {
	w := q.join(id)
	defer q.leave(w)
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		cur, err, fresh := w.snapshot()
		if err != nil {
			return nil, oauth.StoreError(err)
		}
		// Expiry is a time comparison: wake then, no read needed.
		expiry := time.NewTimer(time.Hour)
		if cur != nil {
			s := cur.StatusAt(q.now())
			if s != status && !(status == storage.StatusScanned && s == storage.StatusPending) {
				expiry.Stop()
				return cur, nil
			}
			expiry.Reset(cur.ExpiresAt.Sub(q.now()) + time.Millisecond)
		}
		select {
		case <-fresh:
		case <-expiry.C:
		case <-deadline.C:
			expiry.Stop()
			return q.last(ctx, w, id)
		case <-drain:
			expiry.Stop()
			return q.last(ctx, w, id)
		case <-ctx.Done():
			expiry.Stop()
			return nil, ctx.Err()
		}
		expiry.Stop()
	}
}

// last is the login as the watch last read it, when a wait ends without a
// change; if the watch never read it (the wait ended first), one read.
func (q *QR) last(ctx context.Context, w *watch, id string) (*storage.QRLogin, error) {
	cur, err, _ := w.snapshot()
	switch {
	case err != nil:
		return nil, oauth.StoreError(err)
	case cur != nil:
		return cur, nil
	}
	l, err := q.cfg.Store.QRLogin(ctx, id)
	if err != nil {
		return nil, oauth.StoreError(err)
	}
	return l, nil
}
