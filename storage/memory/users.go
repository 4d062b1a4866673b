package memory

import (
	"context"

	"github.com/qrlogin/qrlogin/storage"
)

// UpdateUser implements storage.UserStore. The update and its sign-out
// happen under one lock: no token of the user can be minted or refreshed
// between them.
func (s *Store) UpdateUser(_ context.Context, id string, u storage.UserUpdate) (*storage.User, error) {
	var woken []string
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
		s.Notify(l)
	}
	return out, err
}

// signOut applies storage.SignOut to subject and returns the QR logins it
// voided, to wake their subscribers; the caller holds s.mu.
func (s *Store) signOut(subject string, so storage.SignOut) []string {
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
	var voided []string
	for id, l := range s.logins {
		if l.Subject != subject || spared(l.ScanSession) || !now.Before(l.ExpiresAt) ||
			(l.Status != storage.StatusScanned && l.Status != storage.StatusConfirmed) {
			continue
		}
		l.Status = storage.StatusDenied
		l.DecidedAt = now
		s.appendAudit(l, "voided", subject, "", now)
		revoke[id] = true // the QR grant's tokens belong to the login
		if a, ok := s.authRequests[l.AuthRequestID]; ok {
			revoke[a.SessionID] = true
		}
		voided = append(voided, id)
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
