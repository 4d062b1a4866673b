package idp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/qrlogin/qrlogin/idp/dpop"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// Scope that lets a first-party phone app scan and confirm QR logins.
const ScopeQRApprove = "qr:approve"

// Grant type names of the QR login (SPEC §2.2); the list of all grants is
// oauth.GrantTypes.
const (
	GrantQR         = oauth.GrantQR
	GrantDeviceCode = oauth.GrantDeviceCode
)

// AMR values (RFC 8176 §2 where one exists).
const (
	amrQR  = "qr"
	amrPwd = "pwd"
)

// opStorage adapts storage.Store to zitadel's op.Storage. It is the only
// place that knows both vocabularies. Store failures leave through
// errStore, so an unreachable database is a 503 on zitadel's endpoints as
// on qrlogin's own, and any other failure a 500 without its text.
type opStorage struct {
	store storage.Store
	keys  *Keys
	cfg   *Config
	log   *slog.Logger
	// securityEvent is Server.securityEvent.
	securityEvent func(ctx context.Context, event, msg string, attrs ...slog.Attr)
}

// errStore is the package's errStore with this adapter's logger.
func (o *opStorage) errStore(ctx context.Context, err error) error { return errStore(ctx, o.log, err) }

var (
	_ op.Storage                   = (*opStorage)(nil)
	_ op.CanSetUserinfoFromRequest = (*opStorage)(nil)
)

func (o *opStorage) now() time.Time { return o.cfg.Now().UTC().Truncate(time.Microsecond) }

// notFound is what zitadel recognises as "no such thing" (op.StorageNotFoundError).
type notFound struct{ error }

func (notFound) IsNotFound() {}

// --- clients ---------------------------------------------------------------

// client adapts storage.Client to op.Client.
type client struct {
	c   *storage.Client
	cfg *Config
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.c.ID }
func (c *client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }

// ApplicationType: confidential clients are web apps; public clients are
// native apps (RFC 8252), which may use loopback redirects on any port.
func (c *client) ApplicationType() op.ApplicationType {
	if c.c.Type == storage.ClientConfidential {
		return op.ApplicationTypeWeb
	}
	return op.ApplicationTypeNative
}

// AuthMethod: zitadel accepts the secret from Basic or the form for
// client_secret_basic, so both RFC 6749 §2.3.1 methods work.
func (c *client) AuthMethod() oidc.AuthMethod {
	if c.c.Type == storage.ClientConfidential {
		return oidc.AuthMethodBasic
	}
	return oidc.AuthMethodNone
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *client) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, len(c.c.GrantTypes))
	for i, g := range c.c.GrantTypes {
		out[i] = oidc.GrantType(g)
	}
	return out
}

func (c *client) HasGrant(g string) bool { return slices.Contains(c.c.GrantTypes, g) }

func (c *client) LoginURL(id string) string { return c.cfg.Issuer + "/login?id=" + id }

func (c *client) AccessTokenType() op.AccessTokenType {
	if c.c.AccessTokenType == "jwt" {
		return op.AccessTokenTypeJWT
	}
	return op.AccessTokenTypeBearer
}

func (c *client) IDTokenLifetime() time.Duration { return c.cfg.IDTokenTTL }
func (c *client) DevMode() bool                  { return false }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed answers by the one scope policy (grantScopes).
// VerifyAuthRequest has applied it already; zitadel asks again for scopes
// outside its own standard list (qr:approve) and drops those refused.
func (c *client) IsScopeAllowed(scope string) bool { return scopeAllowed(c.c, scope, false) }

// IDTokenUserinfoClaimsAssertion puts the profile and email claims the
// scopes allow into the ID token itself (SPEC §2.2), not only /userinfo.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }

// GetClientByClientID implements op.OPStorage.
func (o *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := o.store.Client(ctx, id)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, notFound{fmt.Errorf("client not found")}
		}
		return nil, o.errStore(ctx, err)
	}
	setClientID(ctx, c.ID)
	return &client{c: c, cfg: o.cfg}, nil
}

// AuthorizeClientIDSecret implements op.OPStorage. Secrets are random and
// stored as SHA-256, so this is a hash compare in constant time, costing
// microseconds: every poll authenticates the client.
func (o *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := o.store.Client(ctx, id)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			return o.errStore(ctx, err) // not invalid_client: the secret may be right
		}
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	if !secretMatches(c, secret) {
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return nil
}

func secretMatches(c *storage.Client, secret string) bool {
	if c.Type != storage.ClientConfidential || len(c.SecretHash) == 0 || secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare(storage.Hash(secret), c.SecretHash) == 1
}

// --- authorization requests -------------------------------------------------

// authRequest adapts storage.AuthRequest to op.AuthRequest.
type authRequest struct{ a *storage.AuthRequest }

var _ op.AuthRequest = (*authRequest)(nil)

func (r *authRequest) GetID() string          { return r.a.ID }
func (r *authRequest) GetACR() string         { return sessionACR(r.a.SessionChoice) }
func (r *authRequest) GetAMR() []string       { return r.a.AMR }
func (r *authRequest) GetAudience() []string  { return []string{r.a.ClientID} }
func (r *authRequest) GetAuthTime() time.Time { return r.a.AuthTime }
func (r *authRequest) GetClientID() string    { return r.a.ClientID }
func (r *authRequest) GetNonce() string       { return r.a.Nonce }
func (r *authRequest) GetRedirectURI() string { return r.a.RedirectURI }
func (r *authRequest) GetScopes() []string    { return sessionScopes(r.a.SessionChoice, r.a.Scopes) }
func (r *authRequest) GetState() string       { return r.a.State }
func (r *authRequest) GetSubject() string     { return r.a.Subject }
func (r *authRequest) Done() bool             { return r.a.Done }
func (r *authRequest) sessionID() string      { return r.a.SessionID }
func (r *authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(r.a.ResponseMode)
}
func (r *authRequest) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(r.a.ResponseType)
}
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if r.a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: r.a.CodeChallenge, Method: oidc.CodeChallengeMethod(r.a.CodeChallengeMethod)}
}

// CreateAuthRequest implements op.AuthStorage.
func (o *opStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	now := o.now()
	a := &storage.AuthRequest{
		ID:           storage.NewSecret(16),
		ClientID:     req.ClientID,
		RedirectURI:  req.RedirectURI,
		State:        req.State,
		Nonce:        req.Nonce,
		Scopes:       req.Scopes,
		ResponseType: string(req.ResponseType),
		ResponseMode: string(req.ResponseMode),
		Prompt:       req.Prompt,
		LoginHint:    req.LoginHint,
		MaxAge:       req.MaxAge,
		SessionID:    storage.NewSecret(16),
		DPoPJKT:      authorizeJKTOf(ctx),
		CreatedAt:    now,
		ExpiresAt:    now.Add(o.cfg.AuthRequestTTL),
	}
	if req.CodeChallenge != "" {
		a.CodeChallenge = req.CodeChallenge
		a.CodeChallengeMethod = string(req.CodeChallengeMethod)
		if a.CodeChallengeMethod == "" {
			a.CodeChallengeMethod = string(oidc.CodeChallengeMethodPlain)
		}
	}
	if err := o.store.CreateAuthRequest(ctx, a); err != nil {
		return nil, o.errStore(ctx, err)
	}
	return &authRequest{a}, nil
}

// AuthRequestByID implements op.AuthStorage.
func (o *opStorage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	a, err := o.store.AuthRequest(ctx, id, o.now())
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, notFound{errors.New("auth request not found")}
		}
		return nil, o.errStore(ctx, err)
	}
	return &authRequest{a}, nil
}

// AuthRequestByCode implements op.AuthStorage. The code is consumed in the
// same atomic operation: of two concurrent exchanges only one gets the
// request (RFC 6749 §4.1.2: a code is used once). A code used before is
// refused, and the store revokes every token issued from it in the same
// operation (§4.1.2: SHOULD revoke), on whichever instance they were
// minted: the code was intercepted, or the client is confused, and
// either way no one should keep what the first use obtained.
func (o *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	a, err := o.store.ConsumeAuthCode(ctx, storage.Hash(code), o.now(), o.sessionTombstone())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, notFound{errors.New("code not found")}
	case errors.Is(err, storage.ErrConflict):
		return nil, oidc.ErrInvalidGrant().WithDescription("the code was already used; the tokens issued from it are revoked")
	case err != nil:
		return nil, o.errStore(ctx, err)
	}
	return &authRequest{a}, nil
}

// SaveAuthCode implements op.AuthStorage: only the code's hash is kept.
func (o *opStorage) SaveAuthCode(ctx context.Context, id, code string) error {
	return o.errStore(ctx, o.store.SaveAuthCode(ctx, id, storage.Hash(code)))
}

// DeleteAuthRequest implements op.AuthStorage.
func (o *opStorage) DeleteAuthRequest(ctx context.Context, id string) error {
	err := o.store.DeleteAuthRequest(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return o.errStore(ctx, err)
}

// --- tokens ----------------------------------------------------------------

// qrTokenRequest is a redeemed QR login on its way to becoming tokens. It
// implements op.AuthRequest (not only op.IDTokenRequest) so that zitadel
// copies the nonce into the ID token and issues a refresh token for
// offline_access, exactly as for the code flow. Its tokens were inserted
// by the redeem itself (qrMinter): the storage methods zitadel calls hand
// them back, and its user was read by the redeem too.
type qrTokenRequest struct {
	login   *storage.QRLogin
	user    *storage.User
	tokens  *storage.Tokens
	refresh string // the refresh token's secret; "" without one
}

var _ op.AuthRequest = (*qrTokenRequest)(nil)

func (r *qrTokenRequest) GetID() string { return r.login.ID }
func (r *qrTokenRequest) GetACR() string {
	if r.login.SessionChoice == "" {
		return acrKeep
	}
	return sessionACR(r.login.SessionChoice)
}
func (r *qrTokenRequest) GetAMR() []string                      { return []string{amrQR} }
func (r *qrTokenRequest) GetAudience() []string                 { return []string{r.login.ClientID} }
func (r *qrTokenRequest) GetAuthTime() time.Time                { return r.login.DecidedAt }
func (r *qrTokenRequest) GetClientID() string                   { return r.login.ClientID }
func (r *qrTokenRequest) GetCodeChallenge() *oidc.CodeChallenge { return nil }
func (r *qrTokenRequest) GetNonce() string                      { return r.login.Nonce }
func (r *qrTokenRequest) GetRedirectURI() string                { return "" }
func (r *qrTokenRequest) GetResponseType() oidc.ResponseType    { return oidc.ResponseTypeCode }
func (r *qrTokenRequest) GetResponseMode() oidc.ResponseMode    { return "" }
func (r *qrTokenRequest) GetScopes() []string {
	return sessionScopes(r.login.SessionChoice, r.login.Scopes)
}

// sessionScopes are the scopes a login's tokens get after the user's
// session choice: "only this session" drops offline_access, so no refresh
// token is issued (OIDC Core §11).
func sessionScopes(choice string, scopes []string) []string {
	if choice == storage.SessionThisSession {
		return storage.WithoutOfflineAccess(scopes)
	}
	return scopes
}

// sessionACR is the acr of a QR login's tokens: the session choice; ""
// for a login without one (a password sign-in).
func sessionACR(choice string) string {
	switch choice {
	case storage.SessionThisSession:
		return acrThisSession
	case storage.SessionKeep:
		return acrKeep
	}
	return ""
}
func (r *qrTokenRequest) GetState() string   { return "" }
func (r *qrTokenRequest) GetSubject() string { return r.login.Subject }
func (r *qrTokenRequest) Done() bool         { return true }
func (r *qrTokenRequest) sessionID() string  { return r.login.ID }

// refreshTokenRequest adapts a stored refresh token to op.RefreshTokenRequest.
type refreshTokenRequest struct {
	t      *storage.RefreshToken
	scopes []string
}

var _ op.RefreshTokenRequest = (*refreshTokenRequest)(nil)

func (r *refreshTokenRequest) GetAMR() []string       { return r.t.AMR }
func (r *refreshTokenRequest) GetAudience() []string  { return r.t.Audience }
func (r *refreshTokenRequest) GetAuthTime() time.Time { return r.t.AuthTime }
func (r *refreshTokenRequest) GetClientID() string    { return r.t.ClientID }
func (r *refreshTokenRequest) GetScopes() []string    { return r.scopes }
func (r *refreshTokenRequest) GetSubject() string     { return r.t.Subject }
func (r *refreshTokenRequest) SetCurrentScopes(s []string) {
	r.scopes = s
}
func (r *refreshTokenRequest) sessionID() string { return r.t.SessionID }

// tokenOrigin is what every token request we mint from tells us.
type tokenOrigin interface {
	sessionID() string
	GetAMR() []string
	GetAuthTime() time.Time
}

func (o *opStorage) newAccessToken(req op.TokenRequest, sessionID, refreshID string) *storage.AccessToken {
	now := o.now()
	clientID := ""
	if aud := req.GetAudience(); len(aud) > 0 {
		clientID = aud[0]
	}
	if c, ok := req.(interface{ GetClientID() string }); ok {
		clientID = c.GetClientID()
	}
	return &storage.AccessToken{
		ID:             storage.NewSecret(16),
		ClientID:       clientID,
		Subject:        req.GetSubject(),
		Audience:       req.GetAudience(),
		Scopes:         req.GetScopes(),
		SessionID:      sessionID,
		RefreshTokenID: refreshID,
		CreatedAt:      now,
		ExpiresAt:      now.Add(accessTTL(req, o.cfg.AccessTokenTTL)),
	}
}

// accessTTL is the lifetime of an access token minted for req: short for
// a QR login of the hosted page whose user chose "only this session".
func accessTTL(req op.TokenRequest, ttl time.Duration) time.Duration {
	if a, ok := req.(*authRequest); ok && a.a.SessionChoice == storage.SessionThisSession {
		return min(ttl, thisSessionAccessTTL)
	}
	return ttl
}

// CreateAccessToken implements op.AuthStorage.
func (o *opStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	if q, ok := req.(*qrTokenRequest); ok {
		if q.tokens.RefreshID != "" {
			return "", time.Time{}, errNotMinted
		}
		return q.tokens.AccessID, q.tokens.AccessExpiresAt, nil // inserted by the redeem
	}
	origin, ok := req.(tokenOrigin)
	if !ok {
		return "", time.Time{}, fmt.Errorf("idp: unsupported token request %T", req)
	}
	t := o.newAccessToken(req, origin.sessionID(), "")
	t.JKT = boundJKT(ctx)
	if err := o.store.CreateAccessToken(ctx, t); err != nil {
		return "", time.Time{}, o.mintErr(ctx, err)
	}
	return t.ID, t.ExpiresAt, nil
}

// CreateAccessAndRefreshTokens implements op.AuthStorage. With a current
// refresh token it rotates: the old one is marked used and the new one
// joins its family in one atomic step (RFC 9700 §4.14.2). A rotation that
// loses (the old token was used already) is reuse: the family is revoked.
func (o *opStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	if q, ok := req.(*qrTokenRequest); ok {
		if q.tokens.RefreshID == "" || current != "" {
			return "", "", time.Time{}, errNotMinted
		}
		return q.tokens.AccessID, q.refresh, q.tokens.AccessExpiresAt, nil // inserted by the redeem
	}
	origin, ok := req.(tokenOrigin)
	if !ok {
		return "", "", time.Time{}, fmt.Errorf("idp: unsupported token request %T", req)
	}
	now := o.now()
	secret := storage.NewSecret(32)
	rt := &storage.RefreshToken{
		ID:        storage.NewSecret(16),
		TokenHash: storage.Hash(secret),
		SessionID: origin.sessionID(),
		ClientID:  req.GetAudience()[0],
		Subject:   req.GetSubject(),
		Audience:  req.GetAudience(),
		Scopes:    req.GetScopes(),
		AMR:       origin.GetAMR(),
		AuthTime:  origin.GetAuthTime(),
		JKT:       boundJKT(ctx),
		CreatedAt: now,
		ExpiresAt: now.Add(o.cfg.RefreshTokenTTL),
	}
	if c, ok := req.(interface{ GetClientID() string }); ok {
		rt.ClientID = c.GetClientID()
	}
	if current == "" {
		if err := o.store.CreateRefreshToken(ctx, rt); err != nil {
			return "", "", time.Time{}, o.mintErr(ctx, err)
		}
	} else {
		err := o.store.RotateRefreshToken(ctx, storage.Hash(current), rt, now)
		if errors.Is(err, storage.ErrConflict) {
			o.tokenReuse(ctx, rt.ClientID, rt.Subject)
			if rerr := o.store.RevokeSession(ctx, origin.sessionID(), o.sessionTombstone()); rerr != nil {
				return "", "", time.Time{}, o.errStore(ctx, rerr)
			}
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token already used")
		}
		if err != nil {
			return "", "", time.Time{}, o.errStore(ctx, err)
		}
	}
	at := o.newAccessToken(req, origin.sessionID(), rt.ID)
	at.JKT = rt.JKT
	if err := o.store.CreateAccessToken(ctx, at); err != nil {
		return "", "", time.Time{}, o.mintErr(ctx, err)
	}
	return at.ID, secret, at.ExpiresAt, nil
}

// mintErr maps a refused token insert: the session was revoked ("this
// wasn't me" came first), so the grant is no longer valid.
func (o *opStorage) mintErr(ctx context.Context, err error) error {
	if errors.Is(err, storage.ErrConflict) {
		return oidc.ErrInvalidGrant().WithDescription("the session was revoked").WithParent(err)
	}
	return o.errStore(ctx, err)
}

// TokenRequestByRefreshToken implements op.AuthStorage. Presenting a
// rotated refresh token is reuse: the whole family is revoked (RFC 9700
// §4.14.2), so a thief and the victim both lose it.
func (o *opStorage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	t, err := o.store.RefreshTokenByHash(ctx, storage.Hash(token))
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, op.ErrInvalidRefreshToken
		}
		return nil, o.errStore(ctx, err)
	}
	if !t.RotatedAt.IsZero() && !t.Revoked {
		o.tokenReuse(ctx, t.ClientID, t.Subject)
		if err := o.store.RevokeSession(ctx, t.SessionID, o.sessionTombstone()); err != nil {
			return nil, o.errStore(ctx, err)
		}
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token already used")
	}
	if t.Revoked || !o.now().Before(t.ExpiresAt) {
		return nil, op.ErrInvalidRefreshToken
	}
	if err := o.refreshBinding(ctx, t); err != nil {
		return nil, err
	}
	return &refreshTokenRequest{t: t, scopes: t.Scopes}, nil
}

// tokenReuse records a rotated refresh token presented again: stolen, or
// a client that lost its successor (RFC 9700 §4.14.2). The whole family
// is revoked; the log says whose.
func (o *opStorage) tokenReuse(ctx context.Context, clientID, subject string) {
	o.securityEvent(ctx, eventTokenReuse, "refresh token reuse: the token family is revoked",
		slog.String("client_id", clientID), slog.String("sub", subject))
}

// sessionTombstone is how long a revoked session refuses new tokens: as
// long as anything of it could still be minted or refreshed.
func (o *opStorage) sessionTombstone() time.Time { return tombstone(o.cfg) }

func tombstone(c *Config) time.Time {
	return c.Now().UTC().Add(max(c.RefreshTokenTTL, c.AccessTokenTTL, c.QRTTL, c.AuthRequestTTL))
}

// TerminateSession implements op.AuthStorage. zitadel never calls it:
// end_session is served by handleEndSession (logout.go), which ends the
// browser session and revokes no tokens.
func (o *opStorage) TerminateSession(context.Context, string, string) error { return nil }

// RevokeToken implements op.AuthStorage (RFC 7009). A client may revoke
// only its own tokens; revoking a refresh token also revokes the access
// tokens of its grant (RFC 7009 §2.1).
func (o *opStorage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	if userID != "" { // an access token ID
		t, err := o.store.AccessToken(ctx, tokenOrID, o.now())
		if errors.Is(err, storage.ErrNotFound) {
			return nil // RFC 7009 §2.2: unknown tokens are not an error
		}
		if err != nil {
			return o.revokeErr(ctx, err)
		}
		if t.ClientID != clientID {
			return errNotYourToken()
		}
		if err := o.store.RevokeAccessToken(ctx, t.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return o.revokeErr(ctx, err)
		}
		return nil
	}
	t, err := o.store.RefreshTokenByHash(ctx, storage.Hash(tokenOrID))
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return o.revokeErr(ctx, err)
	}
	if t.ClientID != clientID {
		return errNotYourToken()
	}
	if err := o.store.RevokeSession(ctx, t.SessionID, o.sessionTombstone()); err != nil {
		return o.revokeErr(ctx, err)
	}
	return nil
}

// revokeErr: a revocation the store could not do must fail rather than
// report success for a token it could not even look up (RFC 7009 §2.2
// treats only unknown tokens as success). RevokeToken must return an
// *oidc.Error, and zitadel's RevocationError answers every server_error
// with 500: the Revocation override makes it a 503 while the store is
// out. The description is the one mapping's (oauth.StoreError).
func (o *opStorage) revokeErr(ctx context.Context, err error) *oidc.Error {
	e := oauth.StoreError(err)
	if e.Status != http.StatusServiceUnavailable {
		o.log.ErrorContext(ctx, "store failure", "err", err)
	}
	return oidc.ErrServerError().WithDescription("%s", e.Description).WithParent(e)
}

// errNotYourToken refuses to revoke another client's token (RFC 7009
// §2.1). The client did authenticate, so this is unauthorized_client
// (400), not invalid_client, whose 401 would say its credentials failed.
func errNotYourToken() *oidc.Error {
	return oidc.ErrUnauthorizedClient().WithDescription("the token was not issued to this client")
}

// GetRefreshTokenInfo implements op.AuthStorage; only revocation calls it.
// zitadel passes what it returns to RevokeToken, which reads a non-empty
// user ID as "tokenOrID is an access token ID". So for a refresh token it
// returns no user ID and the token itself, as op.Storage documents:
// RevokeToken then revokes the refresh token's grant. Returning the
// token's ID here made every refresh token revocation a silent no-op.
func (o *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	t, err := o.store.RefreshTokenByHash(ctx, storage.Hash(token))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return "", "", o.errStore(ctx, err) // not "invalid": zitadel would then try it as an access token
	}
	if err != nil || t.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return "", token, nil
}

// --- keys ------------------------------------------------------------------

func (o *opStorage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return o.keys.SigningKey(ctx)
}
func (o *opStorage) SignatureAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	return o.keys.SignatureAlgorithms(ctx)
}
func (o *opStorage) KeySet(ctx context.Context) ([]op.Key, error) { return o.keys.KeySet(ctx) }

// --- user info -------------------------------------------------------------

// SetUserinfoFromScopes is deprecated in zitadel; SetUserinfoFromRequest
// does the work.
func (o *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest. A QR
// redeem read its user in the same statement, which also required the
// user to be active: no second read.
func (o *opStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if q, ok := req.(*qrTokenRequest); ok && q.user != nil {
		fillUserinfo(info, q.user, scopes)
		return nil
	}
	return o.userinfo(ctx, info, req.GetSubject(), scopes)
}

// userinfo fills the claims the scopes allow (OIDC Core §5.4).
func (o *opStorage) userinfo(ctx context.Context, info *oidc.UserInfo, subject string, scopes []string) error {
	// A disabled user's grant is no longer valid (RFC 6749 §5.2
	// invalid_grant): /userinfo, introspection and the ID token's claims
	// come here; mint refuses such a user before any token is made.
	u, err := activeUser(ctx, o.store, subject)
	if errors.Is(err, errDisabled) {
		return oidc.ErrInvalidGrant().WithDescription("%s", errDisabled)
	}
	if err != nil {
		return o.errStore(ctx, err)
	}
	fillUserinfo(info, u, scopes)
	return nil
}

// fillUserinfo sets the claims of u that scopes release (userClaims, OIDC
// Core §5.4).
func fillUserinfo(info *oidc.UserInfo, u *storage.User, scopes []string) {
	info.Subject = u.ID
	for _, c := range userClaims {
		if slices.Contains(scopes, c.scope) {
			c.set(info, u)
		}
	}
}

// SetUserinfoFromToken implements op.OPStorage (/userinfo): the token must
// still be live, so a revoked token stops working at once.
func (o *opStorage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	t, err := o.store.AccessToken(ctx, tokenID, o.now())
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return o.errStore(ctx, err)
	}
	if err != nil || t.Subject != subject {
		// Not a server_error (which zitadel would log at ERROR): the
		// client sent a revoked or expired token (RFC 6750 §3.1).
		return &oidc.Error{ErrorType: oauth.InvalidToken, Description: "the access token is invalid, expired or revoked"}
	}
	if err := checkPresentation(presentationOf(ctx), t.JKT); err != nil {
		return err
	}
	return o.userinfo(ctx, info, subject, t.Scopes)
}

// SetIntrospectionFromToken implements op.OPStorage (RFC 7662). A client
// learns about a token only if it is in the token's audience; otherwise the
// token is reported inactive (§2.2 leaves the policy to the server).
func (o *opStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, err := o.store.AccessToken(ctx, tokenID, o.now())
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return o.errStore(ctx, err)
	}
	if err != nil || t.Subject != subject || !slices.Contains(t.Audience, clientID) {
		return errors.New("token is not active")
	}
	info := new(oidc.UserInfo)
	if err := o.userinfo(ctx, info, subject, t.Scopes); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Scope = t.Scopes
	resp.ClientID = t.ClientID
	resp.Audience = t.Audience
	resp.Expiration = oidc.FromTime(t.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(t.CreatedAt)
	resp.TokenType = oidc.BearerToken
	if t.JKT != "" { // RFC 9449 §6.2
		resp.TokenType, resp.Claims = dpop.Scheme, confirmation(t.JKT)
	}
	resp.JWTID = t.ID
	return nil
}

// GetPrivateClaimsFromScopes implements op.OPStorage: no private claims.
func (o *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID implements op.OPStorage; JWT client assertions
// (RFC 7523) are not offered.
func (o *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("jwt profile not supported")
}

// ValidateJWTProfileScopes implements op.OPStorage; see above.
func (o *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("jwt profile not supported")
}

// Health implements op.Storage (/ready). An unreachable store is a 503:
// zitadel's Ready keeps a StatusError it finds and defaults to 500 only
// for other errors.
func (o *opStorage) Health(ctx context.Context) error { return o.errStore(ctx, o.store.Ping(ctx)) }
