package idp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/sessions"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"go.opentelemetry.io/otel/trace"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/idp/dpop"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/idp/password"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/templates"
)

// Endpoint paths, relative to the issuer.
const (
	pathAuthorize   = "authorize"
	pathToken       = "oauth/token"
	pathIntrospect  = "oauth/introspect"
	pathUserinfo    = "userinfo"
	pathRevoke      = "revoke"
	pathEndSession  = "end_session"
	pathKeys        = "keys"
	pathQRAuthorize = "qr/authorize"
)

// Server is the OpenID Connect provider. It is an http.Handler.
type Server struct {
	cfg      Config
	store    storage.Store
	keys     *Keys
	qr       *grants.QR
	scans    scanMemo       // what decisions need for the proximity policy (proximity.go)
	dpop     *dpop.Verifier // DPoP proofs, spent in the store
	provider *op.Provider
	op       *opStorage
	legacy   *legacyServer
	oidc     http.Handler // zitadel's routes
	sessions *sessions.CookieStore
	clients  *clientCache
	origins  *originSet
	limiter  *limiter // per address, per client, per account: Config.RateLimit
	guesses  *limiter // typed user codes, new codes of a login page: a few per minute
	lockouts *lockouts
	// sessionHolds: login-page status requests held per browser session.
	sessionHolds *holds
	hashes       *password.Gate // every argon2id check of a request
	pages        *template.Template
	metrics      *metrics
	tracer       trace.Tracer
	waiting      atomic.Int64
	parking      *parking // parked long-polls not answered yet (park.go)
	handler      http.Handler
	log          *slog.Logger

	// The hot path's constants: whether spans are made at all
	// (tracingOn), and the headers of every answer.
	tracing         bool
	securityHeaders []headerValue
}

// New assembles the provider. It creates the first signing key and the
// shared secrets if the store has none.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	log := withRequestIDs(cfg.Logger)
	m := newMetrics()
	tracer := cfg.TracerProvider.Tracer(tracerName)
	// Every store call of every part (keys, grants, zitadel's adapter, the
	// pages) is timed, counted and traced.
	cfg.Store = &observedStore{Store: cfg.Store, metrics: m, tracer: tracer, tracing: tracingOn(cfg.TracerProvider), log: log}
	s := &Server{cfg: cfg, store: cfg.Store, log: log, metrics: m, tracer: tracer, tracing: tracingOn(cfg.TracerProvider),
		securityHeaders: securityHeaders(cfg.insecure()), parking: newParking()}
	m.setWaiters(func() float64 { return float64(s.waiting.Load()) })
	if cfg.insecure() {
		s.log.Warn("issuer is plain http: use https in production", "issuer", cfg.Issuer)
	}

	var err error
	maxTTL := max(cfg.IDTokenTTL, cfg.AccessTokenTTL)
	if s.keys, err = newKeys(cfg.Store, cfg.SigningAlg, cfg.KeyPublishDelay, maxTTL, cfg.Now, s.log); err != nil {
		return nil, err
	}
	if err := s.keys.init(ctx); err != nil {
		return nil, fmt.Errorf("idp: signing keys: %w", err)
	}

	// Keys shared by every instance: opaque access tokens made on one must
	// decrypt on another, and so must session cookies.
	cryptoKey := cfg.CryptoKey
	if cryptoKey == nil {
		if cryptoKey, err = cfg.Store.Secret(ctx, "token-encryption-key", randomBytes(32)); err != nil {
			return nil, fmt.Errorf("idp: token encryption key: %w", err)
		}
	}
	hashKey, err := cfg.Store.Secret(ctx, "cookie-hash-key", randomBytes(64))
	if err != nil {
		return nil, fmt.Errorf("idp: cookie key: %w", err)
	}
	blockKey, err := cfg.Store.Secret(ctx, "cookie-block-key", randomBytes(32))
	if err != nil {
		return nil, fmt.Errorf("idp: cookie key: %w", err)
	}
	s.sessions = sessions.NewCookieStore(hashKey, blockKey)
	s.sessions.Options = &sessions.Options{
		Path:     "/",
		HttpOnly: true,
		Secure:   !cfg.insecure(),
		SameSite: http.SameSiteLaxMode,
	}
	// MaxAge sets the cookie's Max-Age and the codec's own limit alike:
	// securecookie otherwise accepts a cookie for 30 days whatever the
	// browser was told, so a copied cookie (and its CSRF token) would
	// outlive its stated lifetime by weeks.
	s.sessions.MaxAge(int(s.cfg.SessionTTL / time.Second))

	if s.qr, err = grants.New(grants.Config{
		Store: cfg.Store, Issuer: cfg.Issuer, QRTTL: cfg.QRTTL, PollInterval: cfg.PollInterval,
		TicketTTL: cfg.TicketTTL, MaxHeld: cfg.MaxHeldPolls, MaxWait: max(30*time.Second, cfg.StatusHold), Now: cfg.Now, Logger: s.log, Observe: s.qrStep, Tracer: tracer,
		Refused: s.countRefusal,
	}); err != nil {
		return nil, err
	}
	s.clients = newClientCache(cfg.Store, cfg.ClientCacheTTL, cfg.Now)
	s.origins = newOriginSet(cfg.Store, cfg.ClientCacheTTL, cfg.Now)
	s.dpop = &dpop.Verifier{Store: cfg.Store, Now: cfg.Now}
	s.limiter = newLimiter(cfg.Now)
	s.guesses = newLimiter(cfg.Now)
	s.sessionHolds = newHolds(maxHeldPerSession)
	s.lockouts = newLockouts(cfg.PasswordAttempts, cfg.PasswordLockout, cfg.PasswordLockoutMax, cfg.Now)
	s.hashes = password.NewGate(cfg.HashConcurrency, 8*cfg.HashConcurrency, cfg.HashWait)
	if s.pages, err = templates.Parse(); err != nil {
		return nil, err
	}

	opCfg := &op.Config{
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime: cfg.QRTTL, PollInterval: cfg.PollInterval, UserFormPath: "/device",
		},
	}
	copy(opCfg.CryptoKey[:], cryptoKey)
	opts := []op.Option{op.WithCrypto(newTokenCrypto(opCfg.CryptoKey, opCfg.CryptoKeyId))}
	if cfg.insecure() {
		opts = append(opts, op.WithAllowInsecure())
	}
	s.op = &opStorage{store: cfg.Store, keys: s.keys, cfg: &s.cfg, log: s.log, securityEvent: s.securityEvent}
	if s.provider, err = op.NewProvider(opCfg, s.op, op.StaticIssuer(cfg.Issuer), opts...); err != nil {
		return nil, err
	}
	s.legacy = &legacyServer{
		LegacyServer: op.NewLegacyServer(s.provider, op.Endpoints{
			Authorization:       op.NewEndpoint(pathAuthorize),
			Token:               op.NewEndpoint(pathToken),
			Introspection:       op.NewEndpoint(pathIntrospect),
			Userinfo:            op.NewEndpoint(pathUserinfo),
			Revocation:          op.NewEndpoint(pathRevoke),
			EndSession:          op.NewEndpoint(pathEndSession),
			JwksURI:             op.NewEndpoint(pathKeys),
			DeviceAuthorization: op.NewEndpoint(pathQRAuthorize),
		}),
		s: s,
	}
	// zitadel's CORS (any origin, with credentials, on every route) is
	// off: the middleware applies qrlogin's (cors.go).
	s.oidc = retryAfter(op.RegisterLegacyServer(s.legacy, op.AuthorizeCallbackHandler(s.provider), op.WithServerCORSOptions(nil),
		// A path no route serves: the site's 404 page, or JSON under an
		// API path (errorpages.go); zitadel's router answered plain text.
		op.WithSetRouter(func(r chi.Router) { r.NotFound(s.handleNotFound) })))
	s.handler = s.routes()
	return s, nil
}

func randomBytes(n int) func() []byte {
	return func() []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Keys is the signing key manager (for the admin API).
func (s *Server) Keys() *Keys { return s.keys }

// QR is the QR grant (for tests and the demo).
func (s *Server) QR() *grants.QR { return s.qr }

// Drain starts a graceful shutdown of this instance: /ready answers 503
// from now on, so load balancers stop sending traffic here, and the
// long-polls (QR grant polls with wait, the hosted page's status) held now
// are answered at once with their current state, to be polled again at
// another instance. Everything else is still served: serve stops
// accepting connections later and lets in-flight requests finish.
func (s *Server) Drain() { s.qr.Drain() }

func (s *Server) draining() bool {
	select {
	case <-s.qr.Draining():
		return true
	default:
		return false
	}
}

// Issuer is the configured issuer URL.
func (s *Server) Issuer() string { return s.cfg.Issuer }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	// The client-facing JSON endpoints take the methods their RFCs name;
	// any other method is 405, never zitadel's catch-all route (which
	// served GET /oauth/token).
	mux.HandleFunc("POST /"+pathToken, s.handleToken)
	mux.HandleFunc("/"+pathToken, methodNotAllowed(http.MethodPost))
	mux.HandleFunc("POST /"+pathRevoke, s.handleRevoke) // RFC 7009 §2.1
	mux.HandleFunc("/"+pathRevoke, methodNotAllowed(http.MethodPost))
	mux.HandleFunc("POST /"+pathIntrospect, s.handleIntrospect) // RFC 7662 §2.1
	mux.HandleFunc("/"+pathIntrospect, methodNotAllowed(http.MethodPost))
	mux.HandleFunc("GET /"+pathUserinfo, s.handleUserinfo) // OIDC Core §5.3.1: GET and POST
	mux.HandleFunc("POST /"+pathUserinfo, s.handleUserinfo)
	mux.HandleFunc("/"+pathUserinfo, methodNotAllowed("GET, POST"))
	mux.HandleFunc("POST /"+pathQRAuthorize, s.handleQRAuthorize) // RFC 8628 §3.1
	mux.HandleFunc("/"+pathQRAuthorize, methodNotAllowed(http.MethodPost))
	mux.HandleFunc("/"+pathAuthorize, s.handleAuthorize)
	mux.HandleFunc("/"+pathEndSession, s.handleEndSession)
	mux.HandleFunc("POST "+pathEndSessionConfirm, s.handleEndSessionConfirm)
	mux.HandleFunc("/"+pathAuthorize+"/callback", s.handleAuthorizeCallback)
	mux.HandleFunc("GET "+oidc.DiscoveryEndpoint, s.handleMetadata)                 // OpenID Connect Discovery §4
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.handleMetadata) // RFC 8414 §3
	mux.HandleFunc("POST /qr/scan", s.handleScan)
	mux.HandleFunc("POST /qr/confirm", s.handleDecide(true))
	mux.HandleFunc("POST /qr/deny", s.handleDecide(false))
	mux.HandleFunc("GET /account/notifications", s.handleNotifications)
	mux.HandleFunc("GET /account/sessions", s.handleListSessions)
	mux.HandleFunc("DELETE /account/sessions/{id}", s.handleEndBrowserSession)
	mux.HandleFunc("POST /account/sessions/{id}/end", s.handleEndBrowserSession)
	mux.HandleFunc("POST /account/notifications/{id}/revoke", s.handleRevokeSession)
	mux.HandleFunc("POST /account/password", s.handleChangePassword)
	mux.HandleFunc("GET /login", s.handleLoginPage)
	mux.HandleFunc("POST /login", s.handleLogin)
	mux.HandleFunc("GET /login/status", s.handleLoginStatus)
	mux.HandleFunc("POST /login/qr", s.handleLoginNewQR)
	mux.HandleFunc("GET /device", s.handleDevicePage)
	mux.HandleFunc("POST /device", s.handleDevice)
	mux.HandleFunc("GET /q/{qr_id}", s.handleQRPage)
	mux.HandleFunc("POST /q/decide", s.handleDecidePage)
	mux.HandleFunc("GET /q/decide", s.formOnly)
	mux.HandleFunc("GET "+pathEndSessionConfirm, s.formOnly)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(templates.Static())))
	mux.Handle("/", s.oidc)
	return s.middleware(mux)
}

// Cleanup removes expired rows, and audit events and notifications past
// their retention, in batches of cleanupBatch per kind, each a short
// statement of its own so the hot paths never wait on it; it keeps going
// while batches come back full (at a thousand logins a second, a minute
// leaves 60,000 rows), and deletes retired keys. serve runs it every minute; every instance may,
// the deletes are idempotent.
func (s *Server) Cleanup(ctx context.Context) (int, error) {
	total := 0
	for _, del := range []func(context.Context, time.Time, int) (int, error){
		func(ctx context.Context, now time.Time, n int) (int, error) {
			return s.store.DeleteExpired(ctx, now.Add(-time.Minute), n)
		},
		func(ctx context.Context, now time.Time, n int) (int, error) {
			return s.store.DeleteAuditEvents(ctx, now.Add(-s.cfg.AuditRetention), n)
		},
		func(ctx context.Context, now time.Time, n int) (int, error) {
			return s.store.DeleteNotifications(ctx, now.Add(-s.cfg.NotificationRetention), n)
		},
	} {
		for range 1000 {
			n, err := del(ctx, s.cfg.Now(), cleanupBatch)
			total += n
			if err != nil {
				return total, err
			}
			if n < cleanupBatch {
				break
			}
		}
	}
	return total, s.keys.DeleteRetired(ctx)
}

const cleanupBatch = 1000

// legacyServer is zitadel's LegacyServer with the parts qrlogin changes.
type legacyServer struct {
	*op.LegacyServer
	s *Server
}

// VerifyAuthRequest is zitadel's, except that an unknown client_id is the
// caller's error (400 invalid_request), not a 500: RFC 6749 §4.1.2.1 says
// to inform the user and not redirect, which handleAuthorize does.
//
// PKCE (RFC 7636, RFC 9700 §2.1.1): public clients must send a
// code_challenge, and only S256 is accepted — zitadel would take any
// unknown method as plain, where RFC 7636 §4.4.1 wants invalid_request.
//
// The scopes are decided by grantScopes, the policy of /qr/authorize too
// (zitadel would drop unknown ones silently and keep address and phone),
// and response_mode must be one discovery lists (zitadel would answer an
// unknown one in the query).
func (l *legacyServer) VerifyAuthRequest(ctx context.Context, r *op.Request[oidc.AuthRequest]) (*op.ClientRequest[oidc.AuthRequest], error) {
	if r.Data.ClientID != "" {
		c, err := l.s.clients.get(ctx, r.Data.ClientID, false)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, oidc.ErrInvalidRequest().WithDescription("unknown client_id")
		} else if err != nil {
			return nil, errStore(ctx, l.s.log, err)
		}
		if r.Data.CodeChallenge == "" && c.Type == storage.ClientPublic {
			return nil, oidc.ErrInvalidRequest().WithDescription("public clients must use PKCE (code_challenge with S256)")
		}
		scopes, err := grantScopes(c, r.Data.Scopes, false)
		var refused *oauth.Error
		if errors.As(err, &refused) {
			return nil, oidc.ErrInvalidScope().WithDescription("%s", refused.Description)
		}
		r.Data.Scopes = scopes
	}
	if r.Data.CodeChallenge != "" && r.Data.CodeChallengeMethod != codeChallengeMethod {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	if m := r.Data.ResponseMode; m != "" && !slices.Contains(responseModes, string(m)) {
		return nil, oidc.ErrInvalidRequest().WithDescription("unsupported response_mode (supported: %s)", strings.Join(responseModes, ", "))
	}
	return l.LegacyServer.VerifyAuthRequest(ctx, r)
}

// CodeExchange is zitadel's, with two rules added: a request made with a
// code_challenge must be redeemed with a code_verifier, whatever the
// client type (zitadel skips PKCE for confidential clients that omit the
// verifier, which is the downgrade RFC 9700 §2.1.1 warns about); and a
// request made with dpop_jkt only with a DPoP proof of that key (RFC 9449
// §10), and a client with dpop_bound_access_tokens only with a proof
// (§5.2), checked before the code is read so a refusal does not spend it.
// The answer's token_type says whether the tokens are DPoP-bound.
func (l *legacyServer) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	if err := clientRequiresDPoP(ctx, r.Client); err != nil {
		return nil, err
	}
	authReq, err := op.AuthRequestByCode(ctx, l.Provider().Storage(), r.Data.Code)
	if err != nil {
		return nil, err
	}
	if authReq.GetCodeChallenge() != nil || r.Client.AuthMethod() == oidc.AuthMethodNone || r.Data.CodeVerifier != "" {
		if err = op.AuthorizeCodeChallenge(r.Data.CodeVerifier, authReq.GetCodeChallenge()); err != nil {
			return nil, err
		}
	}
	if r.Client.GetID() != authReq.GetClientID() {
		return nil, oidc.ErrInvalidGrant()
	}
	if r.Data.RedirectURI != authReq.GetRedirectURI() {
		return nil, oidc.ErrInvalidGrant().WithDescription("redirect_uri does not correspond")
	}
	if a, ok := authReq.(*authRequest); ok {
		if e := grantBinding(ctx, a.a.DPoPJKT, "the authorization code"); e != nil {
			return nil, oidcErr(e)
		}
	}
	resp, err := l.s.mint(ctx, authReq, r.Client, r.Data.Code, "")
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

// RefreshToken is zitadel's, minting through mint like every grant. The
// refresh token's DPoP binding is checked where it is read
// (TokenRequestByRefreshToken, RFC 9449 §5).
func (l *legacyServer) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	if err := clientRequiresDPoP(ctx, r.Client); err != nil {
		return nil, err
	}
	req, err := op.RefreshTokenRequestByRefreshToken(ctx, l.Provider().Storage(), r.Data.RefreshToken)
	if err != nil {
		return nil, err
	}
	if r.Client.GetID() != req.GetClientID() {
		return nil, oidc.ErrInvalidGrant()
	}
	if err := op.ValidateRefreshTokenScopes(r.Data.Scopes, req); err != nil {
		return nil, err
	}
	resp, err := l.s.mint(ctx, req, r.Client, "", r.Data.RefreshToken)
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

// registered is the stored client behind zitadel's op.Client, nil for a
// client not of this provider.
func registered(c op.Client) *storage.Client {
	if cl, ok := c.(*client); ok {
		return cl.c
	}
	return nil
}

// Ready answers 503 while the store is unreachable (zitadel's would say
// 500), so a load balancer takes the instance out instead of logging an
// error; it comes back by itself when the store does.
//
// While draining it answers 503 too, before the store is asked:
// temporarily_unavailable, which zitadel logs at warn (a server_error
// would be an ERROR record for every probe of every load balancer during
// every drain).
func (l *legacyServer) Ready(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	if l.s.draining() {
		return nil, zitadelErr(oauth.New(oauth.TemporarilyUnavail, "shutting down").WithStatus(http.StatusServiceUnavailable))
	}
	if err := l.s.store.Ping(ctx); err != nil {
		return nil, unavailable(err)
	}
	return op.NewResponse(op.Status{Status: "ok"}), nil
}

// errStore maps a store failure for zitadel's handlers through the one
// mapping, oauth.StoreError, into the StatusError zitadel's WriteError
// honours: 503 temporarily_unavailable for an outage, otherwise 500
// server_error "internal error". zitadel sends the description, never the
// cause (a raw error would become the description: the database's user,
// name, host and port on the /authorize page); the cause stays the
// parent, for errors.Is, and a 500's cause is logged here with the
// request's id. nil maps to nil.
func errStore(ctx context.Context, log *slog.Logger, err error) error {
	e := oauth.StoreError(err)
	if e == nil {
		return nil
	}
	if e.Status != http.StatusServiceUnavailable {
		log.ErrorContext(ctx, "store failure", "err", err)
	}
	return zitadelErr(e)
}

// unavailable is the outage answer for zitadel's handlers, where zitadel
// made something else of an outage it did not recognise.
func unavailable(cause error) error { return zitadelErr(oauth.Unavailable(cause)) }

// zitadelErr is e as zitadel writes it: code, description and status.
// e itself is the parent, so errors.As finds it again where zitadel
// folded the error into another answer (storeAnswer).
func zitadelErr(e *oauth.Error) error {
	oe := &oidc.Error{ErrorType: oidc.ServerError, Description: e.Description, Parent: e}
	if e.Code == oauth.TemporarilyUnavail {
		oe.ErrorType = oauth.TemporarilyUnavail
	}
	return op.NewStatusError(oe, e.Status)
}

// storeAnswer gives a store failure back its own answer (503 or 500,
// from errStore) where zitadel folded it into another: a 403 at
// /userinfo, a bare 500 at revocation.
func storeAnswer(err error) error {
	var e *oauth.Error
	if errors.As(err, &e) && e.Status >= http.StatusInternalServerError {
		return zitadelErr(e)
	}
	return err
}

// Revocation is zitadel's, but a store outage is a 503: the token was not
// revoked, and the client must retry (RFC 7009 §2.2.1).
func (l *legacyServer) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	resp, err := l.LegacyServer.Revocation(ctx, r)
	return resp, storeAnswer(err)
}
