package idp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// clientCache keeps clients for a few seconds so a poll authenticates its
// client without a database round trip. A failed secret check re-reads
// the client first, so a freshly rotated secret works at once; a deleted
// client or a replaced secret stops working within the TTL.
type clientCache struct {
	store storage.ClientStore
	ttl   time.Duration
	now   func() time.Time

	mu sync.Mutex
	m  map[string]cachedClient
}

type cachedClient struct {
	c  *storage.Client
	at time.Time
}

func newClientCache(store storage.ClientStore, ttl time.Duration, now func() time.Time) *clientCache {
	return &clientCache{store: store, ttl: ttl, now: now, m: map[string]cachedClient{}}
}

func (cc *clientCache) get(ctx context.Context, id string, fresh bool) (*storage.Client, error) {
	now := cc.now()
	if !fresh && cc.ttl > 0 {
		cc.mu.Lock()
		e, ok := cc.m[id]
		cc.mu.Unlock()
		if ok && now.Sub(e.at) < cc.ttl {
			return e.c, nil
		}
	}
	c, err := cc.store.Client(ctx, id)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	if len(cc.m) > 10000 { // bound memory under a flood of client ids
		clear(cc.m)
	}
	cc.m[id] = cachedClient{c: c, at: now}
	cc.mu.Unlock()
	return c, nil
}

// authenticateClient authenticates the client of a token or QR request
// (RFC 6749 §2.3.1): client_secret_basic or client_secret_post for
// confidential clients, client_id alone for public ones. One method only.
func (s *Server) authenticateClient(r *http.Request) (*storage.Client, error) {
	id, secret, basic := r.BasicAuth()
	if basic {
		if r.PostForm.Get("client_secret") != "" {
			return nil, oauth.New(oauth.InvalidRequest, "use one client authentication method")
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, invalidClient()
		}
		if f := r.PostForm.Get("client_id"); f != "" && f != id {
			return nil, oauth.New(oauth.InvalidRequest, "client_id does not match the authenticated client")
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" || len(id) > 128 {
		return nil, invalidClient()
	}
	c, err := s.clients.get(r.Context(), id, false)
	if err != nil {
		return nil, clientLookupError(err)
	}
	setClientID(r.Context(), c.ID)
	switch c.Type {
	case storage.ClientPublic:
		if secret != "" {
			return nil, invalidClient()
		}
		return c, nil
	default:
		if secretMatches(c, secret) {
			return c, nil
		}
		// Maybe the secret was rotated since we cached the client.
		if c, err = s.clients.get(r.Context(), id, true); err != nil {
			return nil, clientLookupError(err)
		}
		if secretMatches(c, secret) {
			return c, nil
		}
		return nil, invalidClient()
	}
}

func clientLookupError(err error) error {
	if e := storeErr(err); e != nil {
		return e
	}
	return invalidClient()
}

// invalidClient is RFC 6749 §5.2's answer: 401 with a Basic challenge.
// §5.2 requires the challenge after an HTTP Basic attempt; RFC 9110
// §15.5.2 requires one on every 401, so a client that sent its secret in
// the form (or none) is told the scheme too.
func invalidClient() *oauth.Error {
	e := oauth.New(oauth.InvalidClient, "client authentication failed").WithStatus(http.StatusUnauthorized)
	e.Challenge = "Basic"
	return e
}

// storeErr is nil when err is nil or only says the row does not exist
// (the caller answers as for a missing row); any other store failure goes
// through the one mapping, oauth.StoreError: a 503 for an outage, a 500
// that says nothing for the rest. Never an answer about the client's
// credentials or token: a database refusing connections used to turn into
// 401 invalid_client.
func storeErr(err error) error {
	if err == nil || errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return oauth.StoreError(err)
}
