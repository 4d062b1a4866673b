package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// Many concurrent checks, real and dummy: never more than the gate's
// concurrency run at once, and every one of them is counted.
func TestGateBoundsConcurrentChecks(t *testing.T) {
	g := NewGate(2, 100, time.Minute)
	h, _ := Hash("right")
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = g.Verify(context.Background(), h, "wrong")
			} else {
				err = g.DummyVerify(context.Background(), "wrong")
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st := g.Stats()
	if st.Peak > 2 || st.Computed != 24 || st.Running != 0 || st.Waiting != 0 {
		t.Fatalf("stats %+v: want peak ≤ 2, 24 computed, nothing left running or waiting", st)
	}
}

// Over-long passwords are refused before any work, the dummy check
// included (a megabyte password once ran argon2id outside any bound).
func TestGateRefusesOverLongPasswordsWithoutWork(t *testing.T) {
	g := NewGate(1, 1, time.Minute)
	long := strings.Repeat("x", MaxLength+1)
	h, _ := Hash("right")
	if _, err := g.Verify(context.Background(), h, long); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Verify: %v, want ErrTooLong", err)
	}
	if err := g.DummyVerify(context.Background(), long); !errors.Is(err, ErrTooLong) {
		t.Fatalf("DummyVerify: %v, want ErrTooLong", err)
	}
	if _, err := g.Hash(context.Background(), long); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Hash: %v, want ErrTooLong", err)
	}
	if n := g.Stats().Computed; n != 0 {
		t.Fatalf("%d computations for refused input", n)
	}
	if ok, err := g.Verify(context.Background(), h, strings.Repeat("x", MaxLength)); ok || err != nil {
		t.Fatalf("a password of exactly MaxLength: %v, %v", ok, err)
	}
}

// With every slot taken, callers beyond the queue are refused at once,
// and those in the queue give up when the wait runs out.
func TestGateQueueIsBounded(t *testing.T) {
	g := NewGate(1, 2, 50*time.Millisecond)
	if err := g.acquire(context.Background()); err != nil { // hold the only slot
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() { errs <- g.DummyVerify(context.Background(), "x") })
	}
	wg.Wait()
	close(errs)
	busy := 0
	for err := range errs {
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("with the slot held: %v, want ErrBusy", err)
		}
		busy++
	}
	if busy != 10 || g.Stats().Computed != 1 {
		t.Fatalf("%d busy, %d computed", busy, g.Stats().Computed)
	}
	g.release()
	if err := g.DummyVerify(context.Background(), "x"); err != nil {
		t.Fatalf("after the slot is free: %v", err)
	}
}
