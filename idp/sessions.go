package idp

import (
	"errors"
	"net/http"
	"time"

	"github.com/qrlogin/qrlogin/idp/display"
	"github.com/qrlogin/qrlogin/storage"
)

// Browser sessions at the provider (OIDC Core §3.1.2.1): a password
// sign-in on the hosted pages signs the browser in; /authorize then issues
// codes without the form (single sign-on) and end_session signs it out.
//
// The session lives in the store (storage.BrowserSession), so it survives
// restarts and every instance honours it. The browser holds only a random
// 256-bit token in its own cookie; the store keeps the token's SHA-256.
// The cookie's Max-Age and the stored session's ExpiresAt are the same
// SessionTTL from the same instant, so the server never honours a cookie
// longer than the browser was told to keep it.
//
// A QR login never creates a session: the PC that showed the QR may be a
// shared one, and the user meant to sign in to the relying party there,
// not to the provider. Only a sign-in on the phone-browser path makes an
// approver session, one that may confirm QR logins.

// sessionCookie is the name of the session cookie. On https it carries
// the __Host- prefix: the browser then insists on Secure, Path=/ and no
// Domain, so no subdomain can plant or read it.
func (s *Server) sessionCookie() string {
	if s.cfg.insecure() {
		return "qrlogin_sid"
	}
	return "__Host-qrlogin_sid"
}

// maxCookieToken bounds what is hashed from a cookie: tokens are 43
// characters; anything much longer is not one of ours.
const maxCookieToken = 128

// browserSession returns the request's live browser session, or nil
// without one (no cookie, unknown, expired or ended). Only an unreachable
// store is an error.
func (s *Server) browserSession(r *http.Request) (*storage.BrowserSession, error) {
	c, err := r.Cookie(s.sessionCookie())
	if err != nil || c.Value == "" || len(c.Value) > maxCookieToken {
		return nil, nil
	}
	bs, err := s.store.BrowserSessionByHash(r.Context(), storage.Hash(c.Value), s.cfg.Now())
	switch {
	case err == nil:
		return bs, nil
	case isUnavailable(err):
		return nil, err
	case !errors.Is(err, storage.ErrNotFound):
		s.log.Warn("reading the browser session", "err", err)
	}
	return nil, nil
}

// signIn starts a browser session for subject after a password sign-in.
// The token and id are new every time and the browser's previous session,
// if any, ends (session renewal: nothing planted or leaked before the
// sign-in is worth anything after it). approver: see
// storage.BrowserSession.Approver.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, subject string, now time.Time, amr []string, approver bool) (*storage.BrowserSession, error) {
	old, err := s.browserSession(r)
	if err != nil {
		return nil, err
	}
	if old != nil {
		if err := s.store.DeleteBrowserSession(r.Context(), old.Subject, old.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
	}
	token := storage.NewSecret(32)
	bs := &storage.BrowserSession{
		ID:         storage.NewSecret(16),
		TokenHash:  storage.Hash(token),
		Subject:    subject,
		AMR:        amr,
		AuthTime:   now,
		Approver:   approver,
		IP:         clientIP(r),
		UserAgent:  display.Clean(r.UserAgent(), 256),
		CreatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(s.cfg.SessionTTL),
	}
	if err := s.store.CreateBrowserSession(r.Context(), bs, s.cfg.MaxSessionsPerUser); err != nil {
		return nil, err
	}
	http.SetCookie(w, s.sessionCookieFor(token, s.cfg.SessionTTL))
	return bs, nil
}

// sessionCookieFor is the session cookie holding token for ttl; a
// negative ttl deletes it.
func (s *Server) sessionCookieFor(token string, ttl time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name:     s.sessionCookie(),
		Value:    token,
		Path:     "/",
		HttpOnly: true,
		Secure:   !s.cfg.insecure(),
		SameSite: http.SameSiteLaxMode,
		MaxAge:   int(ttl / time.Second),
	}
	if ttl < 0 {
		c.MaxAge = -1
	}
	return c
}

// signOut ends bs and tells the browser to forget its cookie.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request, bs *storage.BrowserSession) error {
	http.SetCookie(w, s.sessionCookieFor("", -1))
	if bs == nil {
		return nil
	}
	if err := s.store.DeleteBrowserSession(r.Context(), bs.Subject, bs.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	s.log.Info("browser session ended", "sub", bs.Subject, "session", bs.ID)
	return nil
}

// approver returns the user a browser may confirm QR logins as and its
// session's id, to which the tickets it scans are bound: both "" unless
// the browser's session was made on the phone-browser path.
func (s *Server) approver(r *http.Request) (sub, sid string, err error) {
	bs, err := s.browserSession(r)
	if err != nil || bs == nil || !bs.Approver {
		return "", "", err
	}
	return bs.Subject, bs.ID, nil
}
