package storage

import "sync"

// Hub fans change notifications out to in-process subscribers, keyed by QR
// login ID. Backends embed one: the memory store notifies it on every
// transition, the PostgreSQL store from its LISTEN connection.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{}
}

type subscriber struct{ ch chan struct{} }

// Subscribe implements QRLoginStore.SubscribeQRLogin.
func (h *Hub) Subscribe(id string) (<-chan struct{}, func()) {
	s := &subscriber{ch: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[string]map[*subscriber]struct{})
	}
	set := h.subs[id]
	if set == nil {
		set = make(map[*subscriber]struct{})
		h.subs[id] = set
	}
	set[s] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(set, s)
			if len(set) == 0 && h.subs[id] != nil && len(h.subs[id]) == 0 {
				delete(h.subs, id)
			}
			h.mu.Unlock()
		})
	}
}

// Notify wakes every subscriber of id. It never blocks: a subscriber that
// has not consumed its previous wake-up keeps just one pending.
func (h *Hub) Notify(id string) {
	h.mu.Lock()
	for s := range h.subs[id] {
		wake(s.ch)
	}
	h.mu.Unlock()
}

// NotifyAll wakes every subscriber; used when notifications may have been
// lost (a reconnect), so each waiter re-reads its state.
func (h *Hub) NotifyAll() {
	h.mu.Lock()
	for _, set := range h.subs {
		for s := range set {
			wake(s.ch)
		}
	}
	h.mu.Unlock()
}

// Waiters reports how many subscriptions are open (for tests and metrics).
func (h *Hub) Waiters() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.subs {
		n += len(set)
	}
	return n
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
