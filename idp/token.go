package idp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// handleToken is the token endpoint (POST only; routes answers other
// methods with 405). zitadel's grant switch is closed, so the two QR grant
// names are served here, in front of it; the code and refresh grants go to
// zitadel, whose answer is amended on the way out; any other grant is
// refused here, so what is served is exactly oauth.GrantTypes, the list
// discovery advertises (zitadel would also try jwt-bearer and others). A
// DPoP proof is checked first (tokenProof): every grant binds what it
// mints to it (RFC 9449 §5).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r, err := s.tokenProof(r)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	switch g := r.PostForm.Get("grant_type"); g {
	case GrantQR, GrantDeviceCode:
		s.handleQRToken(w, r)
	case oauth.GrantAuthorizationCode, oauth.GrantRefreshToken:
		s.serveZitadel(w, r)
	case "":
		oauth.WriteError(w, s.log, oauth.New(oauth.InvalidRequest, "grant_type is required"))
	default:
		oauth.WriteError(w, s.log, oauth.New(oauth.UnsupportedGrantType, "unsupported grant_type "+oauth.SafeName(g)))
	}
}

// serveZitadel runs zitadel's handler for one of the client-facing JSON
// endpoints it still serves (the token endpoint's code and refresh grants,
// revocation) and sends its answer the way qrlogin sends its own: an error
// body is rewritten into an *oauth.Error and written by oauth.WriteError,
// where invalid_client becomes 401 with a challenge (RFC 6749 §5.2;
// zitadel sends 400), and every answer carries Cache-Control: no-store and
// Pragma: no-cache (RFC 6749 §5.1, RFC 7009 and RFC 7662 carry tokens too).
func (s *Server) serveZitadel(w http.ResponseWriter, r *http.Request) {
	bw := &bufferedWriter{header: http.Header{}}
	s.oidc.ServeHTTP(bw, r)
	if bw.status >= 400 {
		if e := zitadelError(bw); e != nil {
			oauth.WriteError(w, s.log, e)
			return
		}
	}
	bw.header.Set("Cache-Control", "no-store")
	bw.header.Set("Pragma", "no-cache")
	bw.send(w)
}

// zitadelError reads zitadel's JSON error answer as an *oauth.Error with
// qrlogin's status rules, or nil if the body is not one.
func zitadelError(bw *bufferedWriter) *oauth.Error {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(bw.body.Bytes(), &body) != nil || body.Error == "" {
		return nil
	}
	e := oauth.New(body.Error, body.Description).WithStatus(bw.status)
	switch body.Error {
	case oauth.InvalidClient:
		e = invalidClient()
		if body.Description != "" {
			e.Description = body.Description
		}
	case oauth.TemporarilyUnavail:
		e.RetryAfter = oauth.RetryAfterUnavailable
	}
	return e
}

// handleAuthorizeCallback is zitadel's AuthorizeCallback — once the login
// page completed the authorization request, issue the code and send the
// browser back to the client — except for a request it cannot read:
// zitadel answers any such error as plain text with 400, a store outage
// included, in the database's own words. Here an unknown or expired
// request is a 400 page and a store failure goes through the one mapping
// (a 503 page while the store is out).
func (s *Server) handleAuthorizeCallback(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if r.Method == http.MethodPost && r.PostForm.Get("id") != "" {
		id = r.PostForm.Get("id")
	}
	a, err := s.store.AuthRequest(r.Context(), id, s.cfg.Now())
	if err != nil || id == "" {
		s.loginRequestError(w, r, err)
		return
	}
	req := &authRequest{a}
	if !req.Done() {
		op.AuthRequestError(w, r, req, oidc.ErrInteractionRequired().WithDescription("the user has not signed in"), s.provider)
		return
	}
	s.authResponse(w, r, req)
}

// handleQRToken polls, long-polls and redeems a QR login (SPEC §2.2).
func (s *Server) handleQRToken(w http.ResponseWriter, r *http.Request) {
	c, err := s.authenticateClient(r)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	grant := r.PostForm.Get("grant_type")
	if !hasGrant(c, grant) {
		oauth.WriteError(w, s.log, oauth.New(oauth.UnauthorizedClient, "the client may not use this grant type"))
		return
	}
	if e := requireDPoP(r.Context(), c); e != nil {
		oauth.WriteError(w, s.log, e)
		return
	}
	wait, err := parseWait(r.PostForm.Get("wait"))
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	ctx := r.Context()
	if wait > 0 {
		s.waiting.Add(1) // until the answer: a parked poll's (park.go) counts down
		defer func() {
			if ri := infoOf(ctx); ri == nil || !ri.parked {
				s.waiting.Add(-1)
			}
		}()
	}
	jkt := boundJKT(ctx)
	var park func() (func(any, error), bool)
	var gone func() bool
	if wait > 0 { // only a long-poll is ever parked: a plain poll allocates nothing for it
		park, gone = s.parker(w, r)
	}
	resp, err := s.qr.Poll(ctx, grants.PollRequest{DeviceCode: r.PostForm.Get("device_code"), ClientID: c.ID, Wait: wait,
		IP: clientIP(r), DPoPJKT: jkt, Mint: &qrMinter{s: s, c: c, jkt: jkt}, Park: park, Gone: gone})
	if errors.Is(err, grants.ErrParked) || (err != nil && ctx.Err() != nil) {
		return // parked, or the client went away during a long-poll
	}
	s.writeQRAnswer(w, resp, err)
}

// writeQRAnswer writes a QR poll's answer, as Poll returned it, and
// counts it: the one way a poll is answered, in its request's goroutine or
// parked.
func (s *Server) writeQRAnswer(w http.ResponseWriter, resp any, err error) {
	if err != nil {
		err = s.mapErr(err)
		s.countAnswer(err)
		oauth.WriteError(w, s.log, err)
		return
	}
	s.metrics.answers.WithLabelValues("tokens").Inc()
	oauth.WriteJSON(w, http.StatusOK, resp)
}

func (s *Server) countAnswer(err error) {
	code := "server_error"
	var e *oauth.Error
	if errors.As(err, &e) {
		code = e.Code
	}
	s.metrics.answers.WithLabelValues(code).Inc()
}

// parseWait reads the long-poll parameter: whole seconds, 0–30 (SPEC §2.2).
func parseWait(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 30 || len(v) > 2 {
		return 0, oauth.New(oauth.InvalidRequest, "wait must be whole seconds from 0 to 30")
	}
	return time.Duration(n) * time.Second, nil
}

func hasGrant(c *storage.Client, grant string) bool {
	for _, g := range c.GrantTypes {
		if g == grant {
			return true
		}
	}
	return false
}

// mapErr turns what grants, storage or zitadel returned into an answer:
// a store outage is a 503 (oauth.StoreError), an *oauth.Error passes
// through, an OAuth error of zitadel's keeps its code, and anything else
// is a 500 that leaks nothing (logged by oauth.WriteError).
func (s *Server) mapErr(err error) *oauth.Error {
	if isUnavailable(err) {
		return oauth.StoreError(err)
	}
	var e *oauth.Error
	if errors.As(err, &e) {
		return e
	}
	// An OAuth error from zitadel (minting into a revoked session, say)
	// keeps its code; a server_error stays an internal error.
	var oe *oidc.Error
	if errors.As(err, &oe) && oe.ErrorType != oidc.ServerError {
		return oauth.New(string(oe.ErrorType), oe.Description).WithCause(err)
	}
	return oauth.StoreError(err)
}

func isUnavailable(err error) bool {
	return errors.Is(err, storage.ErrUnavailable)
}

// jsonBody decodes a JSON request body into v: one object, nothing after
// it, unknown fields ignored (forward compatibility for the phone app).
func jsonBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		return oauth.New(oauth.InvalidRequest, "the body must be a JSON object")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err == nil || !isEOF(err) {
		return oauth.New(oauth.InvalidRequest, "the body must be a single JSON object")
	}
	return nil
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }
