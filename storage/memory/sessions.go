package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

// browserSessions holds the browser sessions; the Store's mu guards it.
type browserSessions struct {
	byID      map[string]*storage.BrowserSession
	byHash    map[string]string              // string(TokenHash) → ID
	bySubject map[string]map[string]struct{} // subject → IDs
}

func newBrowserSessions() *browserSessions {
	return &browserSessions{
		byID:      make(map[string]*storage.BrowserSession),
		byHash:    make(map[string]string),
		bySubject: make(map[string]map[string]struct{}),
	}
}

func cloneBrowserSession(b *storage.BrowserSession) *storage.BrowserSession {
	x := *b
	x.TokenHash = cloneBytes(b.TokenHash)
	x.AMR = cloneStrings(b.AMR)
	x.AuthTime = ut(b.AuthTime)
	x.CreatedAt = ut(b.CreatedAt)
	x.LastUsedAt = ut(b.LastUsedAt)
	x.ExpiresAt = ut(b.ExpiresAt)
	return &x
}

// newestSessionFirst orders sessions by CreatedAt, then ID, descending.
func newestSessionFirst(a, b *storage.BrowserSession) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

func (b *browserSessions) ofSubject(subject string) []*storage.BrowserSession {
	out := make([]*storage.BrowserSession, 0, len(b.bySubject[subject]))
	for id := range b.bySubject[subject] {
		out = append(out, b.byID[id])
	}
	slices.SortFunc(out, newestSessionFirst)
	return out
}

func (b *browserSessions) delete(id string) {
	x, ok := b.byID[id]
	if !ok {
		return
	}
	delete(b.byID, id)
	delete(b.byHash, string(x.TokenHash))
	if ids := b.bySubject[x.Subject]; ids != nil {
		delete(ids, id)
		if len(ids) == 0 {
			delete(b.bySubject, x.Subject)
		}
	}
}

func (b *browserSessions) deleteExpired(before time.Time, limit int) int {
	return deleteWhere(b.byID, limit, func(x *storage.BrowserSession) bool { return x.ExpiresAt.Before(before) }, b.delete)
}

// CreateBrowserSession implements storage.BrowserSessionStore: the cap and
// the insert happen under the store's lock, so concurrent sign-ins of one
// user never leave more than max.
func (s *Store) CreateBrowserSession(_ context.Context, bs *storage.BrowserSession, limit int) error {
	if bs.ID == "" || len(bs.TokenHash) == 0 || bs.Subject == "" {
		return invalid("browser session needs an ID, a token hash and a subject")
	}
	limit = max(limit, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.browser
	if _, ok := b.byID[bs.ID]; ok {
		return conflict("browser session id")
	}
	if _, ok := b.byHash[string(bs.TokenHash)]; ok {
		return conflict("browser session token")
	}
	existing := b.ofSubject(bs.Subject)
	for _, old := range existing[min(len(existing), limit-1):] {
		b.delete(old.ID)
	}
	x := cloneBrowserSession(bs)
	b.byID[x.ID] = x
	b.byHash[string(x.TokenHash)] = x.ID
	if b.bySubject[x.Subject] == nil {
		b.bySubject[x.Subject] = make(map[string]struct{})
	}
	b.bySubject[x.Subject][x.ID] = struct{}{}
	return nil
}

// BrowserSessionByHash implements storage.BrowserSessionStore.
func (s *Store) BrowserSessionByHash(_ context.Context, tokenHash []byte, now time.Time) (*storage.BrowserSession, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	x, ok := s.browser.byID[s.browser.byHash[string(tokenHash)]]
	if !ok || !ut(now).Before(x.ExpiresAt) {
		return nil, notFound("browser session")
	}
	return cloneBrowserSession(x), nil
}

// TouchBrowserSession implements storage.BrowserSessionStore.
func (s *Store) TouchBrowserSession(_ context.Context, id string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.browser.byID[id]
	if !ok || !ut(now).Before(x.ExpiresAt) {
		return notFound("browser session")
	}
	x.LastUsedAt = ut(now)
	return nil
}

// BrowserSessions implements storage.BrowserSessionStore.
func (s *Store) BrowserSessions(_ context.Context, subject string, now time.Time) ([]*storage.BrowserSession, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*storage.BrowserSession
	for _, x := range s.browser.ofSubject(subject) {
		if ut(now).Before(x.ExpiresAt) {
			out = append(out, cloneBrowserSession(x))
		}
	}
	return out, nil
}

// DeleteBrowserSession implements storage.BrowserSessionStore.
func (s *Store) DeleteBrowserSession(_ context.Context, subject, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.browser.byID[id]
	if !ok || x.Subject != subject {
		return notFound("browser session")
	}
	s.browser.delete(id)
	return nil
}

// DeleteUserSessions implements storage.BrowserSessionStore.
func (s *Store) DeleteUserSessions(_ context.Context, subject string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := range s.browser.bySubject[subject] {
		s.browser.delete(id)
		n++
	}
	return n, nil
}
