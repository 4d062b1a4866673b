package grants

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

// Parked long-polls (issue 9, bounded memory). A long-poll held in its
// request's goroutine costs that goroutine's stack and, in net/http, a
// second goroutine and the connection's buffers: 27 KiB each, 334 MiB for
// 10,000 held. A parked one is only an entry on its login's view and one
// runtime timer (time.AfterFunc: no goroutine until it fires); the caller
// (PollRequest.Park) keeps the connection and nothing else. A change of
// the view, the timer or the drain hands it to a goroutine that runs the
// same turn as wait (hold.go) and either parks it again or answers it
// through the same code as a poll held in its goroutine.

// ErrParked is Poll's answer to a long-poll it parked: the answer goes to
// the function PollRequest.Park returned, later, from another goroutine.
var ErrParked = errors.New("grants: long-poll parked")

// ErrGone is the answer to a parked poll whose client hung up before the
// login it waited for could be redeemed (PollRequest.Gone): nothing was
// redeemed, and nobody is there to answer.
var ErrGone = errors.New("grants: the parked long-poll's client hung up")

type parked struct {
	q     *QR
	ctx   context.Context // the request's, without its cancellation
	v     *view
	since storage.Status
	end   time.Time // the wall-clock end of the wait
	timer *time.Timer
	done  func(storage.Status, error) // the wait's end, as wait returns it
	gone  func() bool                 // PollRequest.Gone: the client hung up
}

// evictGone answers the parked polls of v whose clients hung up, and
// reports how many (red team of issue 9, F2): a parked poll learns of a
// hang-up only when its answer is due, and until then it counts against
// the per-login bound — three dead polls, left by a client that timed out
// and retried, would have the live client's long-polls answered at once
// for up to 30 s. Poll calls it when that bound refuses a hold.
func (q *QR) evictGone(v *view) int {
	q.mu.Lock()
	var gone []*parked
	for _, p := range slices.Clone(v.parked) {
		if p.gone != nil && p.gone() && p.unpark() {
			gone = append(gone, p)
		}
	}
	q.mu.Unlock()
	for _, p := range gone {
		p.done(storage.StatusInvalid, ErrGone) // written nothing; the hold released
	}
	return len(gone)
}

// resume takes one turn of p's wait (turn, hold.go): it parks p on its
// view until the next change, the end of the wait or the login's expiry,
// or the drain; or calls p.done. A drain ends every parked long-poll (they
// are parked only before one, see poll). It runs on the goroutine that
// parked p first, then on one of its own for each wake.
func (q *QR) resume(p *parked) {
	q.mu.Lock()
	if err := q.fresh(p.ctx, p.v); err != nil {
		q.mu.Unlock()
		p.done(storage.StatusInvalid, err)
		return
	}
	s, left, done := q.turn(p.v, p.since, p.end, q.draining())
	if !done {
		// In the same critical section as the turn: a change or a drain
		// after it finds p registered.
		p.v.parked = append(p.v.parked, p)
		q.parked[p] = struct{}{}
		if p.timer == nil {
			p.timer = time.AfterFunc(left, p.expired)
		} else {
			p.timer.Reset(left)
		}
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	p.done(s, nil)
}

// expired is p's timer: the end of the wait or the login's expiry.
func (p *parked) expired() {
	p.q.mu.Lock()
	woken := p.unpark()
	p.q.mu.Unlock()
	if woken {
		p.q.resume(p)
	}
}

// wake hands p to a goroutine for its next turn, unless something else
// did; the caller holds QR.mu.
func (p *parked) wake() {
	if p.unpark() {
		go p.q.resume(p)
	}
}

// unpark takes p off its view and reports whether it was parked (so one
// of a change, the timer and the drain resumes it); the caller holds
// QR.mu.
func (p *parked) unpark() bool {
	if _, ok := p.q.parked[p]; !ok {
		return false
	}
	delete(p.q.parked, p)
	p.timer.Stop()
	for i, o := range p.v.parked {
		if o == p {
			p.v.parked = append(p.v.parked[:i], p.v.parked[i+1:]...)
			break
		}
	}
	if len(p.v.parked) == 0 {
		p.v.parked = nil
	}
	return true
}

// drainParked answers every parked long-poll with its current state (see
// Drain).
func (q *QR) drainParked() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for p := range q.parked {
		p.wake()
	}
}

// Parked reports how many long-polls are parked now (waiting, not being
// answered).
func (q *QR) Parked() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.parked)
}
