package idp

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/qrlogin/qrlogin/storage"
)

// RP-Initiated Logout 1.0 at /end_session.
//
// Ending the browser session is what logout means here: the cookie's
// session is deleted from the store, so no instance honours it again.
// It revokes no tokens. Tokens belong to the clients they were issued to:
// the phone app's token must keep approving QR logins when a website
// signs the user out (issue 8: a bare GET with an id_token_hint used to
// revoke every token of the user at that client, the phone app's
// included), and a relying party that wants its own tokens gone revokes
// them (RFC 7009). The account API ends sessions and "this wasn't me"
// revokes a sign-in's tokens.
//
// The session ends without asking only when a valid id_token_hint names
// the session's user (RP-Initiated Logout §2: the RP proves it knows who
// is signed in); otherwise the user confirms on a CSRF-protected page, so
// another site cannot sign people out with a link or an image. Then the
// browser goes to post_logout_redirect_uri, only when it is registered on
// the client (exact match; RFC 8252 §7.3 loopback ports for native
// clients), with state; an unregistered one is an HTML 400 page, never a
// redirect. Without one, a local "signed out" page.

// logoutRequest is a verified end_session request.
type logoutRequest struct {
	clientID   string
	clientName string
	redirect   string // registered post_logout_redirect_uri, or ""
	state      string
	hintSub    string // the subject of a valid id_token_hint, or ""
}

// logoutPage is what the confirmation page shows and posts back.
type logoutPage struct {
	Title      string
	CSRF       string
	Username   string
	Client     string
	ClientID   string
	PostLogout string
	State      string
}

const pathEndSessionConfirm = "/" + pathEndSession + "/confirm"

// handleEndSession is the end_session endpoint (GET or POST, RP-Initiated
// Logout §2).
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.errorPage(w, r, http.StatusMethodNotAllowed, probBadSignOut("the request was not sent with GET or POST"))
		return
	}
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, probBadSignOut("the request could not be read"))
		return
	}
	lr, ok := s.logoutRequest(w, r, r.Form, true)
	if !ok {
		return
	}
	bs, err := s.browserSession(r)
	if err != nil {
		s.storePage(w, r, err)
		return
	}
	if bs != nil && (lr.hintSub == "" || lr.hintSub != bs.Subject) {
		s.confirmLogout(w, r, bs, lr)
		return
	}
	s.finishLogout(w, r, bs, lr)
}

// handleEndSessionConfirm ends the session after the user pressed "Sign
// out" (or keeps it after "Stay signed in"), then goes where end_session
// would have gone. The form's fields are checked again: they came back
// from the browser.
func (s *Server) handleEndSessionConfirm(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	if !checkCSRF(sess, r.PostForm.Get("csrf")) {
		s.errorPage(w, r, http.StatusForbidden, probFormExpired("Nobody was signed out. Go back to the application and sign out there again."))
		return
	}
	lr, ok := s.logoutRequest(w, r, r.PostForm, false)
	if !ok {
		return
	}
	bs, err := s.browserSession(r)
	if err != nil {
		s.storePage(w, r, err)
		return
	}
	switch r.PostForm.Get("action") {
	case "logout":
		s.finishLogout(w, r, bs, lr)
	case "stay":
		s.leave(w, r, lr, "You are still signed in.")
	default:
		s.errorPage(w, r, http.StatusBadRequest, probSignOutChoice)
	}
}

// logoutRequest verifies the parameters of an end_session request; on
// failure it writes the HTML 400 page and reports false. withHint: the
// request may carry an id_token_hint (the confirmation form does not).
func (s *Server) logoutRequest(w http.ResponseWriter, r *http.Request, q url.Values, withHint bool) (*logoutRequest, bool) {
	fail := func(msg string) (*logoutRequest, bool) {
		s.errorPage(w, r, http.StatusBadRequest, probBadSignOut(msg))
		return nil, false
	}
	lr := &logoutRequest{clientID: q.Get("client_id"), redirect: q.Get("post_logout_redirect_uri"), state: q.Get("state")}
	if hint := q.Get("id_token_hint"); withHint && hint != "" {
		// Ours: issuer and signature checked; an expired one still names
		// its user (RP-Initiated Logout §2 expects ID tokens that expired).
		claims, err := op.VerifyIDTokenHint[*oidc.IDTokenClaims](r.Context(), hint, s.provider.IDTokenHintVerifier(r.Context()))
		if err != nil && !errors.As(err, &op.IDTokenHintExpiredError{}) {
			return fail("the id_token_hint is not an ID token of this provider")
		}
		azp := claims.AuthorizedParty
		if azp == "" && len(claims.Audience) > 0 {
			azp = claims.Audience[0]
		}
		if lr.clientID != "" && lr.clientID != azp {
			return fail("client_id is not the one the id_token_hint was issued to")
		}
		lr.clientID, lr.hintSub = azp, claims.Subject
	}
	if lr.clientID != "" {
		c, err := s.clients.get(r.Context(), lr.clientID, false)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return fail("unknown client_id")
		case err != nil:
			s.storePage(w, r, err)
			return nil, false
		}
		lr.clientName = c.Name
		if lr.redirect != "" && op.ValidateEndSessionPostLogoutRedirectURI(lr.redirect, &client{c: c, cfg: &s.cfg}) != nil {
			return fail("post_logout_redirect_uri is not registered for this client")
		}
	} else if lr.redirect != "" {
		return fail("post_logout_redirect_uri needs client_id or id_token_hint")
	}
	return lr, true
}

// confirmLogout asks the user whether to sign out.
func (s *Server) confirmLogout(w http.ResponseWriter, r *http.Request, bs *storage.BrowserSession, lr *logoutRequest) {
	sess := s.session(r)
	data := logoutPage{Title: "Sign out", CSRF: csrfToken(sess), Client: lr.clientName,
		ClientID: lr.clientID, PostLogout: lr.redirect, State: lr.state}
	if u, err := s.store.User(r.Context(), bs.Subject); err == nil {
		data.Username = u.Username
	}
	if err := sess.Save(r, w); err != nil {
		s.storePage(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "logout.html", data)
}

// finishLogout ends bs (if any) and leaves.
func (s *Server) finishLogout(w http.ResponseWriter, r *http.Request, bs *storage.BrowserSession, lr *logoutRequest) {
	if err := s.signOut(w, r, bs); err != nil {
		s.storePage(w, r, err)
		return
	}
	sess := s.session(r)
	renew(sess)
	_ = sess.Save(r, w)
	s.leave(w, r, lr, "You are signed out.")
}

// leave goes to the registered post_logout_redirect_uri with state, or
// shows msg.
func (s *Server) leave(w http.ResponseWriter, r *http.Request, lr *logoutRequest, msg string) {
	if lr.redirect == "" {
		s.render(w, http.StatusOK, "done.html", map[string]string{"Title": "Sign out", "Message": msg})
		return
	}
	u, err := url.Parse(lr.redirect)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, problem{Title: "The application's return address is unusable",
			Detail: "Its registered sign-out address cannot be opened.", Next: "Your sign-out here is done: close this page and go back to the application yourself."})
		return
	}
	if lr.state != "" {
		q := u.Query()
		q.Set("state", lr.state)
		u.RawQuery = q.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}
