package grants

import (
	"context"
	"time"

	"github.com/qrlogin/qrlogin/grants/rules"
	"github.com/qrlogin/qrlogin/storage"
)

// An instance keeps a view of the QR logins it has dealt with: the ones it
// started, and the ones polled or waited on here. A view holds what a poll
// needs (client, expiry, status) and the poll bookkeeping of RFC 8628 §3.5,
// so a poll whose answer has not changed reads and writes nothing: the
// store is asked only by a login's first poll on an instance that did not
// start it, and after notifications may have been lost.
//
// Views are kept current by the store's announcements
// (SubscribeQRLogins), which carry the new status: a long-poll woken by one
// answers without reading the row. An announcement and a read of the same
// login race (PostgreSQL delivers NOTIFY after the commit, on another
// connection); the status of higher rules.Rank is the newer, so a view
// never goes back. A change announced while the row was being read is
// found in a log of recent changes.
//
// The bookkeeping is per instance, in memory, off the commit path: a PC
// whose polls move between instances starts afresh on each (its first poll
// there is never early, RFC 8628 §3.5's slow_down counts per instance), and
// a restart forgets it. Nothing that decides a login is kept here: every
// transition is the store's, conditional on the row.
type view struct {
	id        string
	clientID  string
	hosted    bool // a login of the hosted page: finished by the page, not polled
	scopes    []string
	expiresAt time.Time
	device    string // string(DeviceCodeHash), the index key; "" for none
	jkt       string // the DPoP key the login is bound to; "" for none
	// matchNumber is the number the PC shows once scanned (number
	// matching); 0 for none.
	matchNumber int

	// Guarded by QR.mu.
	status  storage.Status // the stored status as last known
	stale   bool           // changes may have been missed: read before trusting status
	changed chan struct{}  // closed when status changes; nil until waited on
	parked  []*parked      // the long-polls parked on it (park.go)

	interval   time.Duration  // RFC 8628 §3.5: raised by slow_down
	lastPollAt time.Time      // the previous poll's arrival; zero: none, or it reported a change
	lastPollSt storage.Status // the stored status at the previous poll, or the one its answer reported
	prevPollAt time.Time      // lastPollAt and lastPollSt before the latest poll: restored if it failed
	prevPollSt storage.Status
}

// maxViews bounds the views an instance keeps (QR.maxViews): past it, a
// new login is not remembered, each of its polls reads the store, and its
// long-polls are not held (see keeps). Views end with their login (expiry,
// or a final status answered), so this is reached only by an instance
// starting more logins than its QR TTL can hold.
const maxViews = 200_000

// changeLog keeps the last changes heard, so that a read racing with an
// announcement does not lose it (see view).
const changeLog = 1024

type change struct {
	seq uint64
	storage.QRChange
}

// heard is the store's subscription: it brings views up to date and wakes
// their long-polls. It runs on the notifier's goroutine and never blocks.
func (q *QR) heard(c storage.QRChange) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	q.log[q.seq%changeLog] = change{seq: q.seq, QRChange: c}
	if c.ID == "" {
		// Changes may have been missed: every view must be read again, and
		// every long-poll wakes to do so.
		for _, v := range q.views {
			v.stale = true
			v.wake()
		}
		return
	}
	if v := q.views[c.ID]; v != nil {
		v.learn(c.Status)
	}
}

// learn applies a status heard or read; the caller holds QR.mu. A status
// heard is the login's newest: statuses only move up the table's ranks,
// and the announcement of a commit arrives after those of the commits
// before it, or after the reconnect that lost them; so it also ends a
// staleness. StatusInvalid is a change of unknown status: read it.
func (v *view) learn(s storage.Status) {
	switch {
	case s == storage.StatusInvalid:
		v.stale = true
	case rules.Rank(s) > rules.Rank(v.status):
		v.status, v.stale = s, false
	case v.stale:
		v.stale = false
		return
	default:
		return
	}
	v.wake()
}

// saw brings the view of l, which this instance just changed, up to date
// at once: its own polls must not wait for the announcement (which comes
// back through the database, asynchronously).
func (q *QR) saw(l *storage.QRLogin) {
	q.mu.Lock()
	if v := q.views[l.ID]; v != nil {
		v.learn(l.Status)
	}
	q.mu.Unlock()
}

// wake wakes v's long-polls, held and parked; the caller holds QR.mu.
func (v *view) wake() {
	if v.changed != nil {
		close(v.changed)
		v.changed = nil
	}
	ps := v.parked
	v.parked = nil
	for _, p := range ps {
		p.wake()
	}
}

// changedCh is closed at v's next change; the caller holds QR.mu.
func (v *view) changedCh() <-chan struct{} {
	if v.changed == nil {
		v.changed = make(chan struct{})
	}
	return v.changed
}

func newView(l *storage.QRLogin) *view {
	v := &view{id: l.ID, clientID: l.ClientID, hosted: l.AuthRequestID != "", scopes: l.Scopes,
		expiresAt: l.ExpiresAt, jkt: l.DPoPJKT, status: l.Status, interval: l.Interval, matchNumber: l.MatchNumber}
	if len(l.DeviceCodeHash) > 0 {
		v.device = string(l.DeviceCodeHash)
	}
	return v
}

// track remembers l, read or created when the change log was at seq, and
// returns its view (the existing one if another request tracked it
// first). Final logins are not remembered: nothing changes them. The
// caller holds QR.mu.
func (q *QR) track(l *storage.QRLogin, seq uint64) *view {
	if v := q.views[l.ID]; v != nil {
		q.merge(v, l.Status, seq)
		return v
	}
	v := newView(l)
	q.merge(v, l.Status, seq)
	// Sweep before the bound: views of expired logins must make room. (It
	// used to sweep only after adding one, so once maxViews was reached
	// nothing was ever added or swept again: every later login went
	// untracked until a restart.)
	q.sweep()
	if rules.Final(v.status) || len(q.views) >= q.maxViews {
		return v
	}
	q.views[v.id] = v
	if v.device != "" {
		q.byDevice[v.device] = v
	}
	q.expiry = append(q.expiry, v)
	return v
}

// keeps reports whether v is the view this instance keeps for its login,
// the one announcements reach (heard finds views by ID). Another (past
// maxViews, or forgotten) never learns of a change: a long-poll held on it
// would be held for the full wait, so it is answered at once, as past
// Config.MaxHeld. The caller holds QR.mu.
func (q *QR) keeps(v *view) bool { return q.views[v.id] == v }

// merge applies a status read when the change log was at seq, then what
// was heard of the login since (a change with no ID: anything may have
// been missed, so the view is unknown again). The caller holds QR.mu.
func (q *QR) merge(v *view, read storage.Status, seq uint64) {
	v.learn(read)
	v.stale = false
	if q.seq-seq >= changeLog {
		v.stale = true // too much happened meanwhile: read again
		return
	}
	for s := seq + 1; s <= q.seq; s++ {
		if c := q.log[s%changeLog]; c.ID == v.id || c.ID == "" {
			v.learn(c.Status)
		}
	}
}

// forget drops v once its login reached a final status and its answer was
// given; the caller holds QR.mu.
func (q *QR) forget(v *view) {
	if q.views[v.id] == v {
		delete(q.views, v.id)
		if v.device != "" {
			delete(q.byDevice, v.device)
		}
	}
}

// viewGrace keeps a view past its login's expiry, so a poll just after it
// is answered expired_token from memory.
const viewGrace = time.Minute

// sweep forgets views of logins that expired viewGrace ago, oldest first;
// the caller holds QR.mu. Views enter in (nearly) expiry order: logins
// share the QR TTL.
func (q *QR) sweep() {
	now := q.now()
	n := 0
	for n < len(q.expiry) && now.Sub(q.expiry[n].expiresAt) > viewGrace {
		v := q.expiry[n]
		if q.views[v.id] == v {
			delete(q.views, v.id)
			if v.device != "" {
				delete(q.byDevice, v.device)
			}
		}
		q.expiry[n] = nil
		n++
	}
	if n > 0 {
		q.expiry = q.expiry[n:]
	}
}

// byDeviceCode returns the view of the login with that device code hash,
// reading it when this instance does not know it (or no longer trusts what
// it knows). ErrNotFound passes through.
func (q *QR) byDeviceCode(ctx context.Context, hash []byte) (*view, error) {
	return q.lookup(ctx, func() *view { return q.byDevice[string(hash)] },
		func(ctx context.Context) (*storage.QRLogin, error) { return q.cfg.Store.QRLoginByDeviceCode(ctx, hash) })
}

// byID returns the view of login id, reading it when needed.
func (q *QR) byID(ctx context.Context, id string) (*view, error) {
	return q.lookup(ctx, func() *view { return q.views[id] },
		func(ctx context.Context) (*storage.QRLogin, error) { return q.cfg.Store.QRLogin(ctx, id) })
}

// lookup returns the view find gives (called with QR.mu held) if it can be
// trusted, else reads the login and brings the view up to date, or starts
// one.
func (q *QR) lookup(ctx context.Context, find func() *view, read func(context.Context) (*storage.QRLogin, error)) (*view, error) {
	q.mu.Lock()
	v := find()
	if v != nil && !v.stale {
		q.mu.Unlock()
		return v, nil
	}
	seq := q.seq
	q.mu.Unlock()
	l, err := read(ctx)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if v != nil && q.views[v.id] != v {
		// Forgotten meanwhile (final): bring this one up to date anyway,
		// for whoever holds it.
		q.merge(v, l.Status, seq)
		return v, nil
	}
	return q.track(l, seq), nil
}

// statusAt is v's effective status at now (rules.StatusAt); the caller
// holds QR.mu.
func (v *view) statusAt(now time.Time) storage.Status {
	return rules.StatusAt(&storage.QRLogin{Status: v.status, ExpiresAt: v.expiresAt}, now)
}
