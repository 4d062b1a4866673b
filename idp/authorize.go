package idp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/qrlogin/qrlogin/idp/dpop"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// The authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2).
//
// handleAuthorize decides where an error may go before anything else:
// only once client_id names a registered client and redirect_uri is one of
// its registered redirect URIs may an error be sent back to the client
// (RFC 6749 §4.1.2.1). Until then every error is an HTML 400 page — never
// a redirect, which would make the provider an open redirector, and never
// a 500. After that every error, whoever finds it (this file, zitadel's
// validation, the single sign-on decision in Authorize), goes back to the
// redirect URI with error, error_description and state, in the response
// mode the client asked for (OIDC Core §3.1.2.6). zitadel itself would
// render all of them as a page (zitadel/oidc #973).

// authorizeTarget is where /authorize sends its answer, once verified.
type authorizeTarget struct {
	redirectURI  string
	state        string
	responseType oidc.ResponseType
	responseMode oidc.ResponseMode
}

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.errorPage(w, r, http.StatusMethodNotAllowed, probBadSignIn("the request was not sent with GET or POST"))
		return
	}
	// A valid request stores an authorization request for AuthRequestTTL
	// (every parameter within its cap, see edge.go): strangers get a
	// budget of them per address, taken before anything is parsed.
	if e := s.rateLimit(limitAuthorizeAddress, "authorize:"+limitKey(clientIP(r))); e != nil {
		s.limitPage(w, r, e, probTooManyRequests)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, probBadSignIn("the request could not be read"))
		return
	}
	q := r.Form
	target, ok := s.authorizeTarget(w, r, q.Get("client_id"), q.Get("redirect_uri"))
	if !ok {
		return
	}
	target.state = q.Get("state")
	target.responseType = oidc.ResponseType(q.Get("response_type"))
	target.responseMode = oidc.ResponseMode(q.Get("response_mode"))

	// What qrlogin does not offer is refused here, by name (OIDC Core
	// §3.1.2.6, RFC 6749 §4.1.2.1). zitadel would ignore request_uri
	// and complete the flow without the parameters it holds.
	switch {
	case q.Has("request"):
		s.authorizeError(w, r, target, oauth.RequestNotSupported, "request objects are not supported")
		return
	case q.Has("request_uri"):
		s.authorizeError(w, r, target, oauth.RequestURINotSupported, "request_uri is not supported")
		return
	case target.responseType == "":
		s.authorizeError(w, r, target, oauth.InvalidRequest, "response_type is required")
		return
	case target.responseType != oidc.ResponseTypeCode:
		s.authorizeError(w, r, target, oauth.UnsupportedResponseType,
			"only response_type=code is supported (authorization code flow with PKCE; no implicit or hybrid flow)")
		return
	case q.Has("dpop_jkt") && !dpop.ValidJKT(q.Get("dpop_jkt")):
		s.authorizeError(w, r, target, oauth.InvalidRequest, "dpop_jkt must be a JWK SHA-256 thumbprint, base64url without padding (RFC 9449 §10)")
		return
	}

	bs, err := s.browserSession(r)
	if err != nil {
		s.storePage(w, r, err)
		return
	}
	bw := &bufferedWriter{header: http.Header{}}
	s.oidc.ServeHTTP(bw, r.WithContext(withAuthorizeJKT(withBrowserSession(r.Context(), bs), q.Get("dpop_jkt"))))
	if bw.status >= http.StatusInternalServerError {
		// A store failure (its cause logged by errStore) or zitadel's own:
		// the one mapping's page (503 while the store is out), never a
		// redirect carrying zitadel's description.
		s.failurePage(w, r, &oauth.Error{Code: oauth.ServerError, Status: bw.status, RetryAfter: oauth.RetryAfterUnavailable})
		return
	}
	if bw.status >= 400 {
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(bw.body.Bytes(), &body) != nil || body.Error == "" {
			body.Error, body.Description = oauth.InvalidRequest, "invalid request"
		}
		s.authorizeError(w, r, target, body.Error, body.Description)
		return
	}
	bw.send(w)
}

// authorizeTarget checks client_id and redirect_uri. When either is
// missing, unknown or unregistered it writes the HTML 400 page and reports
// false: such an error must not be redirected (RFC 6749 §4.1.2.1).
func (s *Server) authorizeTarget(w http.ResponseWriter, r *http.Request, clientID, redirectURI string) (authorizeTarget, bool) {
	fail := func(status int, msg string) (authorizeTarget, bool) {
		s.errorPage(w, r, status, probBadSignIn(msg))
		return authorizeTarget{}, false
	}
	if clientID == "" {
		return fail(http.StatusBadRequest, "client_id is missing")
	}
	// The edge (edge.go) has refused NUL, invalid UTF-8 and over-long
	// values already.
	c, err := s.clients.get(r.Context(), clientID, false)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fail(http.StatusBadRequest, "unknown client_id")
	case err != nil:
		s.storePage(w, r, err)
		return authorizeTarget{}, false
	}
	// OIDC Core §3.1.2.1: redirect_uri is REQUIRED (zitadel answered a
	// missing one with a 500).
	if redirectURI == "" {
		return fail(http.StatusBadRequest, "redirect_uri is missing")
	}
	// zitadel's registration check, with its RFC 8252 §7.3 rule for
	// native clients: a loopback redirect URI matches on any port.
	if op.ValidateAuthReqRedirectURI(&client{c: c, cfg: &s.cfg}, redirectURI, oidc.ResponseTypeCode) != nil {
		return fail(http.StatusBadRequest, "redirect_uri is not registered for this client")
	}
	return authorizeTarget{redirectURI: redirectURI}, true
}

// authorizeError sends error code back to the client's verified redirect
// URI with its description and the request's state (RFC 6749 §4.1.2.1,
// OIDC Core §3.1.2.6), in the requested response mode: form_post posts it
// (OAuth 2.0 Form Post Response Mode §2), query and fragment put it in the
// URL (zitadel's encoding). Without a response_mode, a response type that would return tokens
// in the fragment (an implicit or hybrid request, refused as such) gets the
// error in the fragment, where that client looks for it.
func (s *Server) authorizeError(w http.ResponseWriter, r *http.Request, t authorizeTarget, code, description string) {
	mode := t.responseMode
	switch mode {
	case oidc.ResponseModeQuery, oidc.ResponseModeFragment, oidc.ResponseModeFormPost:
	default:
		mode = oidc.ResponseModeQuery
		if strings.Contains(string(t.responseType), "token") {
			mode = oidc.ResponseModeFragment
		}
	}
	s.log.InfoContext(r.Context(), "authorize: error sent to the client", "error", code, "description", description)
	if mode == oidc.ResponseModeFormPost {
		v := url.Values{"error": {code}}
		if description != "" {
			v.Set("error_description", description)
		}
		if t.state != "" {
			v.Set("state", t.state)
		}
		s.formPost(w, t.redirectURI, v)
		return
	}
	e := &authorizeErrorResponse{Error: code, Description: description, State: t.state}
	u, err := op.AuthResponseURL(t.redirectURI, t.responseType, mode, e, s.provider.Encoder())
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, probBadSignIn("the redirect URI cannot carry an answer"))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u, http.StatusFound)
}

// authorizeErrorResponse is an error answer of the authorization endpoint,
// encoded by zitadel's encoder into the query, fragment or form.
type authorizeErrorResponse struct {
	Error       string `schema:"error"`
	Description string `schema:"error_description,omitempty"`
	State       string `schema:"state,omitempty"`
}

// --- single sign-on (OIDC Core §3.1.2.1) ------------------------------------

// browserSessionKey carries the request's browser session from
// handleAuthorize to Authorize, which zitadel calls without the request.
type browserSessionKey struct{}

func withBrowserSession(ctx context.Context, bs *storage.BrowserSession) context.Context {
	return context.WithValue(ctx, browserSessionKey{}, bs)
}

func browserSessionFrom(ctx context.Context) *storage.BrowserSession {
	bs, _ := ctx.Value(browserSessionKey{}).(*storage.BrowserSession)
	return bs
}

// Authorize is zitadel's once the request is valid, with the browser's
// session honoured: when it may answer the request, the authorization
// request is completed with the session's user, auth_time and amr, and the
// browser goes straight to the callback that issues the code; otherwise to
// the login page — or, for prompt=none, an error goes back to the client.
func (l *legacyServer) Authorize(ctx context.Context, r *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	// The hint must be an ID token we signed (issuer and signature are
	// checked; an expired one still names its user); zitadel answers a
	// bad one with login_required.
	hintSub, err := op.ValidateAuthReqIDTokenHint(ctx, r.Data.IDTokenHint, l.Provider().IDTokenHintVerifier(ctx))
	if err != nil {
		return nil, err
	}
	s := l.s
	bs := browserSessionFrom(ctx)
	if bs != nil {
		if bs, err = s.liveSessionUser(ctx, bs); err != nil {
			return nil, err
		}
	}
	c, _ := r.Client.(*client)
	needsApprover := c == nil || c.c.FirstParty || slices.Contains(r.Data.Scopes, ScopeQRApprove)
	use, err := ssoDecision(bs, r.Data, hintSub, needsApprover, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	req, err := l.Provider().Storage().CreateAuthRequest(ctx, r.Data, hintSub)
	if err != nil {
		return nil, err
	}
	if !use {
		return op.NewRedirect(r.Client.LoginURL(req.GetID())), nil
	}
	if err := s.store.CompleteAuthRequest(ctx, req.GetID(), bs.Subject, bs.AuthTime, bs.AMR, ""); err != nil {
		return nil, errStore(ctx, s.log, err)
	}
	if err := s.store.TouchBrowserSession(ctx, bs.ID, s.cfg.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.WarnContext(ctx, "recording a session's use", "err", err)
	}
	s.log.InfoContext(ctx, "single sign-on", "sub", bs.Subject, "client_id", r.Data.ClientID, "session", bs.ID)
	return op.NewRedirect(l.AuthCallbackURL()(ctx, req.GetID())), nil
}

// liveSessionUser returns bs if its user still exists and is not
// disabled, nil otherwise: such a session signs nobody in.
func (s *Server) liveSessionUser(ctx context.Context, bs *storage.BrowserSession) (*storage.BrowserSession, error) {
	u, err := s.store.User(ctx, bs.Subject)
	switch {
	case err == nil && u.Disabled:
		return nil, nil
	case err == nil:
		return bs, nil
	case errors.Is(err, storage.ErrNotFound):
		return nil, nil
	default:
		return nil, errStore(ctx, s.log, err)
	}
}

// ssoDecision says whether the browser's session bs answers authorization
// request req without the login form (OIDC Core §3.1.2.1):
//
//   - prompt=login or select_account: never; the form is shown (zitadel
//     has already turned prompt=login into max_age=0);
//   - max_age: only if the session's authentication is younger;
//   - id_token_hint: only if it names the session's user;
//   - a request that can approve QR logins (the first-party app, scope
//     qr:approve) only from a session that may approve them itself (made
//     on the phone-browser path): a password sign-in for a relying party on
//     a PC must not turn into a phone token;
//   - prompt=none: never the form. Without a usable session the answer is
//     login_required; with a session that may not answer this request,
//     interaction_required (the user is signed in but must act).
func ssoDecision(bs *storage.BrowserSession, req *oidc.AuthRequest, hintSub string, needsApprover bool, now time.Time) (bool, error) {
	usable, why := bs != nil, oidc.ErrLoginRequired().WithDescription("the user is not signed in")
	switch {
	case !usable:
	case hintSub != "" && hintSub != bs.Subject:
		usable, why = false, oidc.ErrLoginRequired().WithDescription("the id_token_hint names another user than the one signed in")
	case req.MaxAge != nil && !now.Before(bs.AuthTime.Add(time.Duration(*req.MaxAge)*time.Second)):
		usable, why = false, oidc.ErrLoginRequired().WithDescription("the sign-in is older than max_age")
	case needsApprover && !bs.Approver:
		usable, why = false, oidc.ErrInteractionRequired().WithDescription("this application needs the user to sign in on this device")
	}
	if slices.Contains(req.Prompt, oidc.PromptNone) {
		if !usable {
			return false, why
		}
		return true, nil
	}
	if slices.Contains(req.Prompt, oidc.PromptLogin) || slices.Contains(req.Prompt, oidc.PromptSelectAccount) {
		return false, nil
	}
	return usable, nil
}
