package memory

import (
	"context"
	"slices"
	"time"

	"github.com/qrlogin/qrlogin/grants/rules"
	"github.com/qrlogin/qrlogin/storage"
)

// CreateQRLogin implements storage.QRLoginStore. A user code collides with
// a login that is still unexpired at l.CreatedAt: the creation time is the
// "now" of the insert.
func (s *Store) CreateQRLogin(_ context.Context, l *storage.QRLogin) error {
	if l == nil || l.ID == "" || len(l.QRIDHash) == 0 {
		return invalid("QR login without id or qr id hash")
	}
	l = cloneLogin(l)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.logins[l.ID]; ok {
		return conflict("QR login id taken")
	}
	if _, ok := s.byQRID[string(l.QRIDHash)]; ok {
		return conflict("qr id taken")
	}
	if len(l.DeviceCodeHash) > 0 {
		if _, ok := s.byDeviceCode[string(l.DeviceCodeHash)]; ok {
			return conflict("device code taken")
		}
	}
	if len(l.TicketHash) > 0 {
		if _, ok := s.byTicket[string(l.TicketHash)]; ok {
			return conflict("ticket taken")
		}
	}
	if l.UserCode != "" {
		for _, id := range s.byUserCode[l.UserCode] {
			if s.logins[id].ExpiresAt.After(l.CreatedAt) {
				return conflict("user code in use")
			}
		}
	}
	s.logins[l.ID] = l
	s.byQRID[string(l.QRIDHash)] = l.ID
	if len(l.DeviceCodeHash) > 0 {
		s.byDeviceCode[string(l.DeviceCodeHash)] = l.ID
	}
	if len(l.TicketHash) > 0 {
		s.byTicket[string(l.TicketHash)] = l.ID
	}
	if l.UserCode != "" {
		s.byUserCode[l.UserCode] = append(s.byUserCode[l.UserCode], l.ID)
	}
	if l.AuthRequestID != "" {
		s.byAuthRequest[l.AuthRequestID] = append(s.byAuthRequest[l.AuthRequestID], l.ID)
	}
	s.appendAudit(storage.AuditEvent{QRLoginID: l.ID, Event: "created", ClientID: l.ClientID, IP: l.RequesterIP, At: l.CreatedAt})
	return nil
}

// appendAudit records e; the caller holds s.mu.
func (s *Store) appendAudit(e storage.AuditEvent) {
	s.audit[e.QRLoginID] = append(s.audit[e.QRLoginID], e)
}

// loginBy returns a copy of the login the index maps key to.
func (s *Store) loginBy(index map[string]string, key []byte) (*storage.QRLogin, error) {
	if len(key) == 0 {
		return nil, notFound("QR login")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := index[string(key)]
	if !ok {
		return nil, notFound("QR login")
	}
	return cloneLogin(s.logins[id]), nil
}

// QRLogin implements storage.QRLoginStore.
func (s *Store) QRLogin(_ context.Context, id string) (*storage.QRLogin, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.logins[id]
	if !ok {
		return nil, notFound("QR login")
	}
	return cloneLogin(l), nil
}

// QRLoginByQRIDHash implements storage.QRLoginStore.
func (s *Store) QRLoginByQRIDHash(_ context.Context, hash []byte) (*storage.QRLogin, error) {
	return s.loginBy(s.byQRID, hash)
}

// QRLoginByDeviceCode implements storage.QRLoginStore.
func (s *Store) QRLoginByDeviceCode(_ context.Context, hash []byte) (*storage.QRLogin, error) {
	return s.loginBy(s.byDeviceCode, hash)
}

// QRLoginByTicketHash implements storage.QRLoginStore. A spent ticket still
// finds its login (so a second confirm can be told it was already decided);
// a ticket voided by a rescan does not.
func (s *Store) QRLoginByTicketHash(_ context.Context, hash []byte) (*storage.QRLogin, error) {
	return s.loginBy(s.byTicket, hash)
}

// QRLoginByUserCode implements storage.QRLoginStore.
func (s *Store) QRLoginByUserCode(_ context.Context, code string, now time.Time) (*storage.QRLogin, error) {
	now = ut(now)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var found *storage.QRLogin
	for _, id := range s.byUserCode[code] {
		l := s.logins[id]
		if now.Before(l.ExpiresAt) && (found == nil || !l.CreatedAt.Before(found.CreatedAt)) {
			found = l
		}
	}
	if found == nil {
		return nil, notFound("QR login")
	}
	return cloneLogin(found), nil
}

// QRLoginByAuthRequest implements storage.QRLoginStore.
func (s *Store) QRLoginByAuthRequest(_ context.Context, authRequestID string) (*storage.QRLogin, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var found *storage.QRLogin
	for _, id := range s.byAuthRequest[authRequestID] {
		if l := s.logins[id]; found == nil || !l.CreatedAt.Before(found.CreatedAt) {
			found = l
		}
	}
	if found == nil {
		return nil, notFound("QR login")
	}
	return cloneLogin(found), nil
}

// facts answers the table's guards on the store's state; the caller holds
// s.mu.
type facts struct{ s *Store }

func (f facts) SessionRevoked(session string) bool {
	_, ok := f.s.revokedSessions[session]
	return ok && session != ""
}

func (f facts) UserActive(subject string) bool {
	u, ok := f.s.users[subject]
	return ok && !u.Disabled
}

// ApplyQR implements storage.QRLoginStore: the attempt goes through the
// table (rules.Check, rules.Apply) under the store's lock, with its
// records, its audit event and, once the lock is released, its
// announcement.
func (s *Store) ApplyQR(_ context.Context, a *storage.Attempt) (*storage.Applied, error) {
	if err := checkAttempt(a); err != nil {
		return nil, err
	}
	at := *a
	at.Now = ut(a.Now)
	at.TicketExpiresAt = ut(a.TicketExpiresAt)
	out, err := func() (*storage.Applied, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var id string
		var ok bool
		switch {
		case at.ID != "":
			_, ok = s.logins[at.ID]
			id = at.ID
		case len(at.QRIDHash) > 0:
			id, ok = s.byQRID[string(at.QRIDHash)]
		default:
			id, ok = s.byTicket[string(at.TicketHash)]
		}
		if !ok {
			return nil, notFound("QR login")
		}
		if at.Bearer != nil {
			session, ok := s.bearer(at.Bearer, at.Subject, at.Now)
			if !ok {
				return nil, conflict("bearer token refused")
			}
			at.Session = session
		}
		applied, _, err := s.apply(s.logins[id], &at)
		return applied, err
	}()
	if err != nil {
		return nil, err
	}
	s.hub.Notify(storage.QRChange{ID: out.Login.ID, Status: out.Login.Status})
	return out, nil
}

// checkAttempt refuses an attempt no caller should make.
func checkAttempt(a *storage.Attempt) error {
	switch a.Event {
	case storage.EventScan, storage.EventConfirm, storage.EventDeny, storage.EventRedeem, storage.EventMismatch, storage.EventSecondScan:
	default:
		return invalid("ApplyQR applies scan, confirm, deny, redeem, mismatch and second scan, not " + a.Event.String())
	}
	switch {
	case a.ID == "" && len(a.QRIDHash) == 0 && len(a.TicketHash) == 0:
		return invalid("an attempt without its login's key")
	case a.Event == storage.EventScan && (a.Subject == "" || len(a.NewTicketHash) == 0):
		return invalid("a scan without subject or ticket")
	case a.Event == storage.EventSecondScan && a.Subject == "":
		return invalid("a second scan without subject")
	case a.Bearer != nil && a.Bearer.TokenID == "":
		return invalid("a bearer without token")
	case a.SessionChoice != "" && !storage.ValidSessionChoice(a.SessionChoice):
		return invalid("session choice " + a.SessionChoice)
	}
	return nil
}

// bearer checks a phone app's access token (storage.Attempt.Bearer) and
// returns its session; the caller holds s.mu.
func (s *Store) bearer(b *storage.Bearer, subject string, now time.Time) (string, bool) {
	t, ok := s.access[b.TokenID]
	// A DPoP-bound token is no bearer token (RFC 9449 §7.2).
	if !ok || t.JKT != "" || t.revoked || !now.Before(t.ExpiresAt) || t.Subject != subject || !slices.Contains(t.Scopes, b.Scope) {
		return "", false
	}
	c, ok := s.clients[t.ClientID]
	if !ok || !c.FirstParty {
		return "", false
	}
	return t.SessionID, true
}

// apply is the one place the memory store changes a QR login: the table's
// transition for a, what it records and its audit event. It returns the
// transition made. The caller holds s.mu and announces the change once it
// released it.
func (s *Store) apply(l *storage.QRLogin, a *storage.Attempt) (*storage.Applied, *rules.Transition, error) {
	t, g := rules.Check(l, a, facts{s})
	if t == nil {
		return nil, nil, conflict("no " + a.Event.String() + " from " + l.Status.String())
	}
	if g != 0 {
		return nil, nil, conflict(a.Event.String() + " refused: not " + g.String())
	}
	next := rules.Apply(l, t, a)
	if t.Records&rules.RecordTicket != 0 {
		if other, ok := s.byTicket[string(next.TicketHash)]; ok && other != l.ID {
			return nil, nil, conflict("ticket taken")
		}
	}
	var note *storage.Notification
	if t.Records&rules.RecordNotification != 0 && a.NotificationID != "" {
		if _, ok := s.notifications[a.NotificationID]; ok {
			return nil, nil, conflict("notification id taken")
		}
		note = s.notification(next, t, a)
	}
	var access *storage.AccessToken
	var refresh *storage.RefreshToken
	if t.Records&rules.RecordTokens != 0 && a.Tokens != nil {
		access, refresh = a.Tokens.For(next, a.Now)
		if _, ok := s.access[access.ID]; ok {
			return nil, nil, conflict("access token id taken")
		}
		if refresh != nil {
			if _, ok := s.refresh[refresh.ID]; ok {
				return nil, nil, conflict("refresh token id taken")
			}
			if _, ok := s.byRefreshHash[string(refresh.TokenHash)]; ok {
				return nil, nil, conflict("refresh token hash taken")
			}
		}
	}
	// Everything that could refuse has been checked: write.
	if t.Records&rules.RecordTicket != 0 {
		if len(l.TicketHash) > 0 {
			delete(s.byTicket, string(l.TicketHash)) // the old ticket is void
		}
		s.byTicket[string(next.TicketHash)] = l.ID
	}
	if note != nil {
		s.insertNotification(note)
	}
	if refresh != nil {
		if err := s.insertRefresh(cloneRefreshToken(refresh)); err != nil {
			return nil, nil, err
		}
	}
	if access != nil {
		s.insertAccess(cloneAccessToken(access))
	}
	from := l.Status
	*l = *next
	s.appendAudit(rules.AuditEvent(l, t, a))
	applied := &storage.Applied{Login: cloneLogin(l), From: from}
	if t.Records&rules.RecordTokens != 0 {
		applied.User = cloneUser(s.users[l.Subject])
	}
	return applied, t, nil
}

// notification is the notification transition t records for login l (as
// it is after the step) made by attempt a (storage.Attempt.NotificationID);
// the caller holds s.mu.
func (s *Store) notification(l *storage.QRLogin, t *rules.Transition, a *storage.Attempt) *storage.Notification {
	n := &storage.Notification{ID: a.NotificationID, Subject: l.Subject, Kind: t.Notify,
		ClientID: l.ClientID, ClientName: l.ClientID, RequesterIP: l.RequesterIP,
		RequesterUserAgent: l.RequesterUserAgent, ReportedByClient: l.RequesterReported, CreatedAt: a.Now}
	if c, ok := s.clients[l.ClientID]; ok {
		n.ClientName = c.Name
	}
	if t.Notify != storage.NotificationSignIn {
		return n // an alarm: nothing was signed in
	}
	n.SessionID, n.SessionChoice = l.ID, l.SessionChoice
	if r, ok := s.authRequests[l.AuthRequestID]; ok && l.AuthRequestID != "" {
		n.SessionID = r.SessionID
	}
	return n
}

// SubscribeQRLogins implements storage.QRLoginStore. Every change happens in
// this process, so none is ever missed.
func (s *Store) SubscribeQRLogins(fn func(storage.QRChange)) func() { return s.hub.Subscribe(fn) }

// Subscribers reports how many subscriptions are open (tests).
func (s *Store) Subscribers() int { return s.hub.Subscribers() }

// QRAuditEvents implements storage.QRLoginStore; an unknown login has an
// empty trail.
func (s *Store) QRAuditEvents(_ context.Context, qrLoginID string) ([]storage.AuditEvent, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.audit[qrLoginID]), nil
}
