package admin

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// Config configures the admin listener. Zero values mean defaults where a
// default is documented; New rejects a config without Store, AdminClientID
// or AdminSecretHash.
type Config struct {
	Store storage.Store
	// AdminClientID and AdminSecretHash (storage.Hash of the secret) are
	// the bootstrap admin account, the only client of the token endpoint.
	AdminClientID   string
	AdminSecretHash []byte
	// TokenTTL is the lifetime of admin access tokens; default 15 minutes.
	TokenTTL time.Duration
	// Keys rotates and lists signing keys; nil makes the keys endpoints
	// answer 501.
	Keys KeyManager
	// Users updates accounts (PATCH /admin/v1/users/{id}); nil makes that
	// endpoint answer 501.
	Users UserManager
	// Metrics, when non-nil, is served at GET /metrics without
	// authentication: the admin listener binds to loopback by default.
	Metrics http.Handler
	Logger  *slog.Logger
	Now     func() time.Time
}

// KeyManager is what the keys endpoints need from the OP's key handling.
type KeyManager interface {
	// Rotate creates a new signing key of algorithm alg, or of every
	// algorithm when alg is "", and returns them; ErrUnknownAlg for an
	// algorithm it does not sign with.
	Rotate(ctx context.Context, alg string) ([]KeyInfo, error)
	// List returns the signing keys, oldest first.
	List(ctx context.Context) ([]KeyInfo, error)
}

// KeyInfo describes a signing key, never its private part.
type KeyInfo struct {
	ID        string    `json:"id"`
	Algorithm string    `json:"algorithm"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	NotBefore time.Time `json:"not_before"`
}

// DefaultTokenTTL is the admin token lifetime when Config.TokenTTL is 0.
const DefaultTokenTTL = 15 * time.Minute

// maxBody caps every request body (SPEC §7).
const maxBody = 64 << 10

// maxPath caps the request path, ids included (client ids are at most 64
// bytes, user ids 22).
const maxPath = 256

// api holds the validated config; its methods are the handlers.
type api struct {
	store   storage.Store
	keys    KeyManager
	users   UserManager
	log     *slog.Logger
	now     func() time.Time
	tokens  http.Handler
	metrics http.Handler
}

// New validates cfg and returns the admin listener's handler. It is safe
// for concurrent use.
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("admin: Config.Store is required")
	}
	if cfg.AdminClientID == "" {
		return nil, errors.New("admin: Config.AdminClientID is required")
	}
	if len(cfg.AdminSecretHash) != len(storage.Hash("")) {
		return nil, errors.New("admin: Config.AdminSecretHash must be storage.Hash(secret)")
	}
	if cfg.TokenTTL < 0 {
		return nil, errors.New("admin: Config.TokenTTL must not be negative")
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &api{
		store:   cfg.Store,
		keys:    cfg.Keys,
		users:   cfg.Users,
		log:     cfg.Logger,
		now:     cfg.Now,
		metrics: cfg.Metrics,
	}
	a.tokens = newTokenEndpoint(cfg, a)

	v1 := http.NewServeMux()
	v1.HandleFunc("POST /admin/v1/clients", a.createClient)
	v1.HandleFunc("GET /admin/v1/clients", a.listClients)
	v1.HandleFunc("GET /admin/v1/clients/{id}", a.getClient)
	v1.HandleFunc("DELETE /admin/v1/clients/{id}", a.deleteClient)
	v1.HandleFunc("PATCH /admin/v1/clients/{id}", a.patchClient)
	v1.HandleFunc("POST /admin/v1/clients/{id}/secret", a.rotateClientSecret)
	v1.HandleFunc("POST /admin/v1/users", a.createUser)
	v1.HandleFunc("GET /admin/v1/users", a.listUsers)
	v1.HandleFunc("DELETE /admin/v1/users/{id}", a.deleteUser)
	v1.HandleFunc("PATCH /admin/v1/users/{id}", a.updateUser)
	v1.HandleFunc("POST /admin/v1/keys/rotate", a.rotateKey)
	v1.HandleFunc("GET /admin/v1/keys", a.listKeys)

	mux := http.NewServeMux()
	mux.Handle("POST /oauth/token", a.tokens)
	// Authentication comes before routing, so an unauthenticated caller
	// learns nothing about which paths or methods exist.
	mux.Handle("/admin/v1/", a.authenticate(jsonErrors(v1)))
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	return a.secure(jsonErrors(mux)), nil
}

// jsonErrors answers what no route of mux takes — 404, or 405 with its
// Allow header — in the API's JSON error shape instead of ServeMux's
// plain text, so a client can parse every error this listener sends.
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		st := &statusOnly{header: http.Header{}}
		h.ServeHTTP(st, r)
		if st.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", st.header.Get("Allow"))
			writeError(w, st.status, "method_not_allowed", "this endpoint does not take "+r.Method)
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
}

// statusOnly records the status and headers a handler answers with and
// drops its body.
type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(status int)      { s.status = status }

// secure sets the headers every answer of this listener carries: bodies
// hold secrets (client secrets, tokens) and must not be cached (RFC 6749
// §5.1), nor sniffed as something other than JSON.
func (a *api) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		// The ids in the path go to the store: the edge's one rule
		// (oauth.CheckInput) first, so a NUL is a 400, not a database error.
		if e := oauth.CheckInput("the path", r.URL.Path, maxPath); e != nil {
			writeError(w, e.Status, e.Code, e.Description)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type adminKey struct{}

// authenticate admits a request only with a valid admin access token
// (RFC 6750 §2.1). Otherwise 401 with WWW-Authenticate: Bearer (§3); the
// error attribute is left out when no credentials were sent (§3.1).
func (a *api) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, present := bearerToken(r)
		if token == "" {
			challenge := `Bearer realm="qrlogin-admin"`
			desc := "missing bearer token"
			if present {
				challenge += `, error="invalid_request"`
				desc = "malformed Authorization header"
			}
			w.Header().Set("WWW-Authenticate", challenge)
			writeError(w, http.StatusUnauthorized, "invalid_token", desc)
			a.authFailed(r, desc)
			return
		}
		t, err := a.store.AdminToken(r.Context(), storage.Hash(token), a.now())
		switch {
		case errors.Is(err, storage.ErrNotFound):
			a.authFailed(r, "invalid or expired bearer token")
			w.Header().Set("WWW-Authenticate", `Bearer realm="qrlogin-admin", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired")
			return
		case err != nil:
			a.storageError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), adminKey{}, t.ClientID)))
	})
}

// eventAdminAuthFailed is the stable event name of a refused admin
// credential (a security event, logged at WARN like the public
// listener's).
const eventAdminAuthFailed = "admin_auth_failed"

// authFailed logs a refused admin credential: why, and from where. Never
// the credential.
func (a *api) authFailed(r *http.Request, reason string, attrs ...slog.Attr) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	attrs = append([]slog.Attr{slog.String("event", eventAdminAuthFailed), slog.String("reason", reason),
		slog.String("ip", ip), slog.String("path", r.URL.Path)}, attrs...)
	a.log.LogAttrs(r.Context(), slog.LevelWarn, "admin authentication failed", attrs...)
}

// bearerToken extracts the token of "Authorization: Bearer <token>". The
// scheme is case-insensitive (RFC 9110 §11.1); the token must be a
// non-empty b64token (RFC 6750 §2.1). present reports whether an
// Authorization header was sent at all.
func bearerToken(r *http.Request) (token string, present bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", false
	}
	if len(vals) != 1 {
		return "", true
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !isB64Token(tok) {
		return "", true
	}
	return tok, true
}

func isB64Token(s string) bool {
	if s == "" {
		return false
	}
	i := len(s)
	for i > 0 && s[i-1] == '=' {
		i--
	}
	if i == 0 {
		return false
	}
	for _, c := range []byte(s[:i]) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// actor is the admin client that made the request, for the audit log.
func actor(ctx context.Context) string {
	s, _ := ctx.Value(adminKey{}).(string)
	return s
}
