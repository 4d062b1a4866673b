package storage_test

import (
	"sync"
	"testing"

	"github.com/qrlogin/qrlogin/storage"
)

// Hub delivers synchronously: when Notify returns, every subscriber has
// been called. So these tests need no timeouts.

func TestHub(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, h *storage.Hub)
	}{
		{"Notify calls every subscriber with the change", func(t *testing.T, h *storage.Hub) {
			var got1, got2 []storage.QRChange
			cancel1 := h.Subscribe(func(c storage.QRChange) { got1 = append(got1, c) })
			defer cancel1()
			cancel2 := h.Subscribe(func(c storage.QRChange) { got2 = append(got2, c) })
			defer cancel2()
			h.Notify(storage.QRChange{ID: "a", Status: storage.StatusScanned})
			want := storage.QRChange{ID: "a", Status: storage.StatusScanned}
			if len(got1) != 1 || got1[0] != want || len(got2) != 1 || got2[0] != want {
				t.Fatalf("subscribers heard %v and %v, want %v each", got1, got2, want)
			}
		}},
		{"NotifyAll is a change with no ID", func(t *testing.T, h *storage.Hub) {
			var got []storage.QRChange
			defer h.Subscribe(func(c storage.QRChange) { got = append(got, c) })()
			h.NotifyAll()
			if len(got) != 1 || got[0] != (storage.QRChange{}) {
				t.Fatalf("heard %v, want one change with no ID", got)
			}
		}},
		{"Notify without subscribers does nothing", func(t *testing.T, h *storage.Hub) {
			h.Notify(storage.QRChange{ID: "nobody"})
			h.NotifyAll()
			if n := h.Subscribers(); n != 0 {
				t.Fatalf("Subscribers() = %d, want 0", n)
			}
		}},
		{"cancel ends one subscription, and a second cancel does nothing", func(t *testing.T, h *storage.Hub) {
			n1, n2 := 0, 0
			cancel1 := h.Subscribe(func(storage.QRChange) { n1++ })
			cancel2 := h.Subscribe(func(storage.QRChange) { n2++ })
			defer cancel2()
			cancel1()
			cancel1()
			if n := h.Subscribers(); n != 1 {
				t.Fatalf("Subscribers() after cancel = %d, want 1", n)
			}
			h.Notify(storage.QRChange{ID: "a"})
			if n1 != 0 || n2 != 1 {
				t.Fatalf("cancelled subscriber heard %d changes, the other %d; want 0 and 1", n1, n2)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, &storage.Hub{}) })
	}
}

// Concurrent subscribes, cancels and notifications are race free (run with
// -race) and leave nothing behind.
func TestHubConcurrent(t *testing.T) {
	h := &storage.Hub{}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cancel := h.Subscribe(func(storage.QRChange) {})
			h.Notify(storage.QRChange{ID: "x"})
			if i%5 == 0 {
				h.NotifyAll()
			}
			cancel()
		}()
	}
	wg.Wait()
	if n := h.Subscribers(); n != 0 {
		t.Fatalf("Subscribers() = %d after every cancel, want 0", n)
	}
}
