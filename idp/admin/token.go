package admin

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-oauth2/oauth2/v4"
	oerrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/go-oauth2/oauth2/v4/server"

	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// adminScope is the one scope an admin token may carry.
const adminScope = "admin"

// newTokenEndpoint assembles go-oauth2 for client_credentials only and
// wraps it with the checks it lacks.
func newTokenEndpoint(cfg Config, a *api) http.Handler {
	m := manage.NewManager()
	m.MapClientStorage(&clientStore{admin: &adminClient{id: cfg.AdminClientID, secretHash: cfg.AdminSecretHash}})
	m.MapTokenStorage(&tokenStore{store: cfg.Store, now: cfg.Now, log: a.log})
	m.MapAccessGenerate(accessGenerate{})
	m.SetClientTokenCfg(&manage.Config{AccessTokenExp: cfg.TokenTTL})

	srv := server.NewServer(&server.Config{
		TokenType:         "Bearer",
		AllowedGrantTypes: []oauth2.GrantType{oauth2.ClientCredentials},
	}, m)
	srv.ClientInfoHandler = clientCredentials
	srv.ClientScopeHandler = func(tgr *oauth2.TokenGenerateRequest) (bool, error) {
		return tgr.Scope == "" || tgr.Scope == adminScope, nil
	}
	// Store failures go through the one mapping (oauth.StoreError).
	srv.InternalErrorHandler = func(err error) *oerrors.Response {
		if e := oauth.StoreError(err); e.Status == http.StatusServiceUnavailable {
			r := oerrors.NewResponse(oerrors.ErrTemporarilyUnavailable, e.Status)
			r.Header = http.Header{"Retry-After": {strconv.Itoa(e.RetryAfter)}}
			return r
		}
		if !errors.As(err, new(loggedError)) {
			a.log.Error("admin: token endpoint failure", "err", err)
		}
		return nil // go-oauth2 answers server_error without detail
	}
	return &tokenEndpoint{srv: srv, api: a, adminID: cfg.AdminClientID}
}

type tokenEndpoint struct {
	srv     *server.Server
	api     *api
	adminID string
}

// ServeHTTP checks what go-oauth2 does not, then lets it answer.
func (t *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			tokenError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the body is too large")
			return
		}
		tokenError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	// RFC 6749 §2.3.1: credentials MUST NOT be in the request URI; §3.2:
	// parameters are form-encoded in the body.
	if r.URL.RawQuery != "" {
		tokenError(w, http.StatusBadRequest, "invalid_request", "parameters must be sent in the request body, not the URI")
		return
	}
	// RFC 6749 §3.2: parameters MUST NOT be included more than once.
	for name, vals := range r.PostForm {
		if len(vals) > 1 {
			tokenError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("parameter %q is repeated", name))
			return
		}
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "":
		tokenError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	case string(oauth2.ClientCredentials):
	default:
		// go-oauth2 would answer 401 unauthorized_client; RFC 6749 §5.2
		// says 400 unsupported_grant_type.
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "the admin token endpoint supports client_credentials only")
		return
	}
	cw := &challengeWriter{ResponseWriter: w}
	_ = t.srv.HandleTokenRequest(cw, r)
	if cw.status == http.StatusUnauthorized {
		// The client id is logged only when it is the admin's: anything
		// else may be a secret pasted into the wrong field.
		id, _, _ := clientCredentials(r)
		t.api.authFailed(r, "bad client credentials", slog.Bool("client_known", id == t.adminID))
	}
}

// challengeWriter adds a WWW-Authenticate challenge to go-oauth2's 401
// answers: RFC 6749 §5.2 requires it for a client that authenticated with
// the Authorization header, and RFC 9110 §15.5.2 for every 401.
type challengeWriter struct {
	http.ResponseWriter
	status int
}

func (c *challengeWriter) WriteHeader(status int) {
	if status == http.StatusUnauthorized {
		c.Header().Set("WWW-Authenticate", `Basic realm="qrlogin-admin"`)
	}
	c.status = status
	c.ResponseWriter.WriteHeader(status)
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Pragma", "no-cache")
	writeError(w, status, code, desc)
}

// clientCredentials reads the client's credentials from HTTP Basic
// (client_secret_basic) or the form (client_secret_post), never both: RFC
// 6749 §2.3 forbids more than one authentication method per request.
func clientCredentials(r *http.Request) (id, secret string, err error) {
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if r.Header.Get("Authorization") == "" {
		if formID == "" {
			return "", "", oerrors.ErrInvalidClient
		}
		return formID, formSecret, nil
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", "", oerrors.ErrInvalidClient
	}
	if formSecret != "" {
		return "", "", oerrors.ErrInvalidRequest
	}
	// RFC 6749 §2.3.1: the Basic credentials are form-urlencoded first.
	if id, err = url.QueryUnescape(user); err != nil {
		return "", "", oerrors.ErrInvalidClient
	}
	if secret, err = url.QueryUnescape(pass); err != nil {
		return "", "", oerrors.ErrInvalidClient
	}
	if formID != "" && formID != id {
		return "", "", oerrors.ErrInvalidRequest
	}
	return id, secret, nil
}

// clientStore is go-oauth2's client store: it knows the bootstrap admin
// only.
type clientStore struct{ admin *adminClient }

func (s *clientStore) GetByID(_ context.Context, id string) (oauth2.ClientInfo, error) {
	if id != s.admin.id {
		return nil, oerrors.ErrInvalidClient
	}
	return s.admin, nil
}

// adminClient is the bootstrap admin account. It implements
// oauth2.ClientPasswordVerifier so go-oauth2 never compares a plaintext
// secret: the presented secret's SHA-256 is compared in constant time
// with the stored hash.
type adminClient struct {
	id         string
	secretHash []byte
}

func (c *adminClient) GetID() string     { return c.id }
func (c *adminClient) GetSecret() string { return "" }
func (c *adminClient) GetDomain() string { return "" }
func (c *adminClient) IsPublic() bool    { return false }
func (c *adminClient) GetUserID() string { return "" }

func (c *adminClient) VerifyPassword(secret string) bool {
	return secret != "" && subtle.ConstantTimeCompare(storage.Hash(secret), c.secretHash) == 1
}

// accessGenerate makes opaque access tokens of 256 random bits (go-oauth2's
// default derives them from UUIDs).
type accessGenerate struct{}

func (accessGenerate) Token(context.Context, *oauth2.GenerateBasic, bool) (string, string, error) {
	return storage.NewSecret(32), "", nil
}

// tokenStore adapts storage.AdminTokenStore to go-oauth2's TokenStore.
// Only SHA-256 hashes of access tokens are stored; codes and refresh
// tokens are never issued on this listener.
type tokenStore struct {
	store storage.AdminTokenStore
	now   func() time.Time
	log   *slog.Logger
}

// loggedError is a failure already logged with its request's context
// (and so its request id), which go-oauth2's error handler never sees.
type loggedError struct{ error }

func (e loggedError) Unwrap() error { return e.error }

// failed logs a store failure that is no outage with the request's
// context and marks it logged.
func (s *tokenStore) failed(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, storage.ErrUnavailable) {
		return err
	}
	s.log.ErrorContext(ctx, "admin: token store failure", "err", err)
	return loggedError{err}
}

var errUnsupported = errors.New("admin: token kind not issued on the admin listener")

func (s *tokenStore) Create(ctx context.Context, info oauth2.TokenInfo) error {
	if info.GetAccess() == "" || info.GetCode() != "" || info.GetRefresh() != "" {
		return errUnsupported
	}
	// The admin clock, not go-oauth2's time.Now, decides expiry, so the
	// bearer check and the stored row agree.
	now := s.now()
	return s.failed(ctx, s.store.CreateAdminToken(ctx, &storage.AdminToken{
		AccessHash: storage.Hash(info.GetAccess()),
		ClientID:   info.GetClientID(),
		Scope:      info.GetScope(),
		CreatedAt:  now,
		ExpiresAt:  now.Add(info.GetAccessExpiresIn()),
	}))
}

func (s *tokenStore) GetByAccess(ctx context.Context, access string) (oauth2.TokenInfo, error) {
	t, err := s.store.AdminToken(ctx, storage.Hash(access), s.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, oerrors.ErrInvalidAccessToken
	}
	if err != nil {
		return nil, s.failed(ctx, err)
	}
	ti := models.NewToken()
	ti.SetClientID(t.ClientID)
	ti.SetScope(t.Scope)
	ti.SetAccess(access)
	ti.SetAccessCreateAt(t.CreatedAt)
	ti.SetAccessExpiresIn(t.ExpiresAt.Sub(t.CreatedAt))
	return ti, nil
}

func (s *tokenStore) RemoveByAccess(ctx context.Context, access string) error {
	return s.store.DeleteAdminToken(ctx, storage.Hash(access))
}

func (s *tokenStore) RemoveByCode(context.Context, string) error    { return errUnsupported }
func (s *tokenStore) RemoveByRefresh(context.Context, string) error { return errUnsupported }

func (s *tokenStore) GetByCode(context.Context, string) (oauth2.TokenInfo, error) {
	return nil, errUnsupported
}

func (s *tokenStore) GetByRefresh(context.Context, string) (oauth2.TokenInfo, error) {
	return nil, errUnsupported
}

var _ oauth2.TokenStore = (*tokenStore)(nil)
var _ oauth2.ClientPasswordVerifier = (*adminClient)(nil)
