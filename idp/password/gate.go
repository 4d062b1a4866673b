package password

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// MaxLength is the longest password a Gate checks or hashes, in bytes.
// argon2id reads any length, but nobody types a kilobyte: longer input is
// refused before any work, so it cannot be used to make checks costlier.
const MaxLength = 1024

var (
	// ErrBusy: the gate's queue is full, or the wait for a slot ran out.
	// The caller answers at once (503 or 429 with Retry-After); no argon2id
	// work was done.
	ErrBusy = errors.New("password: too many checks in progress")
	// ErrTooLong: the password is longer than MaxLength; no work was done.
	ErrTooLong = errors.New("password: longer than the maximum length")
)

// Gate is the one way a request runs argon2id. Each computation takes
// 19 MiB and about 20 ms of a core, so a burst of sign-ins (or of guesses)
// must queue, not multiply: at most concurrency computations run at once,
// at most queue callers wait for a slot, and none waits longer than wait.
// Every check goes through it, the dummy check for unknown usernames
// included. It is safe for concurrent use.
type Gate struct {
	slots    chan struct{}
	maxQueue int64
	wait     time.Duration

	waiting  atomic.Int64
	running  atomic.Int64
	peak     atomic.Int64
	computed atomic.Int64
}

// NewGate returns a gate running at most concurrency computations (at
// least one) with at most queue callers waiting up to wait each.
func NewGate(concurrency, queue int, wait time.Duration) *Gate {
	return &Gate{slots: make(chan struct{}, max(1, concurrency)), maxQueue: int64(max(0, queue)), wait: wait}
}

// Verify is the package's Verify behind the gate.
func (g *Gate) Verify(ctx context.Context, encoded, password string) (bool, error) {
	var ok bool
	err := g.run(ctx, password, func() error {
		var err error
		ok, err = Verify(encoded, password)
		return err
	})
	return ok, err
}

// DummyVerify spends the work of one Verify against a hash of today's
// parameters and reports nothing: the login path calls it for an unknown
// username, so that the answer's timing does not tell whether an account
// exists (OWASP Authentication Cheat Sheet, "Authentication Responses").
// It waits for a slot like any check.
func (g *Gate) DummyVerify(ctx context.Context, password string) error {
	return g.run(ctx, password, func() error {
		_, _ = Verify(dummyHash(), password)
		return nil
	})
}

// Hash is the package's Hash behind the gate.
func (g *Gate) Hash(ctx context.Context, password string) (string, error) {
	var h string
	err := g.run(ctx, password, func() error {
		var err error
		h, err = Hash(password)
		return err
	})
	return h, err
}

// GateStats is a snapshot of a gate's accounting.
type GateStats struct {
	Running  int64 // computations running now
	Waiting  int64 // callers waiting for a slot now
	Peak     int64 // most computations ever running at once
	Computed int64 // computations started since the gate was made
}

// Stats reports the gate's accounting (for metrics and tests).
func (g *Gate) Stats() GateStats {
	return GateStats{Running: g.running.Load(), Waiting: g.waiting.Load(), Peak: g.peak.Load(), Computed: g.computed.Load()}
}

func (g *Gate) run(ctx context.Context, password string, work func() error) error {
	if len(password) > MaxLength {
		return ErrTooLong
	}
	if err := g.acquire(ctx); err != nil {
		return err
	}
	defer g.release()
	return work()
}

func (g *Gate) acquire(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		g.started()
		return nil
	default:
	}
	if g.waiting.Add(1) > g.maxQueue {
		g.waiting.Add(-1)
		return ErrBusy
	}
	defer g.waiting.Add(-1)
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		g.started()
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *Gate) started() {
	n := g.running.Add(1)
	g.computed.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (g *Gate) release() {
	g.running.Add(-1)
	<-g.slots
}
