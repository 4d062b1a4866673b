package idp

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/qrlogin/qrlogin/idp/display"
	"github.com/qrlogin/qrlogin/idp/oauth"
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
		s.log.WarnContext(r.Context(), "reading the browser session", "err", err)
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
	s.log.InfoContext(r.Context(), "browser session ended", "sub", bs.Subject, "session", bs.ID)
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

// --- account API: the user's browser sessions ---------------------------------

// browserSessionJSON is one browser session as the phone app lists it.
type browserSessionJSON struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	AuthTime   time.Time `json:"auth_time"`
	// AuthMethods is how the user signed in (RFC 8176 amr: "pwd").
	AuthMethods []string `json:"auth_methods"`
	// CanApprove: the session was made on the phone-browser path and may
	// confirm QR logins.
	CanApprove bool `json:"can_approve"`
	// Browser is the browser at sign-in, as qrlogin saw it.
	Browser scanRequester `json:"browser"`
	EndURI  string        `json:"end_uri"`
}

// handleListSessions lists the user's browser sessions, newest first: the
// phone app's "where am I signed in".
func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request) {
	pt, err := s.authenticatePhone(r)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	list, err := s.store.BrowserSessions(r.Context(), pt.token.Subject, s.cfg.Now())
	if err != nil {
		oauth.WriteError(w, s.log, s.mapErr(err))
		return
	}
	out := make([]browserSessionJSON, 0, len(list))
	for _, bs := range list {
		out = append(out, browserSessionJSON{
			ID: bs.ID, CreatedAt: bs.CreatedAt, LastUsedAt: bs.LastUsedAt, ExpiresAt: bs.ExpiresAt, AuthTime: bs.AuthTime,
			AuthMethods: append([]string{}, bs.AMR...), CanApprove: bs.Approver, Browser: newRequester(bs.IP, bs.UserAgent, false),
			EndURI: s.cfg.Issuer + "/account/sessions/" + url.PathEscape(bs.ID),
		})
	}
	oauth.WriteJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

// handleEndBrowserSession ends one of the user's browser sessions (DELETE
// /account/sessions/{id}, or POST …/end for clients that cannot send
// DELETE). Another user's session is not found, and stays.
func (s *Server) handleEndBrowserSession(w http.ResponseWriter, r *http.Request) {
	pt, err := s.authenticatePhone(r)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	err = s.store.DeleteBrowserSession(r.Context(), pt.token.Subject, r.PathValue("id"))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		oauth.WriteError(w, s.log, oauth.New("not_found", "no such session").WithStatus(http.StatusNotFound))
		return
	case err != nil:
		oauth.WriteError(w, s.log, s.mapErr(err))
		return
	}
	s.log.InfoContext(r.Context(), "browser session ended by its user", "sub", pt.token.Subject, "session", r.PathValue("id"))
	oauth.WriteJSON(w, http.StatusOK, map[string]string{"status": "ended"})
}
