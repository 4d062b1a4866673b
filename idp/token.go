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

// handleToken is the token endpoint. zitadel's grant switch is closed, so
// the two QR grant names are served here, in front of it; every other
// grant goes to zitadel, whose answer is amended on the way out.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	switch r.PostForm.Get("grant_type") {
	case GrantQR, GrantDeviceCode:
		s.handleQRToken(w, r)
	default:
		s.zitadelToken(w, r)
	}
}

// zitadelToken runs zitadel's token endpoint and fixes two things in its
// answer: Cache-Control: no-store on every token response (RFC 6749 §5.1)
// and status 401 for invalid_client (RFC 6749 §5.2; zitadel sends 400).
func (s *Server) zitadelToken(w http.ResponseWriter, r *http.Request) {
	bw := &bufferedWriter{header: http.Header{}}
	s.oidc.ServeHTTP(bw, r)
	status := bw.status
	if status == http.StatusBadRequest {
		var body struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(bw.body.Bytes(), &body) == nil && body.Error == oauth.InvalidClient {
			status = http.StatusUnauthorized
			if _, _, basic := r.BasicAuth(); basic {
				bw.header.Set("WWW-Authenticate", `Basic realm="qrlogin"`)
			}
		}
	}
	for k, v := range bw.header {
		w.Header()[k] = v
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(bw.body.Bytes())
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
	op.AuthResponse(req, s.provider, w, r)
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
	wait, err := parseWait(r.PostForm.Get("wait"))
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	ctx := r.Context()
	if wait > 0 {
		s.waiting.Add(1)
		defer s.waiting.Add(-1)
	}
	resp, err := s.qr.Poll(ctx, grants.PollRequest{DeviceCode: r.PostForm.Get("device_code"), ClientID: c.ID, Wait: wait,
		IP: clientIP(r), Mint: &qrMinter{s: s, c: c}})
	if err != nil {
		if ctx.Err() != nil {
			return // the client went away during a long-poll
		}
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
