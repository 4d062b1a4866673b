package idp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/qrlogin/qrlogin/idp/display"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/idp/password"
	"github.com/qrlogin/qrlogin/storage"
)

// The hosted pages' own cookie (gorilla, signed and encrypted) holds only
// anonymous page state: the CSRF token and which QR belongs to which login
// page. Who is signed in is the browser session's business (sessions.go).
const (
	sessionName = "qrlogin_session"
	keyCSRF     = "csrf"
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

// renew clears the page state and issues a new CSRF token: at sign-in,
// nothing obtained before it (a planted cookie, a leaked token) is worth
// anything after it.
//
// The QR bindings of the browser's other login pages are kept: a sign-in
// in one tab (the phone-browser path opened in a second tab of the same
// browser, or another login page) must not take away the first tab's QR,
// or the login the phone confirms for it is lost. They grant nothing a
// sign-in adds to: each names a login page's own QR login, which only
// that page's confirmation completes, and a planted cookie's bindings are
// the planter's own pages.
func renew(sess *sessions.Session) {
	for k := range sess.Values {
		if ks, ok := k.(string); ok && strings.HasPrefix(ks, bindingPrefix) {
			continue
		}
		delete(sess.Values, k)
	}
	sess.Values[keyCSRF] = storage.NewSecret(32)
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
	// Approve is set on the phone browser's sign-in (return=/q/… or
	// /device): the page says it approves a sign-in elsewhere.
	Approve *approval
}

func (s *Server) render(w http.ResponseWriter, status int, page string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := s.pages.ExecuteTemplate(w, page, data); err != nil {
		s.log.Error("rendering page", "page", page, "err", err)
	}
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
			s.errorPage(w, r, http.StatusBadRequest, probRequestUnknown)
			return
		}
		data := pageData{Title: "Sign in to approve", Return: ret, CSRF: csrfToken(sess), Approve: s.approving(r, ret)}
		if err := sess.Save(r, w); err != nil {
			s.internalPage(w, r, err)
			return
		}
		s.render(w, http.StatusOK, "login.html", data)
		return
	}
	a, err := s.store.AuthRequest(r.Context(), q.Get("id"), s.cfg.Now())
	if err != nil {
		s.loginRequestError(w, r, err)
		return
	}
	setClientID(r.Context(), a.ClientID)
	if a.Done {
		http.Redirect(w, r, s.legacy.AuthCallbackURL()(r.Context(), a.ID), http.StatusSeeOther)
		return
	}
	qr, next, err := s.loginQR(r.Context(), r, sess, a, q.Get("new") == "1")
	if err != nil {
		s.loginRequestError(w, r, err)
		return
	}
	csrf := csrfToken(sess)
	if err := sess.Save(r, w); err != nil {
		s.internalPage(w, r, err)
		return
	}
	if next != "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	// OIDC Core §3.1.2.1: login_hint pre-fills the username.
	s.render(w, http.StatusOK, "login.html", pageData{Title: "Sign in", AuthRequestID: a.ID, CSRF: csrf,
		Client: s.clientName(r, a.ClientID), QR: qr, Username: display.Clean(a.LoginHint, maxUsernameLen)})
}

func (s *Server) loginRequestError(w http.ResponseWriter, r *http.Request, err error) {
	if storeErr(err) != nil {
		s.storePage(w, r, err)
		return
	}
	s.errorPage(w, r, http.StatusBadRequest, probRequestExpired)
}

// internalPage answers a page request that failed for a reason of ours
// (err is logged, never shown).
func (s *Server) internalPage(w http.ResponseWriter, r *http.Request, err error) {
	s.failurePage(w, r, &oauth.Error{Code: oauth.ServerError, Status: http.StatusInternalServerError, Err: err})
}

// storePage answers a page request the store failed, through the one
// mapping (oauth.StoreError).
func (s *Server) storePage(w http.ResponseWriter, r *http.Request, err error) {
	s.failurePage(w, r, oauth.StoreError(err))
}

// failurePage shows a 5xx answer as a page: while the store is out, 503
// with Retry-After; otherwise a 500 that says nothing of the cause, which
// is logged with the request's id.
func (s *Server) failurePage(w http.ResponseWriter, r *http.Request, e *oauth.Error) {
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(max(e.RetryAfter, 1)))
		s.errorPage(w, r, e.Status, probUnavailable)
		return
	}
	if e.Err != nil {
		s.log.ErrorContext(r.Context(), "request failed", "code", e.Code, "err", e.Err)
	}
	s.errorPage(w, r, http.StatusInternalServerError, probInternal)
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
		s.errorPage(w, r, http.StatusForbidden, probFormExpired("Go back, reload the page and sign in again."))
		return
	}
	var a *storage.AuthRequest
	ret := r.PostForm.Get("return")
	if ret == "" || r.PostForm.Get("id") != "" {
		var err error
		if a, err = s.store.AuthRequest(r.Context(), r.PostForm.Get("id"), s.cfg.Now()); err != nil {
			s.loginRequestError(w, r, err)
			return
		}
	} else if !validReturn(ret) {
		s.errorPage(w, r, http.StatusBadRequest, probRequestUnknown)
		return
	}
	username, pw := r.PostForm.Get("username"), r.PostForm.Get("password")
	fail := func(status int, msg string, retry int) {
		data := pageData{Title: "Sign in", Error: msg, Return: ret, CSRF: csrfToken(sess), Username: truncate(username, maxUsernameLen)}
		if a == nil {
			data.Title, data.Approve = "Sign in to approve", s.approving(r, ret)
		}
		if a != nil {
			data.AuthRequestID, data.Client = a.ID, s.clientName(r, a.ClientID)
			if qr, _, qerr := s.loginQR(r.Context(), r, sess, a, false); qerr == nil {
				data.QR = qr
			}
		}
		if retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
		}
		_ = sess.Save(r, w)
		s.render(w, status, "login.html", data)
	}
	u, err := s.checkPassword(r, username, pw)
	if err != nil {
		var lim *loginRefused
		switch {
		case errors.As(err, &lim):
			fail(lim.status, lim.msg, lim.retry)
		case errors.Is(err, errBadCredentials):
			s.signinFailed(r, username, err)
			fail(http.StatusUnauthorized, "Wrong username or password.", 0)
		default:
			s.storePage(w, r, err)
		}
		return
	}
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	// Only a sign-in on the phone-browser path (no authorization request)
	// makes a session that may approve QR logins.
	bs, err := s.signIn(w, r, u.ID, now, []string{amrPwd}, a == nil)
	if err != nil {
		s.storePage(w, r, err)
		return
	}
	if a != nil {
		if err := s.store.CompleteAuthRequest(r.Context(), a.ID, u.ID, now, []string{amrPwd}, ""); err != nil {
			s.loginRequestError(w, r, err)
			return
		}
	}
	if err := s.signInStands(r, u, bs, a); err != nil {
		_ = s.signOut(w, r, nil) // the cookie set above names a session that is gone
		switch {
		case !errors.Is(err, errBadCredentials):
			s.storePage(w, r, err)
		case a != nil: // the request is gone too: the application starts again
			s.signinFailed(r, username, err)
			s.errorPage(w, r, http.StatusUnauthorized, probSignInUndone)
		default:
			s.signinFailed(r, username, err)
			fail(http.StatusUnauthorized, "Wrong username or password.", 0)
		}
		return
	}
	renew(sess)
	if err := sess.Save(r, w); err != nil {
		s.internalPage(w, r, err)
		return
	}
	if a == nil {
		s.log.InfoContext(r.Context(), "password login", "sub", u.ID)
		http.Redirect(w, r, ret, http.StatusSeeOther)
		return
	}
	s.log.InfoContext(r.Context(), "password login", "sub", u.ID, "client_id", a.ClientID)
	http.Redirect(w, r, s.legacy.AuthCallbackURL()(r.Context(), a.ID), http.StatusSeeOther)
}

// signInStands checks, once the sign-in's session (and the authorization
// request it completed, if any) are stored, that the user's password and
// state are still those the check saw. A password change or a disable
// ends every sign-in it can see (updateUser); one whose check was running
// when it committed is stored after, with the old password. Reading the
// user after storing closes that gap: either this read sees the change,
// and the sign-in is undone here (errBadCredentials), or the change
// commits after the read, so after the session and the completed request
// were stored, and ends them itself.
func (s *Server) signInStands(r *http.Request, checked *storage.User, bs *storage.BrowserSession, a *storage.AuthRequest) error {
	ctx := r.Context()
	u, err := s.store.User(ctx, checked.ID)
	if err == nil && !u.Disabled && u.PasswordHash == checked.PasswordHash {
		return nil
	}
	// Not known to stand (changed, or the store failed to say): undone.
	if err == nil || errors.Is(err, storage.ErrNotFound) {
		err = fmt.Errorf("%w: the password changed or the account was disabled during the check", errBadCredentials)
	}
	if derr := s.store.DeleteBrowserSession(ctx, bs.Subject, bs.ID); derr != nil && !errors.Is(derr, storage.ErrNotFound) {
		return derr
	}
	if a != nil {
		if derr := s.store.DeleteAuthRequest(ctx, a.ID); derr != nil && !errors.Is(derr, storage.ErrNotFound) {
			return derr
		}
	}
	return err
}

var (
	errBadCredentials = errors.New("bad credentials")
	// errUnknownUser is errBadCredentials for a username no account has.
	errUnknownUser = fmt.Errorf("%w: unknown username", errBadCredentials)
)

// Longest username the password form takes, in bytes: the admin API allows
// 64 characters, at most 4 bytes each. Longer input (and longer passwords
// than password.MaxLength) is refused before any work.
const maxUsernameLen = 256

// loginRefused is a password attempt refused by a limit before any check.
type loginRefused struct {
	status int
	msg    string
	retry  int
}

func (e *loginRefused) Error() string { return e.msg }

// checkPassword verifies a password, within every limit on the way to
// argon2id (SPEC §7):
//
//  1. input over its cap (or an empty username, which no account has) is
//     refused before any work;
//  2. the address's bucket (login_per_address) and the account's budget
//     (password_per_account) are taken before the check, so concurrent
//     requests cannot all pass a check made before any of them spent;
//  3. the check itself, or the dummy check for an unknown username (so
//     timing does not tell which accounts exist), waits for a slot of the
//     one argon2id gate (password_hashing), at most --hash-wait;
//  4. the outcome settles the account's budget: a wrong password may lock
//     the account, and the first lockout of a run tells its owner's phone.
func (s *Server) checkPassword(r *http.Request, username, pw string) (*storage.User, error) {
	ctx := r.Context()
	if username == "" || len(username) > maxUsernameLen || len(pw) > password.MaxLength {
		s.countRefusal(limitInput)
		return nil, &loginRefused{status: http.StatusBadRequest, msg: fmt.Sprintf(
			"Enter a username of at most %d bytes and a password of at most %d bytes.", maxUsernameLen, password.MaxLength)}
	}
	if err := s.rateLimit(limitLoginAddress, "login:"+limitKey(clientIP(r))); err != nil {
		return nil, &loginRefused{status: http.StatusTooManyRequests, msg: "Too many attempts from your network. Wait a moment and try again.", retry: err.RetryAfter}
	}
	if ok, retry := s.lockouts.reserve(username); !ok {
		e := s.refused(limitPasswordAccount, retry)
		return nil, &loginRefused{status: http.StatusTooManyRequests, retry: e.RetryAfter,
			msg: fmt.Sprintf("Too many wrong passwords for this account. Try again in %s, or sign in with the QR code.", waitText(e.RetryAfter))}
	}
	res := checkVoid
	var u *storage.User
	defer func() {
		if first, d := s.lockouts.settle(username, res); first {
			s.lockedOut(r, username, u != nil, d)
			if u != nil {
				s.lockoutNotice(u, r, d)
			}
		}
	}()
	u, err := s.store.UserByUsername(ctx, username)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		u = nil
		return nil, err
	}
	var ok bool
	if err != nil {
		u = nil
		err = s.hashes.DummyVerify(ctx, pw)
	} else {
		ok, err = s.hashes.Verify(ctx, u.PasswordHash, pw)
	}
	switch {
	case errors.Is(err, password.ErrBusy):
		e := s.refused(limitPasswordHashing, 1)
		return nil, &loginRefused{status: http.StatusServiceUnavailable, retry: e.RetryAfter,
			msg: "The service is busy. Try again in a moment."}
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err() // the wait for a slot was cut short: nothing checked
	case err == nil && ok:
		res = checkRight
		if u.Disabled {
			// A disabled account never signs in; the page says no more
			// than for a wrong password.
			return nil, errBadCredentials
		}
		return u, nil
	}
	// A malformed stored hash counts as a wrong password: it never signs in.
	res = checkWrong
	if u == nil {
		return nil, errUnknownUser
	}
	return nil, errBadCredentials
}

// lockoutNotice tells the account's owner, on their phone (the sign-in
// notifications of the account API), that wrong passwords locked the
// account, and from where the last one came.
func (s *Server) lockoutNotice(u *storage.User, r *http.Request, lockedFor time.Duration) {
	n := &storage.Notification{ID: storage.NewSecret(16), Kind: storage.NotificationPasswordLockout, Subject: u.ID,
		RequesterIP: clientIP(r), RequesterUserAgent: display.Clean(r.UserAgent(), display.MaxUserAgent), CreatedAt: s.cfg.Now().UTC()}
	// The request's context may be ending: the notice must still be kept.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.store.CreateNotification(ctx, n); err != nil {
		s.log.WarnContext(ctx, "recording a lockout notification failed", "sub", u.ID, "err", err)
		return
	}
	s.log.InfoContext(ctx, "account locked after wrong passwords", "sub", u.ID, "locked_for", lockedFor)
}

// waitText says how long to wait, for a page.
func waitText(sec int) string {
	if sec < 120 {
		return fmt.Sprintf("%d seconds", sec)
	}
	return fmt.Sprintf("%d minutes", (sec+59)/60)
}
