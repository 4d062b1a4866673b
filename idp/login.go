package idp

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"github.com/qrlogin/qrlogin/idp/password"
	"github.com/qrlogin/qrlogin/storage"
)

// Session cookie and its values.
const (
	sessionName   = "qrlogin_session"
	keyCSRF       = "csrf"
	keySubject    = "sub"
	keyAuthTime   = "auth_time"
	keySessionSID = "sid"
	// keyApprover marks a session signed in on the phone-browser path
	// (/login?return=/q/… or /device): only such a session may confirm QR
	// logins. A password login made for a relying party on a PC (perhaps a
	// shared one) must not leave a browser able to approve sign-ins to the
	// account from elsewhere.
	keyApprover = "approver"
)

// session returns the browser's session, a fresh one if the cookie is
// missing or does not verify (a tampered cookie is simply not a session).
func (s *Server) session(r *http.Request) *sessions.Session {
	sess, err := s.sessions.Get(r, sessionName)
	if err != nil {
		sess, _ = s.sessions.New(r, sessionName)
	}
	return sess
}

// csrfToken returns the session's CSRF token, creating one. The token is
// bound to the session cookie (synchronizer token pattern); the cookie is
// SameSite=Lax on top.
func csrfToken(sess *sessions.Session) string {
	if t, ok := sess.Values[keyCSRF].(string); ok && t != "" {
		return t
	}
	t := storage.NewSecret(32)
	sess.Values[keyCSRF] = t
	return t
}

// checkCSRF compares the posted token with the session's in constant time.
func checkCSRF(sess *sessions.Session, posted string) bool {
	want, ok := sess.Values[keyCSRF].(string)
	return ok && want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(posted)) == 1
}

// renew starts a new session for subject: new session id and CSRF token,
// so nothing obtained before the login (a planted cookie, a leaked token)
// is worth anything after it. approver: see keyApprover.
func renew(sess *sessions.Session, subject string, now time.Time, approver bool) {
	for k := range sess.Values {
		delete(sess.Values, k)
	}
	sess.Values[keySessionSID] = storage.NewSecret(16)
	sess.Values[keyCSRF] = storage.NewSecret(32)
	sess.Values[keySubject] = subject
	sess.Values[keyAuthTime] = now.Unix()
	if approver {
		sess.Values[keyApprover] = true
	}
}

type pageData struct {
	Title         string
	Error         string
	Client        string
	AuthRequestID string
	Return        string
	CSRF          string
	Username      string
	QR            *pageQR
}

func (s *Server) render(w http.ResponseWriter, status int, page string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := s.pages.ExecuteTemplate(w, page, data); err != nil {
		s.log.Error("rendering page", "page", page, "err", err)
	}
}

func (s *Server) errorPage(w http.ResponseWriter, status int, msg string) {
	s.render(w, status, "error.html", pageData{Title: "Something went wrong", Error: msg})
}

// handleLoginPage shows the login page: for an authorization request, the
// QR to scan and the password form; for the phone browser (return=…), the
// password form alone. Reloading it after the phone confirmed continues
// the flow, so it works without JavaScript.
func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sess := s.session(r)
	if q.Get("id") == "" {
		ret := q.Get("return")
		if !validReturn(ret) {
			s.errorPage(w, http.StatusBadRequest, "This sign-in request is unknown. Go back to the application and start again.")
			return
		}
		data := pageData{Title: "Sign in", Return: ret, CSRF: csrfToken(sess)}
		if err := sess.Save(r, w); err != nil {
			s.errorPage(w, http.StatusInternalServerError, "could not start a session")
			return
		}
		s.render(w, http.StatusOK, "login.html", data)
		return
	}
	a, err := s.store.AuthRequest(r.Context(), q.Get("id"), s.cfg.Now())
	if err != nil {
		s.loginRequestError(w, err)
		return
	}
	if a.Done {
		http.Redirect(w, r, s.legacy.AuthCallbackURL()(r.Context(), a.ID), http.StatusSeeOther)
		return
	}
	qr, next, err := s.loginQR(r.Context(), r, sess, a, q.Get("new") == "1")
	if err != nil {
		s.loginRequestError(w, err)
		return
	}
	csrf := csrfToken(sess)
	if err := sess.Save(r, w); err != nil {
		s.errorPage(w, http.StatusInternalServerError, "could not start a session")
		return
	}
	if next != "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "login.html", pageData{Title: "Sign in", AuthRequestID: a.ID, CSRF: csrf,
		Client: s.clientName(r, a.ClientID), QR: qr})
}

func (s *Server) loginRequestError(w http.ResponseWriter, err error) {
	if storeErr(err) != nil {
		s.errorPage(w, http.StatusServiceUnavailable, "The service is temporarily unavailable. Try again in a moment.")
		return
	}
	s.errorPage(w, http.StatusBadRequest, "This sign-in request is unknown or has expired. Go back to the application and start again.")
}

func (s *Server) clientName(r *http.Request, id string) string {
	c, err := s.clients.get(r.Context(), id, false)
	if err != nil {
		return ""
	}
	return c.Name
}

// handleLogin checks username and password. For an authorization
// request it completes it and continues to zitadel's callback, which
// redirects to the client with its code; for the phone browser it returns
// to the confirm page it came from.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	if !checkCSRF(sess, r.PostForm.Get("csrf")) {
		s.errorPage(w, http.StatusForbidden, "The form expired or did not come from this site. Go back and try again.")
		return
	}
	var a *storage.AuthRequest
	ret := r.PostForm.Get("return")
	if ret == "" || r.PostForm.Get("id") != "" {
		var err error
		if a, err = s.store.AuthRequest(r.Context(), r.PostForm.Get("id"), s.cfg.Now()); err != nil {
			s.loginRequestError(w, err)
			return
		}
	} else if !validReturn(ret) {
		s.errorPage(w, http.StatusBadRequest, "This sign-in request is unknown.")
		return
	}
	userKey := guessKey(r.PostForm.Get("username"))
	if err := s.rateLimit("login:" + limitKey(clientIP(r))); err != nil || !s.guesses.available(userKey) {
		s.errorPage(w, http.StatusTooManyRequests, "Too many attempts. Wait a moment and try again.")
		return
	}
	username, pw := r.PostForm.Get("username"), r.PostForm.Get("password")
	u, err := s.checkPassword(r, username, pw)
	if err != nil {
		if errors.Is(err, errBadCredentials) {
			s.guesses.spend(userKey)
		}
		if storeErr(err) != nil {
			s.errorPage(w, http.StatusServiceUnavailable, "The service is temporarily unavailable. Try again in a moment.")
			return
		}
		data := pageData{Title: "Sign in", Error: "Wrong username or password.", Return: ret, CSRF: csrfToken(sess), Username: username}
		if a != nil {
			data.AuthRequestID, data.Client = a.ID, s.clientName(r, a.ClientID)
			if qr, _, qerr := s.loginQR(r.Context(), r, sess, a, false); qerr == nil {
				data.QR = qr
			}
		}
		_ = sess.Save(r, w)
		s.render(w, http.StatusUnauthorized, "login.html", data)
		return
	}
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	if a != nil {
		if err := s.store.CompleteAuthRequest(r.Context(), a.ID, u.ID, now, []string{amrPwd}); err != nil {
			s.loginRequestError(w, err)
			return
		}
	}
	renew(sess, u.ID, now, a == nil)
	if err := sess.Save(r, w); err != nil {
		s.errorPage(w, http.StatusInternalServerError, "could not save the session")
		return
	}
	if a == nil {
		s.log.Info("password login", "sub", u.ID)
		http.Redirect(w, r, ret, http.StatusSeeOther)
		return
	}
	s.log.Info("password login", "sub", u.ID, "client_id", a.ClientID)
	http.Redirect(w, r, s.legacy.AuthCallbackURL()(r.Context(), a.ID), http.StatusSeeOther)
}

var errBadCredentials = errors.New("bad credentials")

// guessKey is the limiter key of a username: wrong passwords for one
// account are limited (5 at once, then one per 10 s) whatever address they
// come from. That can slow a targeted user's password logins, never their
// QR logins.
func guessKey(username string) string {
	if len(username) > 256 {
		username = username[:256]
	}
	return "user:" + username
}

// checkPassword verifies a password. An unknown username costs the same
// time as a wrong password, so timing does not reveal which users exist.
func (s *Server) checkPassword(r *http.Request, username, pw string) (*storage.User, error) {
	if username == "" || len(username) > 256 || len(pw) > 1024 {
		password.DummyVerify(pw)
		return nil, errBadCredentials
	}
	// argon2id takes 19 MiB and ~20 ms a check: bound how many run at once,
	// so a burst of guesses queues instead of exhausting memory and CPU.
	select {
	case s.hashing <- struct{}{}:
		defer func() { <-s.hashing }()
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	u, err := s.store.UserByUsername(r.Context(), username)
	if err != nil {
		password.DummyVerify(pw)
		if isUnavailable(err) {
			return nil, err
		}
		return nil, errBadCredentials
	}
	ok, err := password.Verify(u.PasswordHash, pw)
	if err != nil || !ok {
		return nil, errBadCredentials
	}
	return u, nil
}
