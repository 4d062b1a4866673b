package idp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/qrlogin/qrlogin/storage"
)

// Minting: every grant's tokens — the code exchange, the refresh, the QR
// login — come from mint, so they are one system (one store, one
// /userinfo, one introspection) and an access token looks the same
// whichever grant made it. zitadel's CreateTokenResponse would sign JWT
// access tokens with the ID token's "typ": "JWT" and no scope claim; its
// signer takes no other type, so qrlogin signs them itself.

// jwtAccessTokenType is the JWT "typ" of access tokens (RFC 9068 §2.1).
const jwtAccessTokenType = "at+jwt"

// mint creates the tokens of one grant for req: the access token (opaque
// by default, an RFC 9068 JWT for clients registered for "jwt"), a
// refresh token when the request qualifies, and an ID token when openid
// was granted (OIDC Core §3.1.3.3, §12.2). code is the authorization code
// being exchanged (for c_hash), refreshToken the one being rotated. A
// finished authorization request is deleted, as zitadel would.
//
// A disabled or deleted user gets nothing: the grant is no longer valid
// (RFC 6749 §5.2 invalid_grant). The check is here, the one place every
// grant mints, and not left to the ID token's claims, which a request
// without openid does not make.
//
// The ID token (and a JWT access token) is signed with the algorithm the
// client registered (id_token_signed_response_alg, OIDC Dynamic Client
// Registration §2), else the server's default: here, so a refresh's ID
// token is signed as the first was (OIDC Core §12.2).
func (s *Server) mint(ctx context.Context, req op.IDTokenRequest, client op.Client, code, refreshToken string) (*oidc.AccessTokenResponse, error) {
	ctx = withSigningAlg(ctx, registered(client))
	user, err := s.mintingUser(ctx, req)
	if errors.Is(err, errDisabled) {
		return nil, oidc.ErrInvalidGrant().WithDescription("%s", errDisabled)
	} else if err != nil {
		return nil, errStore(ctx, s.log, err)
	}
	var (
		id, newRefresh string
		exp            time.Time
	)
	if needsRefreshToken(req, client) {
		id, newRefresh, exp, err = s.op.CreateAccessAndRefreshTokens(ctx, req, refreshToken)
	} else {
		id, exp, err = s.op.CreateAccessToken(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	var accessToken string
	if client.AccessTokenType() == op.AccessTokenTypeJWT {
		accessToken, err = s.accessJWT(ctx, req, id, exp)
	} else {
		accessToken, err = op.CreateBearerToken(id, req.GetSubject(), s.provider.Crypto())
	}
	if err != nil {
		return nil, err
	}
	resp := &oidc.AccessTokenResponse{
		AccessToken:  accessToken,
		RefreshToken: newRefresh,
		TokenType:    tokenType(ctx), // RFC 9449 §5
		ExpiresIn:    uint64(max(exp.Sub(s.cfg.Now()), 0) / time.Second),
		Scope:        req.GetScopes(),
	}
	if slices.Contains(req.GetScopes(), oidc.ScopeOpenID) {
		resp.IDToken, err = op.CreateIDToken(ctx, s.cfg.Issuer, req, client.IDTokenLifetime(), accessToken, code, knownUser{s.op, user}, client)
		if err != nil {
			return nil, err
		}
	}
	if a, ok := req.(*authRequest); ok {
		if err := s.op.DeleteAuthRequest(ctx, a.GetID()); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// mintingUser is the user tokens are about to be minted for, if active. A
// QR redeem read its user in the redeem's own statement, which required
// the user to be active: no second read.
func (s *Server) mintingUser(ctx context.Context, req op.IDTokenRequest) (*storage.User, error) {
	if q, ok := req.(*qrTokenRequest); ok && q.user != nil {
		return q.user, nil
	}
	return activeUser(ctx, s.store, req.GetSubject())
}

// knownUser is the store as op.CreateIDToken sees it during mint: the ID
// token's claims come from the user mint has just read and checked, not
// from a second read (a redeem stays within its round-trip budget,
// TestRoundTripsOfACompleteLogin).
type knownUser struct {
	*opStorage
	u *storage.User
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest.
func (k knownUser) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, _ op.IDTokenRequest, scopes []string) error {
	fillUserinfo(info, k.u, scopes)
	return nil
}

// needsRefreshToken: a refresh rotates its token; an authorization request
// (code flow or QR login) gets one for offline_access when the client may
// refresh (OIDC Core §11).
func needsRefreshToken(req op.TokenRequest, client op.Client) bool {
	switch r := req.(type) {
	case op.RefreshTokenRequest:
		return true
	case op.AuthRequest:
		return slices.Contains(r.GetScopes(), oidc.ScopeOfflineAccess) && op.ValidateGrantType(client, oidc.GrantTypeRefreshToken)
	}
	return false
}

// accessJWT signs a JWT access token (RFC 9068): "typ": "at+jwt" (§2.1),
// and iss, exp, aud, sub, client_id, iat, jti and scope (§2.2), plus
// auth_time and amr of the sign-in (§2.2.1), and cnf.jkt when the token
// is DPoP-bound (RFC 9449 §6.1). jti is the stored token's ID,
// so revocation and expiry are checked in the store like an opaque
// token's.
func (s *Server) accessJWT(ctx context.Context, req op.IDTokenRequest, id string, exp time.Time) (string, error) {
	key, err := s.keys.SigningKey(ctx)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: key.SignatureAlgorithm(),
		Key:       &jose.JSONWebKey{Key: key.Key(), KeyID: key.ID()},
	}, (&jose.SignerOptions{}).WithType(jwtAccessTokenType))
	if err != nil {
		return "", err
	}
	claims := oidc.NewAccessTokenClaims(s.cfg.Issuer, req.GetSubject(), req.GetAudience(), exp, id, req.GetClientID(), 0)
	claims.IssuedAt = oidc.FromTime(s.cfg.Now())
	claims.NotBefore = claims.IssuedAt
	claims.Scopes = req.GetScopes()
	if t := req.GetAuthTime(); !t.IsZero() {
		claims.AuthTime = oidc.FromTime(t)
	}
	claims.AuthenticationMethodsReferences = req.GetAMR()
	if jkt := boundJKT(ctx); jkt != "" {
		claims.Claims = confirmation(jkt) // RFC 9449 §6.1
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// isAccessJWT reports whether a JWT's header says it is an access token
// (RFC 9068 §4: a resource server must check "typ" is at+jwt, also
// written application/at+jwt), so an ID token, also signed here, is never
// taken for one.
func isAccessJWT(raw string) bool {
	head, _, ok := strings.Cut(raw, ".")
	if !ok {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h struct {
		Typ string `json:"typ"`
	}
	if json.Unmarshal(b, &h) != nil {
		return false
	}
	typ := strings.ToLower(h.Typ)
	return typ == jwtAccessTokenType || typ == "application/"+jwtAccessTokenType
}
