package memory

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/qrlogin/qrlogin/grants/rules"
	"github.com/qrlogin/qrlogin/storage"
)

// Store is an in-memory storage.Store. The zero value is not usable; call
// New. All methods are safe for concurrent use.
type Store struct {
	// hub announces every QR transition (SubscribeQRLogins).
	hub storage.Hub

	mu sync.RWMutex

	clients   map[string]*storage.Client
	users     map[string]*storage.User
	usernames map[string]string // username → user ID

	logins        map[string]*storage.QRLogin
	byQRID        map[string]string   // string(QRIDHash) → login ID
	byDeviceCode  map[string]string   // string(DeviceCodeHash) → login ID
	byTicket      map[string]string   // string(TicketHash) → login ID
	byUserCode    map[string][]string // user code → login IDs, oldest first
	byAuthRequest map[string][]string // auth request ID → login IDs, oldest first
	audit         map[string][]storage.AuditEvent

	authRequests map[string]*storage.AuthRequest
	byCode       map[string]string    // string(CodeHash) → auth request ID
	spentCodes   map[string]spentCode // string(CodeHash) of consumed codes

	access          map[string]*accessToken
	refresh         map[string]*storage.RefreshToken
	byRefreshHash   map[string]string // string(TokenHash) → refresh token ID
	sessions        map[string]*session
	accessByRefresh map[string]map[string]struct{} // refresh token ID → access token IDs

	keys        map[string]*storage.SigningKey
	adminTokens map[string]*storage.AdminToken // keyed by string(AccessHash)
	// revokedSessions: session id → until when tokens for it are refused.
	revokedSessions map[string]time.Time
	notifications   map[string]*storage.Notification
	bySubject       map[string][]*storage.Notification // newest first
	secrets         map[string][]byte

	browser *browserSessions
	// dpopProofs: string(key) → until when the spent proof is remembered.
	dpopProofs map[string]time.Time
}

// spentCode remembers a consumed authorization code until it would have
// expired: the session of the tokens issued from it, revoked on replay.
type spentCode struct {
	sessionID string
	expiresAt time.Time
}

// accessToken is a stored access token; the contract's type has no revoked
// flag because a revoked token simply reads as not found.
type accessToken struct {
	storage.AccessToken
	revoked bool
}

// session indexes the tokens of one session (one family), so revoking it
// touches only its own tokens.
type session struct {
	access  map[string]struct{}
	refresh map[string]struct{}
}

var _ storage.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		clients:         make(map[string]*storage.Client),
		users:           make(map[string]*storage.User),
		usernames:       make(map[string]string),
		logins:          make(map[string]*storage.QRLogin),
		byQRID:          make(map[string]string),
		byDeviceCode:    make(map[string]string),
		byTicket:        make(map[string]string),
		byUserCode:      make(map[string][]string),
		byAuthRequest:   make(map[string][]string),
		audit:           make(map[string][]storage.AuditEvent),
		authRequests:    make(map[string]*storage.AuthRequest),
		byCode:          make(map[string]string),
		access:          make(map[string]*accessToken),
		refresh:         make(map[string]*storage.RefreshToken),
		byRefreshHash:   make(map[string]string),
		sessions:        make(map[string]*session),
		accessByRefresh: make(map[string]map[string]struct{}),
		keys:            make(map[string]*storage.SigningKey),
		adminTokens:     make(map[string]*storage.AdminToken),
		spentCodes:      make(map[string]spentCode),
		revokedSessions: make(map[string]time.Time),
		notifications:   make(map[string]*storage.Notification),
		bySubject:       make(map[string][]*storage.Notification),
		secrets:         make(map[string][]byte),
		browser:         newBrowserSessions(),
		dpopProofs:      make(map[string]time.Time),
	}
}

// Errors. Each wraps a sentinel of package storage (compare with
// errors.Is) or, for input no caller should ever send, is a plain error.

func notFound(what string) error { return fmt.Errorf("memory: %s: %w", what, storage.ErrNotFound) }
func conflict(what string) error { return fmt.Errorf("memory: %s: %w", what, storage.ErrConflict) }
func invalid(what string) error  { return errors.New("memory: invalid input: " + what) }

// ut is how every time is kept: UTC, truncated to the microsecond (the
// resolution of PostgreSQL's timestamptz), zero kept as zero.
func ut(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// cloneBytes and cloneStrings copy a slice; empty becomes nil, since the
// contract makes nil and empty equivalent.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func cloneClient(c *storage.Client) *storage.Client {
	x := *c
	x.SecretHash = cloneBytes(c.SecretHash)
	x.RedirectURIs = cloneStrings(c.RedirectURIs)
	x.PostLogoutRedirectURIs = cloneStrings(c.PostLogoutRedirectURIs)
	x.GrantTypes = cloneStrings(c.GrantTypes)
	x.AllowedOrigins = cloneStrings(c.AllowedOrigins)
	x.CreatedAt = ut(c.CreatedAt)
	return &x
}

func cloneUser(u *storage.User) *storage.User {
	x := *u
	x.CreatedAt = ut(u.CreatedAt)
	return &x
}

func cloneLogin(l *storage.QRLogin) *storage.QRLogin {
	x := *l
	x.QRIDHash = cloneBytes(l.QRIDHash)
	x.DeviceCodeHash = cloneBytes(l.DeviceCodeHash)
	x.Scopes = cloneStrings(l.Scopes)
	x.MatchChoices = slices.Clone(l.MatchChoices)
	x.TicketHash = cloneBytes(l.TicketHash)
	x.TicketExpiresAt = ut(l.TicketExpiresAt)
	x.CreatedAt = ut(l.CreatedAt)
	x.ExpiresAt = ut(l.ExpiresAt)
	x.ScannedAt = ut(l.ScannedAt)
	x.DecidedAt = ut(l.DecidedAt)
	x.RedeemedAt = ut(l.RedeemedAt)
	return &x
}

func cloneAuthRequest(a *storage.AuthRequest) *storage.AuthRequest {
	x := *a
	x.Scopes = cloneStrings(a.Scopes)
	x.Prompt = cloneStrings(a.Prompt)
	if a.MaxAge != nil {
		v := *a.MaxAge
		x.MaxAge = &v
	}
	x.AuthTime = ut(a.AuthTime)
	x.AMR = cloneStrings(a.AMR)
	x.CodeHash = cloneBytes(a.CodeHash)
	x.CreatedAt = ut(a.CreatedAt)
	x.ExpiresAt = ut(a.ExpiresAt)
	return &x
}

func cloneAccessToken(t *storage.AccessToken) *storage.AccessToken {
	x := *t
	x.Audience = cloneStrings(t.Audience)
	x.Scopes = cloneStrings(t.Scopes)
	x.CreatedAt = ut(t.CreatedAt)
	x.ExpiresAt = ut(t.ExpiresAt)
	return &x
}

func cloneRefreshToken(t *storage.RefreshToken) *storage.RefreshToken {
	x := *t
	x.TokenHash = cloneBytes(t.TokenHash)
	x.Audience = cloneStrings(t.Audience)
	x.Scopes = cloneStrings(t.Scopes)
	x.AMR = cloneStrings(t.AMR)
	x.AuthTime = ut(t.AuthTime)
	x.CreatedAt = ut(t.CreatedAt)
	x.ExpiresAt = ut(t.ExpiresAt)
	x.RotatedAt = ut(t.RotatedAt)
	return &x
}

func cloneSigningKey(k *storage.SigningKey) *storage.SigningKey {
	x := *k
	x.PrivateKey = cloneBytes(k.PrivateKey)
	x.CreatedAt = ut(k.CreatedAt)
	x.NotBefore = ut(k.NotBefore)
	return &x
}

func cloneAdminToken(t *storage.AdminToken) *storage.AdminToken {
	x := *t
	x.AccessHash = cloneBytes(t.AccessHash)
	x.CreatedAt = ut(t.CreatedAt)
	x.ExpiresAt = ut(t.ExpiresAt)
	return &x
}

func cloneNotification(n *storage.Notification) *storage.Notification {
	x := *n
	x.Kind = storage.NotificationKind(n.Kind)
	x.CreatedAt = ut(n.CreatedAt)
	return &x
}

// ---- clients ----

// CreateClient implements storage.ClientStore.
func (s *Store) CreateClient(_ context.Context, c *storage.Client) error {
	if c == nil || c.ID == "" {
		return invalid("client without id")
	}
	c = cloneClient(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return conflict("client id taken")
	}
	s.clients[c.ID] = c
	return nil
}

// Client implements storage.ClientStore.
func (s *Store) Client(_ context.Context, id string) (*storage.Client, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, notFound("client")
	}
	return cloneClient(c), nil
}

// ListClients implements storage.ClientStore.
func (s *Store) ListClients(_ context.Context) ([]*storage.Client, error) {
	s.mu.RLock()
	out := make([]*storage.Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, cloneClient(c))
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *storage.Client) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteClient implements storage.ClientStore.
func (s *Store) DeleteClient(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[id]; !ok {
		return notFound("client")
	}
	delete(s.clients, id)
	return nil
}

// SetClientSecretHash implements storage.ClientStore.
func (s *Store) SetClientSecretHash(_ context.Context, id string, hash []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return notFound("client")
	}
	c.SecretHash = cloneBytes(hash)
	return nil
}

// UpdateClient implements storage.ClientStore.
func (s *Store) UpdateClient(_ context.Context, id string, u storage.ClientUpdate) (*storage.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, notFound("client")
	}
	if u.RateLimit != nil {
		c.RateLimit = *u.RateLimit
	}
	if u.IDTokenSignedResponseAlg != nil {
		c.IDTokenSignedResponseAlg = *u.IDTokenSignedResponseAlg
	}
	if u.ProximityPolicy != nil {
		c.ProximityPolicy = *u.ProximityPolicy
	}
	if u.DPoPBoundAccessTokens != nil {
		c.DPoPBoundAccessTokens = *u.DPoPBoundAccessTokens
	}
	return cloneClient(c), nil
}

// SetClientQRDefences implements storage.ClientStore.
func (s *Store) SetClientQRDefences(_ context.Context, id string, d *storage.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return notFound("client")
	}
	c.QRNumberMatching, c.QRSession, c.QRSecondScan = d.QRNumberMatching, d.QRSession, d.QRSecondScan
	return nil
}

// ---- users ----

// CreateUser implements storage.UserStore.
func (s *Store) CreateUser(_ context.Context, u *storage.User) error {
	if u == nil || u.ID == "" || u.Username == "" {
		return invalid("user without id or username")
	}
	u = cloneUser(u)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; ok {
		return conflict("user id taken")
	}
	if _, ok := s.usernames[u.Username]; ok {
		return conflict("username taken")
	}
	s.users[u.ID] = u
	s.usernames[u.Username] = u.ID
	return nil
}

// User implements storage.UserStore.
func (s *Store) User(_ context.Context, id string) (*storage.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return nil, notFound("user")
	}
	return cloneUser(u), nil
}

// UserByUsername implements storage.UserStore.
func (s *Store) UserByUsername(_ context.Context, username string) (*storage.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.usernames[username]
	if !ok {
		return nil, notFound("user")
	}
	return cloneUser(s.users[id]), nil
}

// ListUsers implements storage.UserStore.
func (s *Store) ListUsers(_ context.Context) ([]*storage.User, error) {
	s.mu.RLock()
	out := make([]*storage.User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, cloneUser(u))
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *storage.User) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteUser implements storage.UserStore; ErrNotFound if absent.
func (s *Store) DeleteUser(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return notFound("user")
	}
	delete(s.users, id)
	delete(s.usernames, u.Username)
	return nil
}

// ---- authorization requests ----

// CreateAuthRequest implements storage.AuthRequestStore.
func (s *Store) CreateAuthRequest(_ context.Context, a *storage.AuthRequest) error {
	if a == nil || a.ID == "" {
		return invalid("auth request without id")
	}
	a = cloneAuthRequest(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.authRequests[a.ID]; ok {
		return conflict("auth request id taken")
	}
	if len(a.CodeHash) > 0 {
		if _, ok := s.byCode[string(a.CodeHash)]; ok {
			return conflict("code taken")
		}
		s.byCode[string(a.CodeHash)] = a.ID
	}
	s.authRequests[a.ID] = a
	return nil
}

// AuthRequest implements storage.AuthRequestStore.
func (s *Store) AuthRequest(_ context.Context, id string, now time.Time) (*storage.AuthRequest, error) {
	now = ut(now)
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.authRequests[id]
	if !ok || !now.Before(a.ExpiresAt) {
		return nil, notFound("auth request")
	}
	return cloneAuthRequest(a), nil
}

// CompleteAuthRequest implements storage.AuthRequestStore.
func (s *Store) CompleteAuthRequest(_ context.Context, id, subject string, authTime time.Time, amr []string, sessionChoice string) error {
	if subject == "" {
		return invalid("completion without subject")
	}
	if sessionChoice != "" && !storage.ValidSessionChoice(sessionChoice) {
		return invalid("session choice " + sessionChoice)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.authRequests[id]
	if !ok {
		return notFound("auth request")
	}
	if a.Done {
		return conflict("auth request already completed")
	}
	a.Subject = subject
	a.AuthTime = ut(authTime)
	a.SessionChoice = sessionChoice
	a.AMR = cloneStrings(amr)
	a.Done = true
	return nil
}

// SaveAuthCode implements storage.AuthRequestStore.
func (s *Store) SaveAuthCode(_ context.Context, id string, codeHash []byte) error {
	if len(codeHash) == 0 {
		return invalid("empty code hash")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.authRequests[id]
	if !ok {
		return notFound("auth request")
	}
	if len(a.CodeHash) > 0 {
		return conflict("auth request already has a code")
	}
	if _, ok := s.byCode[string(codeHash)]; ok {
		return conflict("code taken")
	}
	a.CodeHash = cloneBytes(codeHash)
	s.byCode[string(a.CodeHash)] = id
	return nil
}

// ConsumeAuthCode implements storage.AuthRequestStore. The returned request
// still shows the code it held.
func (s *Store) ConsumeAuthCode(_ context.Context, codeHash []byte, now, revokeUntil time.Time) (*storage.AuthRequest, error) {
	if len(codeHash) == 0 {
		return nil, notFound("auth code")
	}
	now = ut(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byCode[string(codeHash)]
	if !ok {
		if spent, ok := s.spentCodes[string(codeHash)]; ok && now.Before(spent.expiresAt) {
			s.revokeSession(spent.sessionID, revokeUntil)
			return nil, conflict("auth code already used: its tokens are revoked")
		}
		return nil, notFound("auth code")
	}
	a := s.authRequests[id]
	if !now.Before(a.ExpiresAt) {
		return nil, notFound("auth code")
	}
	out := cloneAuthRequest(a)
	delete(s.byCode, string(codeHash))
	a.CodeHash = nil
	s.spentCodes[string(codeHash)] = spentCode{sessionID: a.SessionID, expiresAt: a.ExpiresAt}
	return out, nil
}

// DeleteAuthRequest implements storage.AuthRequestStore; ErrNotFound if
// absent.
func (s *Store) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.authRequests[id]; !ok {
		return notFound("auth request")
	}
	s.deleteAuthRequest(id)
	return nil
}

func (s *Store) deleteAuthRequest(id string) {
	if a := s.authRequests[id]; len(a.CodeHash) > 0 {
		delete(s.byCode, string(a.CodeHash))
	}
	delete(s.authRequests, id)
}

// ---- tokens ----

func (s *Store) session(id string) *session {
	ss := s.sessions[id]
	if ss == nil {
		ss = &session{access: make(map[string]struct{}), refresh: make(map[string]struct{})}
		s.sessions[id] = ss
	}
	return ss
}

// CreateAccessToken implements storage.TokenStore.
func (s *Store) CreateAccessToken(_ context.Context, t *storage.AccessToken) error {
	if t == nil || t.ID == "" {
		return invalid("access token without id")
	}
	t = cloneAccessToken(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.revokedSessions[t.SessionID]; ok && t.SessionID != "" {
		return conflict("session revoked")
	}
	if _, ok := s.access[t.ID]; ok {
		return conflict("access token id taken")
	}
	s.insertAccess(t)
	return nil
}

// insertAccess stores t, whose session is live; the caller holds s.mu.
func (s *Store) insertAccess(t *storage.AccessToken) {
	s.access[t.ID] = &accessToken{AccessToken: *t}
	if t.SessionID != "" {
		s.session(t.SessionID).access[t.ID] = struct{}{}
	}
	if t.RefreshTokenID != "" {
		set := s.accessByRefresh[t.RefreshTokenID]
		if set == nil {
			set = make(map[string]struct{})
			s.accessByRefresh[t.RefreshTokenID] = set
		}
		set[t.ID] = struct{}{}
	}
}

// AccessToken implements storage.TokenStore.
func (s *Store) AccessToken(_ context.Context, id string, now time.Time) (*storage.AccessToken, error) {
	now = ut(now)
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.access[id]
	if !ok || t.revoked || !now.Before(t.ExpiresAt) {
		return nil, notFound("access token")
	}
	return cloneAccessToken(&t.AccessToken), nil
}

// RevokeAccessToken implements storage.TokenStore; ErrNotFound if absent.
func (s *Store) RevokeAccessToken(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.access[id]
	if !ok {
		return notFound("access token")
	}
	t.revoked = true
	return nil
}

// CreateRefreshToken implements storage.TokenStore.
func (s *Store) CreateRefreshToken(_ context.Context, t *storage.RefreshToken) error {
	if t == nil || t.ID == "" || len(t.TokenHash) == 0 {
		return invalid("refresh token without id or hash")
	}
	t = cloneRefreshToken(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insertRefresh(t)
}

// insertRefresh stores t; the caller holds s.mu.
func (s *Store) insertRefresh(t *storage.RefreshToken) error {
	if _, ok := s.revokedSessions[t.SessionID]; ok && t.SessionID != "" {
		return conflict("session revoked")
	}
	if _, ok := s.refresh[t.ID]; ok {
		return conflict("refresh token id taken")
	}
	if _, ok := s.byRefreshHash[string(t.TokenHash)]; ok {
		return conflict("refresh token hash taken")
	}
	s.refresh[t.ID] = t
	s.byRefreshHash[string(t.TokenHash)] = t.ID
	if t.SessionID != "" {
		s.session(t.SessionID).refresh[t.ID] = struct{}{}
	}
	return nil
}

// RefreshTokenByHash implements storage.TokenStore.
func (s *Store) RefreshTokenByHash(_ context.Context, hash []byte) (*storage.RefreshToken, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byRefreshHash[string(hash)]
	if !ok || len(hash) == 0 {
		return nil, notFound("refresh token")
	}
	return cloneRefreshToken(s.refresh[id]), nil
}

// RotateRefreshToken implements storage.TokenStore. An unknown old hash is
// ErrConflict too, as the contract says: the precondition does not hold.
func (s *Store) RotateRefreshToken(_ context.Context, oldHash []byte, next *storage.RefreshToken, now time.Time) error {
	if next == nil || next.ID == "" || len(next.TokenHash) == 0 {
		return invalid("refresh token without id or hash")
	}
	next = cloneRefreshToken(next)
	now = ut(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byRefreshHash[string(oldHash)]
	if !ok || len(oldHash) == 0 {
		return conflict("unknown refresh token")
	}
	old := s.refresh[id]
	switch {
	case !old.RotatedAt.IsZero():
		return conflict("refresh token already rotated")
	case old.Revoked:
		return conflict("refresh token revoked")
	case !now.Before(old.ExpiresAt):
		return conflict("refresh token expired")
	}
	if err := s.insertRefresh(next); err != nil {
		return err
	}
	old.RotatedAt = now
	return nil
}

// RevokeRefreshToken implements storage.TokenStore; ErrNotFound if absent.
func (s *Store) RevokeRefreshToken(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refresh[id]
	if !ok {
		return notFound("refresh token")
	}
	t.Revoked = true
	for aid := range s.accessByRefresh[id] {
		s.access[aid].revoked = true
	}
	return nil
}

// RevokeSession implements storage.TokenStore. A session without tokens is
// not an error: there is simply nothing left to revoke.
func (s *Store) RevokeSession(_ context.Context, sessionID string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeSession(sessionID, until)
	return nil
}

// revokeSession is RevokeSession; the caller holds s.mu.
func (s *Store) revokeSession(sessionID string, until time.Time) {
	if sessionID != "" {
		if cur, ok := s.revokedSessions[sessionID]; !ok || cur.Before(ut(until)) {
			s.revokedSessions[sessionID] = ut(until)
		}
	}
	ss := s.sessions[sessionID]
	if ss == nil {
		return
	}
	for id := range ss.access {
		s.access[id].revoked = true
	}
	for id := range ss.refresh {
		s.refresh[id].Revoked = true
	}
}

// RevokeUserClientSessions implements storage.TokenStore. It scans every
// token: it runs on end_session, which is rare next to polls and lookups.
func (s *Store) RevokeUserClientSessions(_ context.Context, subject, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.access {
		if t.Subject == subject && t.ClientID == clientID {
			t.revoked = true
		}
	}
	for _, t := range s.refresh {
		if t.Subject == subject && t.ClientID == clientID {
			t.Revoked = true
		}
	}
	return nil
}

// ---- signing keys ----

// CreateSigningKey implements storage.KeyStore. The key stays in process
// memory only, so there is nothing to encrypt at rest.
func (s *Store) CreateSigningKey(_ context.Context, k *storage.SigningKey) error {
	if k == nil || k.ID == "" {
		return invalid("signing key without id")
	}
	k = cloneSigningKey(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return conflict("signing key id taken")
	}
	s.keys[k.ID] = k
	return nil
}

// SigningKeys implements storage.KeyStore: oldest first, then by ID.
func (s *Store) SigningKeys(_ context.Context) ([]*storage.SigningKey, error) {
	s.mu.RLock()
	out := make([]*storage.SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, cloneSigningKey(k))
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *storage.SigningKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteSigningKey implements storage.KeyStore; ErrNotFound if absent.
func (s *Store) DeleteSigningKey(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[id]; !ok {
		return notFound("signing key")
	}
	delete(s.keys, id)
	return nil
}

// ---- admin tokens ----

// CreateAdminToken implements storage.AdminTokenStore.
func (s *Store) CreateAdminToken(_ context.Context, t *storage.AdminToken) error {
	if t == nil || len(t.AccessHash) == 0 {
		return invalid("admin token without hash")
	}
	t = cloneAdminToken(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.adminTokens[string(t.AccessHash)]; ok {
		return conflict("admin token taken")
	}
	s.adminTokens[string(t.AccessHash)] = t
	return nil
}

// AdminToken implements storage.AdminTokenStore.
func (s *Store) AdminToken(_ context.Context, accessHash []byte, now time.Time) (*storage.AdminToken, error) {
	now = ut(now)
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.adminTokens[string(accessHash)]
	if !ok || len(accessHash) == 0 || !now.Before(t.ExpiresAt) {
		return nil, notFound("admin token")
	}
	return cloneAdminToken(t), nil
}

// DeleteAdminToken implements storage.AdminTokenStore; ErrNotFound if
// absent.
func (s *Store) DeleteAdminToken(_ context.Context, accessHash []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.adminTokens[string(accessHash)]; !ok {
		return notFound("admin token")
	}
	delete(s.adminTokens, string(accessHash))
	return nil
}

// ---- notifications ----

// CreateNotification implements storage.NotificationStore.
func (s *Store) CreateNotification(_ context.Context, n *storage.Notification) error {
	if n == nil || n.ID == "" {
		return invalid("notification without id")
	}
	n = cloneNotification(n)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.notifications[n.ID]; ok {
		return conflict("notification id taken")
	}
	s.insertNotification(n)
	return nil
}

// newestFirst orders notifications by CreatedAt, then ID, descending.
func newestFirst(a, b *storage.Notification) int {
	return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
}

// insertNotification stores n, keeping its subject's list newest first;
// the caller holds s.mu and has checked that n.ID is free.
func (s *Store) insertNotification(n *storage.Notification) {
	s.notifications[n.ID] = n
	list := s.bySubject[n.Subject]
	i, _ := slices.BinarySearchFunc(list, n, newestFirst)
	s.bySubject[n.Subject] = slices.Insert(list, i, n)
}

// Notifications implements storage.NotificationStore.
func (s *Store) Notifications(_ context.Context, subject string, limit int) ([]*storage.Notification, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := s.bySubject[subject]
	if limit < len(list) {
		list = list[:max(limit, 0)]
	}
	out := make([]*storage.Notification, len(list))
	for i, n := range list {
		out[i] = cloneNotification(n)
	}
	return out, nil
}

// Notification implements storage.NotificationStore.
func (s *Store) Notification(_ context.Context, id string) (*storage.Notification, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.notifications[id]
	if !ok {
		return nil, notFound("notification")
	}
	return cloneNotification(n), nil
}

// ---- the rest of storage.Store ----

// Secret implements storage.Store. generate runs outside the lock (it is
// the caller's code); if two callers race, the first to store wins and
// both get its bytes.
func (s *Store) Secret(_ context.Context, name string, generate func() []byte) ([]byte, error) {
	s.mu.RLock()
	v, ok := s.secrets[name]
	s.mu.RUnlock()
	if ok {
		return bytes.Clone(v), nil
	}
	if generate == nil {
		return nil, invalid("no generator for a missing secret")
	}
	b := cloneBytes(generate())
	if len(b) == 0 {
		return nil, invalid("generated secret is empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.secrets[name]; ok {
		return bytes.Clone(v), nil
	}
	s.secrets[name] = b
	return bytes.Clone(b), nil
}

// DeleteExpired implements storage.Store. It removes QR logins (with their
// audit trail), authorization requests, access, refresh and admin tokens
// whose ExpiresAt is before 'before', at most limit of each kind.
func (s *Store) DeleteExpired(_ context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	before = ut(before)
	s.mu.Lock()
	defer s.mu.Unlock()
	total := deleteWhere(s.logins, limit, func(l *storage.QRLogin) bool { return l.ExpiresAt.Before(before) }, func(id string) {
		l := s.logins[id]
		// A login removed before it reached a final status leaves the
		// expire transition's audit event.
		a := &storage.Attempt{Event: storage.EventExpire, Now: before}
		if t, g := rules.Check(l, a, nil); t != nil && g == 0 {
			s.audit[id] = append(s.audit[id], rules.AuditEvent(l, t, a))
		}
		s.deleteLogin(id)
	})
	total += deleteWhere(s.authRequests, limit, func(a *storage.AuthRequest) bool { return a.ExpiresAt.Before(before) }, s.deleteAuthRequest)
	total += deleteWhere(s.spentCodes, limit, func(c spentCode) bool { return c.expiresAt.Before(before) },
		func(key string) { delete(s.spentCodes, key) })
	total += deleteWhere(s.access, limit, func(t *accessToken) bool { return t.ExpiresAt.Before(before) }, s.deleteAccess)
	total += deleteWhere(s.refresh, limit, func(t *storage.RefreshToken) bool { return t.ExpiresAt.Before(before) }, s.deleteRefresh)
	total += deleteWhere(s.adminTokens, limit, func(t *storage.AdminToken) bool { return t.ExpiresAt.Before(before) },
		func(key string) { delete(s.adminTokens, key) })
	total += s.browser.deleteExpired(before, limit)
	total += deleteWhere(s.dpopProofs, limit, func(until time.Time) bool { return until.Before(before) },
		func(k string) { delete(s.dpopProofs, k) })
	for id, until := range s.revokedSessions {
		if until.Before(before) {
			delete(s.revokedSessions, id)
		}
	}
	return total, nil
}

// deleteWhere calls del for at most limit keys of m whose value matches,
// and reports how many.
func deleteWhere[V any](m map[string]V, limit int, match func(V) bool, del func(string)) int {
	var keys []string
	for k, v := range m {
		if len(keys) == limit {
			break
		}
		if match(v) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		del(k)
	}
	return len(keys)
}

// deleteLogin removes a login and every index entry pointing at it; the
// caller holds s.mu.
func (s *Store) deleteLogin(id string) {
	l := s.logins[id]
	delete(s.logins, id)
	delete(s.byQRID, string(l.QRIDHash))
	if len(l.DeviceCodeHash) > 0 {
		delete(s.byDeviceCode, string(l.DeviceCodeHash))
	}
	if len(l.TicketHash) > 0 && s.byTicket[string(l.TicketHash)] == id {
		delete(s.byTicket, string(l.TicketHash))
	}
	removeID(s.byUserCode, l.UserCode, id)
	removeID(s.byAuthRequest, l.AuthRequestID, id)
}

// DeleteAuditEvents implements storage.Store.
func (s *Store) DeleteAuditEvents(_ context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	before = ut(before)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, events := range s.audit {
		kept := events[:0:0]
		for _, e := range events {
			if n < limit && e.At.Before(before) {
				n++
				continue
			}
			kept = append(kept, e)
		}
		if len(kept) == 0 {
			delete(s.audit, id)
		} else {
			s.audit[id] = kept
		}
		if n == limit {
			break
		}
	}
	return n, nil
}

// DeleteNotifications implements storage.Store. Each subject's list is
// newest first, so its expired notifications are a tail.
func (s *Store) DeleteNotifications(_ context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	before = ut(before)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for subject, list := range s.bySubject {
		i := len(list)
		for i > 0 && n < limit && list[i-1].CreatedAt.Before(before) {
			i--
			n++
			delete(s.notifications, list[i].ID)
		}
		if i == 0 {
			delete(s.bySubject, subject)
		} else {
			clear(list[i:])
			s.bySubject[subject] = list[:i]
		}
		if n == limit {
			break
		}
	}
	return n, nil
}

// removeID drops id from index[key], and the key once its list is empty.
func removeID(index map[string][]string, key, id string) {
	ids := slices.DeleteFunc(index[key], func(x string) bool { return x == id })
	if len(ids) == 0 {
		delete(index, key)
		return
	}
	index[key] = ids
}

func (s *Store) deleteAccess(id string) {
	t := s.access[id]
	delete(s.access, id)
	if ss := s.sessions[t.SessionID]; ss != nil {
		delete(ss.access, id)
		s.dropEmptySession(t.SessionID, ss)
	}
	if set := s.accessByRefresh[t.RefreshTokenID]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(s.accessByRefresh, t.RefreshTokenID)
		}
	}
}

func (s *Store) deleteRefresh(id string) {
	t := s.refresh[id]
	delete(s.refresh, id)
	delete(s.byRefreshHash, string(t.TokenHash))
	if ss := s.sessions[t.SessionID]; ss != nil {
		delete(ss.refresh, id)
		s.dropEmptySession(t.SessionID, ss)
	}
}

func (s *Store) dropEmptySession(id string, ss *session) {
	if len(ss.access) == 0 && len(ss.refresh) == 0 {
		delete(s.sessions, id)
	}
}

// Ping implements storage.Store: memory is always reachable.
func (s *Store) Ping(context.Context) error { return nil }

// Close implements storage.Store. There is nothing to release; the state
// goes with the process.
func (s *Store) Close() {}
