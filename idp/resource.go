package idp

import (
	"errors"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// The endpoints that take a token from a client: /userinfo (OIDC Core
// §5.3), introspection (RFC 7662) and revocation (RFC 7009). qrlogin
// serves the first two itself and authenticates the client of the third
// before zitadel does: zitadel's answers get the status codes wrong (403
// server_error for a revoked token, 400 unauthorized_client or
// invalid_request for a wrong or missing secret).

// invalidToken is RFC 6750 §3.1's answer for a token that is unknown,
// expired or revoked: 401 with a Bearer challenge naming the error, so a
// client knows to refresh rather than give up.
func invalidToken(desc string) *oauth.Error {
	e := oauth.New(oauth.InvalidToken, desc).WithStatus(http.StatusUnauthorized)
	e.Challenge = "Bearer"
	return e
}

// bearerToken reads the access token of a protected resource request: the
// Authorization header (RFC 6750 §2.1) or, where form is set, the
// access_token member of a form body (§2.2). The query string (§2.3) is
// not read: tokens in URLs end up in logs. No token at all is 401 with a
// bare challenge (§3.1); two methods at once are invalid_request (§2).
func bearerToken(r *http.Request, form bool) (string, error) {
	var fromHeader, fromForm string
	hasHeader := false
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
			e := invalidToken("the Authorization header must use the Bearer scheme")
			e.BareChallenge = true
			return "", e
		}
		fromHeader, hasHeader = strings.TrimSpace(h[7:]), true
	}
	if form && r.PostForm != nil {
		fromForm = r.PostForm.Get("access_token")
	}
	switch {
	case hasHeader && fromForm != "":
		return "", oauth.New(oauth.InvalidRequest, "send the access token one way only")
	case fromHeader != "":
		return fromHeader, nil
	case fromForm != "":
		return fromForm, nil
	}
	e := invalidToken("a bearer token is required")
	e.BareChallenge = true
	return "", e
}

// handleUserinfo is the UserInfo endpoint (OIDC Core §5.3), GET or POST.
// A token that is malformed, unknown, expired or revoked, or whose user is
// gone, is 401 invalid_token with WWW-Authenticate (RFC 6750 §3.1); an
// unreachable store is 503, never a verdict on the token. A DPoP-bound
// token is taken only as Authorization: DPoP with a proof of its key
// (RFC 9449 §7; resourceToken, checkPresentation).
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	raw, proof, err := s.resourceToken(r, r.Method == http.MethodPost)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	// A token refused under the DPoP scheme is refused with its challenge
	// (RFC 9449 §7.1), under Bearer with Bearer's.
	refuse := func(desc string) {
		e := invalidToken(desc)
		if proof != nil {
			e.Challenge = dpopChallenge()
		}
		oauth.WriteError(w, s.log, e)
	}
	id, sub, ok := s.parseAccessToken(r.Context(), raw)
	if !ok {
		refuse("the access token is invalid")
		return
	}
	info := new(oidc.UserInfo)
	if err := s.op.SetUserinfoFromToken(withPresentation(r.Context(), proof), info, id, sub, ""); err != nil {
		var e *oauth.Error
		switch {
		case failedStore(err) != nil:
			oauth.WriteError(w, s.log, failedStore(err))
		case errors.As(err, &e) && e.Status == http.StatusUnauthorized:
			oauth.WriteError(w, s.log, e) // the token's DPoP binding (checkPresentation)
		default:
			refuse("the access token is expired, revoked or unknown")
		}
		return
	}
	oauth.WriteJSON(w, http.StatusOK, info)
}

// handleIntrospect is the introspection endpoint (RFC 7662). The caller
// must be a confidential client authenticated with client_secret_basic or
// client_secret_post (§2.1); anything else is 401 invalid_client with a
// challenge (RFC 6749 §5.2). A token the caller may not learn about (not
// in its audience), or that is not a live access token, is reported
// inactive (§2.2); an unreachable store is 503, not "inactive", which
// would make a resource server drop a valid session.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	c, err := s.authenticateClient(r)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	if c.Type != storage.ClientConfidential {
		oauth.WriteError(w, s.log, invalidClient())
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		oauth.WriteError(w, s.log, oauth.New(oauth.InvalidRequest, "token is required"))
		return
	}
	inactive := map[string]bool{"active": false}
	id, sub, ok := s.parseAccessToken(r.Context(), token)
	if !ok {
		oauth.WriteJSON(w, http.StatusOK, inactive)
		return
	}
	resp := new(oidc.IntrospectionResponse)
	if err := s.op.SetIntrospectionFromToken(r.Context(), resp, id, sub, c.ID); err != nil {
		if e := failedStore(err); e != nil {
			oauth.WriteError(w, s.log, e)
			return
		}
		oauth.WriteJSON(w, http.StatusOK, inactive)
		return
	}
	resp.Active = true
	resp.Issuer = s.cfg.Issuer
	oauth.WriteJSON(w, http.StatusOK, resp)
}

// handleRevoke is the revocation endpoint (RFC 7009). The client is
// authenticated here, by the rule every other endpoint uses (a public
// client names itself, a confidential one proves its secret), so that a
// missing or wrong credential is 401 invalid_client (§2.1, RFC 6749 §5.2)
// rather than zitadel's 400; zitadel then revokes.
//
// Another client's refresh token is refused here too (§2.1: the token must
// have been issued to the client asking). zitadel would see it only most
// of the time: when its refresh lookup declines, it tries the token as an
// opaque access token, and its unauthenticated AES-CFB decryption turns
// about one random string in seventeen into a plausible "id:subject" that
// then matches nothing — an answer of success, 200, for a token it did
// not touch.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	c, err := s.authenticateClient(r)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	if token := r.PostForm.Get("token"); token != "" {
		t, err := s.store.RefreshTokenByHash(r.Context(), storage.Hash(token))
		switch {
		case err == nil && t.ClientID != c.ID:
			oauth.WriteError(w, s.log, oauth.New(oauth.UnauthorizedClient, "the token was not issued to this client"))
			return
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			oauth.WriteError(w, s.log, s.mapErr(err))
			return
		}
	}
	s.serveZitadel(w, r)
}

// failedStore finds the store failure in an error of opStorage (which
// wraps it for zitadel, errStore), or nil when the error is a verdict on
// the token: a failure is a 503 or 500, never "invalid token" or
// "inactive".
func failedStore(err error) *oauth.Error {
	var e *oauth.Error
	if errors.As(err, &e) && e.Status >= http.StatusInternalServerError {
		return e
	}
	return nil
}

// methodNotAllowed answers a method an endpoint does not take: 405 with
// Allow (RFC 9110 §15.5.6). The token endpoint takes only POST (RFC 6749
// §3.2): a GET would put codes and secrets in URLs and logs.
func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		oauth.WriteError(w, nil, oauth.New(oauth.InvalidRequest, "this endpoint accepts only "+allow).WithStatus(http.StatusMethodNotAllowed))
	}
}
