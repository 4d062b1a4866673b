package storage

import (
	"sync"
	"sync/atomic"
)

// Hub fans QR login changes out to in-process subscribers. Backends embed
// one: the memory store notifies it after every transition, the PostgreSQL
// store from its LISTEN connection.
//
// Subscribers are few (one per grants.QR, plus tests), so the list is
// copied on change and read without a lock: Notify costs a load and the
// calls.
type Hub struct {
	mu   sync.Mutex
	subs atomic.Pointer[[]*hubSub]
}

type hubSub struct{ fn func(QRChange) }

// Subscribe implements QRLoginStore.SubscribeQRLogins.
func (h *Hub) Subscribe(fn func(QRChange)) (cancel func()) {
	s := &hubSub{fn: fn}
	h.mu.Lock()
	var next []*hubSub
	if cur := h.subs.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, s)
	h.subs.Store(&next)
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			cur := *h.subs.Load()
			next := make([]*hubSub, 0, len(cur))
			for _, o := range cur {
				if o != s {
					next = append(next, o)
				}
			}
			h.subs.Store(&next)
		})
	}
}

// Notify tells every subscriber of c.
func (h *Hub) Notify(c QRChange) {
	if subs := h.subs.Load(); subs != nil {
		for _, s := range *subs {
			s.fn(c)
		}
	}
}

// NotifyAll tells every subscriber that changes may have been missed (a
// reconnect): each re-reads what it relies on.
func (h *Hub) NotifyAll() { h.Notify(QRChange{}) }

// Subscribers reports how many subscriptions are open (tests).
func (h *Hub) Subscribers() int {
	if subs := h.subs.Load(); subs != nil {
		return len(*subs)
	}
	return 0
}
