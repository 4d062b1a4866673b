package idp_test

import (
	"context"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

// countingStore counts the store calls of each request. On PostgreSQL
// every call is one round trip (storage/postgres TestRoundTrips), so this
// is the number README quotes, measured on the memory store.
type countingStore struct {
	storage.Store
	mu    sync.Mutex
	calls []string
}

func (c *countingStore) note(name string) {
	c.mu.Lock()
	c.calls = append(c.calls, name)
	c.mu.Unlock()
}

func (c *countingStore) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

// count reports how many calls named name were made so far.
func (c *countingStore) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, call := range c.calls {
		if call == name {
			n++
		}
	}
	return n
}

func (c *countingStore) CreateAuthRequest(ctx context.Context, a *storage.AuthRequest) error {
	c.note("CreateAuthRequest")
	return c.Store.CreateAuthRequest(ctx, a)
}
func (c *countingStore) Client(ctx context.Context, id string) (*storage.Client, error) {
	c.note("Client")
	return c.Store.Client(ctx, id)
}
func (c *countingStore) User(ctx context.Context, id string) (*storage.User, error) {
	c.note("User")
	return c.Store.User(ctx, id)
}
func (c *countingStore) CreateQRLogin(ctx context.Context, l *storage.QRLogin) error {
	c.note("CreateQRLogin")
	return c.Store.CreateQRLogin(ctx, l)
}
func (c *countingStore) QRLogin(ctx context.Context, id string) (*storage.QRLogin, error) {
	c.note("QRLogin")
	return c.Store.QRLogin(ctx, id)
}
func (c *countingStore) QRLoginByQRIDHash(ctx context.Context, h []byte) (*storage.QRLogin, error) {
	c.note("QRLoginByQRIDHash")
	return c.Store.QRLoginByQRIDHash(ctx, h)
}
func (c *countingStore) QRLoginByTicketHash(ctx context.Context, h []byte) (*storage.QRLogin, error) {
	c.note("QRLoginByTicketHash")
	return c.Store.QRLoginByTicketHash(ctx, h)
}
func (c *countingStore) QRLoginByDeviceCode(ctx context.Context, h []byte) (*storage.QRLogin, error) {
	c.note("QRLoginByDeviceCode")
	return c.Store.QRLoginByDeviceCode(ctx, h)
}
func (c *countingStore) ApplyQR(ctx context.Context, a *storage.Attempt) (*storage.Applied, error) {
	c.note("ApplyQR." + a.Event.String())
	return c.Store.ApplyQR(ctx, a)
}
func (c *countingStore) AccessToken(ctx context.Context, id string, now time.Time) (*storage.AccessToken, error) {
	c.note("AccessToken")
	return c.Store.AccessToken(ctx, id, now)
}
func (c *countingStore) CreateAccessToken(ctx context.Context, t *storage.AccessToken) error {
	c.note("CreateAccessToken")
	return c.Store.CreateAccessToken(ctx, t)
}
func (c *countingStore) CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) error {
	c.note("CreateRefreshToken")
	return c.Store.CreateRefreshToken(ctx, t)
}
func (c *countingStore) SigningKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	c.note("SigningKeys")
	return c.Store.SigningKeys(ctx)
}

// The store calls of one complete QR login, step by step, with the PC
// long-polling. The bounds are what the hot paths are designed to cost;
// the figures are logged for README.
func TestRoundTripsOfACompleteLogin(t *testing.T) {
	cs := &countingStore{Store: memory.New()}
	s := newServerOn(t, cs)
	phone := s.phoneToken(t, "alice")
	cs.take()

	type step struct {
		name string
		max  int
		run  func()
	}
	var r *qrStart
	var ticket string
	steps := []step{
		{"start (/qr/authorize)", 2, func() { r = s.start(t, url.Values{"scope": {"openid profile offline_access"}}) }},
		{"first poll (pending)", 0, func() { s.poll(t, idp.GrantQR, r.DeviceCode, nil) }},
		{"scan", 1, func() { ticket = s.scan(t, phone, r.VerificationURIComplete) }},
		{"the next poll reports scanned", 0, func() {
			if _, body := s.poll(t, idp.GrantQR, r.DeviceCode, url.Values{"wait": {"10"}}); body["qr_status"] != "scanned" {
				t.Errorf("poll after the scan: %v", body)
			}
		}},
		{"confirm, then the held long-poll redeems", 2, func() {
			done := make(chan struct{})
			go func() {
				defer close(done)
				if status, body := s.poll(t, idp.GrantQR, r.DeviceCode, url.Values{"wait": {"10"}}); status != 200 {
					t.Errorf("redeem: %d %v", status, body)
				}
			}()
			time.Sleep(100 * time.Millisecond)
			s.phone(t, phone, "/qr/confirm", map[string]string{"ticket": ticket})
			<-done
		}},
	}
	total := 0
	for _, st := range steps {
		st.run()
		calls := cs.take()
		sorted := append([]string(nil), calls...)
		sort.Strings(sorted)
		t.Logf("%-42s %d store calls: %s", st.name, len(calls), strings.Join(sorted, ", "))
		if len(calls) > st.max {
			t.Errorf("%s: %d store calls, designed for at most %d", st.name, len(calls), st.max)
		}
		total += len(calls)
	}
	t.Logf("complete login: %d store calls (one round trip each on PostgreSQL)", total)
}
