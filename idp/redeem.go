package idp

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/qrlogin/qrlogin/storage"
)

// qrMinter mints the tokens of one QR grant redeem for client c
// (grants.Minter). The token rows are made before the redeem and inserted
// by it, in the same statement, only if it wins; mint then formats the
// response from them (the opaque or JWT access token, the signed ID
// token) without another store call: the redeem returned the user, and
// opStorage hands back the rows already inserted (qrTokenRequest).
type qrMinter struct {
	s *Server
	c *storage.Client
	// refresh is the refresh token's secret, when Tokens made one: the
	// store keeps only its hash.
	refresh string
	// jkt is the DPoP key the tokens are bound to (boundJKT of the
	// request), "" for bearer tokens.
	jkt string
}

// Tokens implements grants.Minter. A refresh token is issued exactly when
// mint will ask for one (needsRefreshToken for an authorization request):
// offline_access granted to a client allowed the refresh_token grant.
func (m *qrMinter) Tokens(clientID string, scopes []string) (*storage.Tokens, error) {
	now := m.s.cfg.Now().UTC().Truncate(time.Microsecond)
	t := &storage.Tokens{AccessID: storage.NewSecret(16), AccessExpiresAt: now.Add(m.s.cfg.AccessTokenTTL), AMR: []string{amrQR}, JKT: m.jkt,
		ThisSessionAccessExpiresAt: now.Add(min(m.s.cfg.AccessTokenTTL, thisSessionAccessTTL))}
	if slices.Contains(scopes, oidc.ScopeOfflineAccess) && op.ValidateGrantType(m.client(), oidc.GrantTypeRefreshToken) {
		m.refresh = storage.NewSecret(32)
		t.RefreshID, t.RefreshHash = storage.NewSecret(16), storage.Hash(m.refresh)
		t.RefreshExpiresAt = now.Add(m.s.cfg.RefreshTokenTTL)
	}
	return t, nil
}

func (m *qrMinter) client() *client { return &client{c: m.c, cfg: &m.s.cfg} }

// Response implements grants.Minter: the token response for the redeemed
// login, made by mint like every grant's, so ID token, refresh token,
// /userinfo and introspection stay one system with the code flow's.
func (m *qrMinter) Response(ctx context.Context, a *storage.Applied, t *storage.Tokens) (any, error) {
	if a.Login.SessionChoice == storage.SessionThisSession {
		// "Only this session": the redeem inserted the tokens
		// storage.Tokens.For makes of it, no refresh token and a short
		// access token; mint must hand out those.
		access, _ := t.For(a.Login, a.Login.RedeemedAt)
		only := *t
		only.RefreshID, only.RefreshHash, only.AccessExpiresAt = "", nil, access.ExpiresAt
		t, m.refresh = &only, ""
	}
	req := &qrTokenRequest{login: a.Login, user: a.User, tokens: t, refresh: m.refresh}
	return m.s.mint(ctx, req, m.client(), "", "")
}

// thisSessionAccessTTL caps the access token of a QR login for "only this
// session": no refresh token, and an access token that ends soon.
const thisSessionAccessTTL = 10 * time.Minute

// The acr of a QR grant's tokens says the user's session choice (OIDC
// Core §2 leaves acr values to the parties; these are qrlogin's).
const (
	acrKeep        = "urn:qrlogin:session:keep"
	acrThisSession = "urn:qrlogin:session:this_session"
)

// errNotMinted: mint asked for tokens other than those the redeem
// inserted. The two decide alike (see qrMinter.Tokens); this is a bug.
var errNotMinted = errors.New("idp: mint asked for tokens the QR redeem did not mint")
