package memory

import (
	"context"

	"github.com/qrlogin/qrlogin/grants/rules"
	"github.com/qrlogin/qrlogin/storage"
)

// UpdateUser implements storage.UserStore. The update and its sign-out
// happen under one lock: no token of the user can be minted or refreshed
// between them.
func (s *Store) UpdateUser(_ context.Context, id string, u storage.UserUpdate) (*storage.User, error) {
	var woken []*storage.QRLogin
	out, err := func() (*storage.User, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		cur, ok := s.users[id]
		if !ok {
			return nil, notFound("user")
		}
		if u.Name != nil {
			cur.Name = *u.Name
		}
		if u.Email != nil {
			cur.Email = *u.Email
		}
		if u.EmailVerified != nil {
			cur.EmailVerified = *u.EmailVerified
		}
		if u.PasswordHash != nil {
			cur.PasswordHash = *u.PasswordHash
		}
		if u.Disabled != nil {
			cur.Disabled = *u.Disabled
		}
		if u.SignOut != nil {
			woken = s.signOut(id, *u.SignOut)
		}
		return cloneUser(cur), nil
	}()
	for _, l := range woken {
		s.hub.Notify(storage.QRChange{ID: l.ID, Status: l.Status})
	}
	return out, err
}

// signOut applies storage.SignOut to subject and returns the QR logins it
// voided, to announce them; the caller holds s.mu.
func (s *Store) signOut(subject string, so storage.SignOut) []*storage.QRLogin {
	now, until := ut(so.Now), ut(so.Until)
	revoke := map[string]bool{}
	spared := func(session string) bool { return so.KeepSession != "" && session == so.KeepSession }
	for _, t := range s.access {
		if t.Subject == subject && !spared(t.SessionID) {
			t.revoked = true
			revoke[t.SessionID] = true
		}
	}
	for _, t := range s.refresh {
		if t.Subject == subject && !spared(t.SessionID) {
			t.Revoked = true
			revoke[t.SessionID] = true
		}
	}
	for _, a := range s.authRequests {
		if a.Subject == subject && now.Before(a.ExpiresAt) && !spared(a.SessionID) {
			revoke[a.SessionID] = true
		}
	}
	var voided []*storage.QRLogin
	void := &storage.Attempt{Event: storage.EventVoid, Subject: subject, KeepSession: so.KeepSession, Now: now}
	for _, l := range s.logins {
		if l.Subject != subject {
			continue
		}
		applied, t, err := s.apply(l, void)
		if err != nil {
			continue // the table does not void it
		}
		if t.Records&rules.RecordRevokeSession != 0 {
			revoke[l.ID] = true // the QR grant's tokens belong to the login
			if a, ok := s.authRequests[l.AuthRequestID]; ok {
				revoke[a.SessionID] = true
			}
		}
		voided = append(voided, applied.Login)
	}
	delete(revoke, "")
	for session := range revoke {
		if cur, ok := s.revokedSessions[session]; !ok || cur.Before(until) {
			s.revokedSessions[session] = until
		}
		if ss := s.sessions[session]; ss != nil {
			for id := range ss.access {
				s.access[id].revoked = true
			}
			for id := range ss.refresh {
				s.refresh[id].Revoked = true
			}
		}
	}
	return voided
}
