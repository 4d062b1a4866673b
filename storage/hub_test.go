package storage_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/qrlogin/qrlogin/storage"
)

// Hub delivers synchronously: when Notify returns, every wake-up it sends is
// already in its channel. So these tests read with a non-blocking select and
// need no timeouts.

func woken(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestHub(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, h *storage.Hub)
	}{
		{"Notify wakes every subscriber of that id and no other", func(t *testing.T, h *storage.Hub) {
			a1, cancelA1 := h.Subscribe("a")
			defer cancelA1()
			a2, cancelA2 := h.Subscribe("a")
			defer cancelA2()
			b, cancelB := h.Subscribe("b")
			defer cancelB()
			h.Notify("a")
			if !woken(a1) || !woken(a2) {
				t.Fatal("a subscriber of a was not woken")
			}
			if woken(b) {
				t.Fatal("the subscriber of b was woken by a change of a")
			}
		}},
		{"Notify and NotifyAll on a hub without subscribers do nothing", func(t *testing.T, h *storage.Hub) {
			h.Notify("nobody")
			h.NotifyAll()
			if n := h.Waiters(); n != 0 {
				t.Fatalf("Waiters() = %d, want 0", n)
			}
		}},
		{"NotifyAll wakes every subscriber of every id", func(t *testing.T, h *storage.Hub) {
			var chans []<-chan struct{}
			for _, id := range []string{"a", "a", "b", "c"} {
				ch, cancel := h.Subscribe(id)
				defer cancel()
				chans = append(chans, ch)
			}
			h.NotifyAll()
			for i, ch := range chans {
				if !woken(ch) {
					t.Fatalf("subscriber %d not woken by NotifyAll", i)
				}
			}
		}},
		{"a slow subscriber never blocks Notify and keeps one pending wake-up", func(t *testing.T, h *storage.Hub) {
			ch, cancel := h.Subscribe("a")
			defer cancel()
			for range 100 {
				h.Notify("a") // would deadlock here if a full channel blocked
			}
			h.NotifyAll()
			if !woken(ch) {
				t.Fatal("no wake-up pending after 100 notifications")
			}
			if woken(ch) {
				t.Fatal("more than one wake-up pending; the buffer is one")
			}
		}},
		{"cancel releases only its own subscription and may be called twice", func(t *testing.T, h *storage.Hub) {
			a1, cancelA1 := h.Subscribe("a")
			a2, cancelA2 := h.Subscribe("a")
			defer cancelA2()
			if n := h.Waiters(); n != 2 {
				t.Fatalf("Waiters() = %d, want 2", n)
			}
			cancelA1()
			cancelA1()
			if n := h.Waiters(); n != 1 {
				t.Fatalf("Waiters() after cancel = %d, want 1", n)
			}
			h.Notify("a")
			if woken(a1) {
				t.Fatal("a cancelled subscription was woken")
			}
			if !woken(a2) {
				t.Fatal("the remaining subscription was not woken")
			}
		}},
		{"an id can be subscribed again after its last subscriber left", func(t *testing.T, h *storage.Hub) {
			_, cancel := h.Subscribe("a")
			cancel()
			ch, cancel := h.Subscribe("a")
			defer cancel()
			h.Notify("a")
			if !woken(ch) {
				t.Fatal("the new subscription was not woken")
			}
			cancel()
			if n := h.Waiters(); n != 0 {
				t.Fatalf("Waiters() = %d, want 0", n)
			}
		}},
		{"a stale cancel does not remove a later subscription of the same id", func(t *testing.T, h *storage.Hub) {
			_, cancelOld := h.Subscribe("a")
			cancelOld()
			ch, cancel := h.Subscribe("a")
			defer cancel()
			cancelOld()
			h.Notify("a")
			if !woken(ch) {
				t.Fatal("the later subscription was removed by a stale cancel")
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, new(storage.Hub)) // the zero Hub is ready to use
		})
	}
}

// TestHubConcurrent runs subscribe, notify and cancel from many goroutines;
// with -race it checks the hub's locking, and at the end that every
// subscription was released.
func TestHubConcurrent(t *testing.T) {
	var h storage.Hub
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprintf("login-%d", (g+i)%5)
				ch, cancel := h.Subscribe(id)
				h.Notify(id)
				if !woken(ch) {
					t.Errorf("goroutine %d: own notification of %s not received", g, id)
				}
				if i%10 == 0 {
					h.NotifyAll()
				}
				cancel()
			}
		})
	}
	wg.Wait()
	if n := h.Waiters(); n != 0 {
		t.Fatalf("Waiters() = %d after every cancel, want 0", n)
	}
}
