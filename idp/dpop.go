package idp

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/qrlogin/qrlogin/idp/dpop"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// Key-bound grants and tokens (RFC 9449). The proof itself is package
// dpop's; this file decides where one is needed and what it binds:
//
//   - the token endpoint checks the DPoP header of every request once
//     (tokenProof): the tokens it then mints are bound to the proof's key
//     (boundJKT) — access tokens by their jkt (cnf.jkt in a JWT, in
//     introspection), token_type DPoP — and refresh tokens remember it;
//   - a grant bound to a key earlier (a code of an authorization request
//     with dpop_jkt, a QR login started with a proof or dpop_jkt, a refresh
//     token) is redeemed only with a proof of that key (grantBinding);
//   - /userinfo takes a bound token only with Authorization: DPoP and a
//     proof naming it (ath), and refuses it as a bearer token
//     (resourceToken, checkPresentation).

// dpopProofKey carries the token request's verified proof.
type dpopProofKey struct{}

func withDPoPProof(ctx context.Context, p *dpop.Proof) context.Context {
	return context.WithValue(ctx, dpopProofKey{}, p)
}

func dpopProofOf(ctx context.Context) *dpop.Proof {
	p, _ := ctx.Value(dpopProofKey{}).(*dpop.Proof)
	return p
}

// authorizeJKTKey carries an authorization request's dpop_jkt from
// handleAuthorize to CreateAuthRequest, which zitadel calls without the
// request (zitadel's oidc.AuthRequest has no field for it).
type authorizeJKTKey struct{}

func withAuthorizeJKT(ctx context.Context, jkt string) context.Context {
	return context.WithValue(ctx, authorizeJKTKey{}, jkt)
}

func authorizeJKTOf(ctx context.Context) string {
	jkt, _ := ctx.Value(authorizeJKTKey{}).(string)
	return jkt
}

// qrAuthorizeJKT is the DPoP key a PC binds its QR login to at
// /qr/authorize: the key of the DPoP proof sent with the request (htu the
// QR endpoint; spent like any other), or dpop_jkt, the key's thumbprint
// (RFC 9449 §10's parameter, which OpenID Connect Key Binding also gives
// the device authorization request). Sent both, they must name one key
// (RFC 9449 §10.1's rule for pushed requests). "" binds nothing, which a
// client with dpop_bound_access_tokens may not ask for: its device codes
// are always bound.
func (s *Server) qrAuthorizeJKT(r *http.Request, c *storage.Client) (string, error) {
	jkt := r.PostForm.Get("dpop_jkt")
	if _, sent := r.PostForm["dpop_jkt"]; sent && !dpop.ValidJKT(jkt) {
		return "", oauth.New(oauth.InvalidRequest, "dpop_jkt must be a JWK SHA-256 thumbprint, base64url without padding (RFC 9449 §10)")
	}
	p, err := s.dpop.Verify(r.Context(), r.Header, r.Method, s.cfg.Issuer+"/"+pathQRAuthorize, "")
	if err != nil {
		return "", err
	}
	if p == nil {
		if jkt == "" && c.DPoPBoundAccessTokens {
			return "", oauth.New(oauth.InvalidDPoPProof, "this client's QR logins are bound to a DPoP key (dpop_bound_access_tokens): send a DPoP proof or dpop_jkt")
		}
		return jkt, nil
	}
	if jkt != "" && jkt != p.JKT {
		return "", oauth.New(oauth.InvalidDPoPProof, "dpop_jkt is not the thumbprint of the DPoP proof's key")
	}
	return p.JKT, nil
}

// tokenProof checks the DPoP header of a token request (RFC 9449 §5) and
// returns the request carrying the proof, for the grant and the minting
// below it. Without the header the request is unchanged; a bad proof is
// 400 invalid_dpop_proof and the request goes no further.
func (s *Server) tokenProof(r *http.Request) (*http.Request, error) {
	p, err := s.dpop.Verify(r.Context(), r.Header, r.Method, s.cfg.Issuer+"/"+pathToken, "")
	if err != nil || p == nil {
		return r, err
	}
	return r.WithContext(withDPoPProof(r.Context(), p)), nil
}

// boundJKT is the key the tokens minted for this request are bound to:
// the token request's proof's, or "" for bearer tokens. The one rule for
// the stored tokens, the JWT's cnf and the response's token_type.
func boundJKT(ctx context.Context) string {
	if p := dpopProofOf(ctx); p != nil {
		return p.JKT
	}
	return ""
}

// requireDPoP applies the client's dpop_bound_access_tokens (RFC 9449
// §5.2: the server MUST reject its token requests without a DPoP proof).
// Checked once the client is authenticated and before its grant is read,
// so a refused request spends no code.
func requireDPoP(ctx context.Context, c *storage.Client) *oauth.Error {
	if c.DPoPBoundAccessTokens && boundJKT(ctx) == "" {
		return oauth.New(oauth.InvalidDPoPProof, "this client's tokens are DPoP-bound (dpop_bound_access_tokens): the token request needs a DPoP proof")
	}
	return nil
}

// tokenType is the token_type of the token response (RFC 9449 §5).
func tokenType(ctx context.Context) string {
	if boundJKT(ctx) != "" {
		return dpop.Scheme
	}
	return oidc.BearerToken
}

// confirmation is the cnf claim of a bound token (RFC 9449 §6.1, §6.2).
func confirmation(jkt string) map[string]any {
	return map[string]any{"cnf": map[string]string{"jkt": jkt}}
}

// grantBinding checks the token request against the key its grant (what)
// was bound to, if any (dpop.CheckBinding).
func grantBinding(ctx context.Context, jkt, what string) *oauth.Error {
	return dpop.CheckBinding(jkt, boundJKT(ctx), what)
}

// clientRequiresDPoP is requireDPoP for zitadel's grants (code and
// refresh), whose client is authenticated by then.
func clientRequiresDPoP(ctx context.Context, c op.Client) error {
	if cl, ok := c.(*client); ok {
		if e := requireDPoP(ctx, cl.c); e != nil {
			return oidcErr(e)
		}
	}
	return nil
}

// oidcErr is a grantBinding refusal for zitadel's token endpoint, which
// writes an *oidc.Error with 400.
func oidcErr(e *oauth.Error) *oidc.Error {
	oe := oidc.ErrInvalidGrant()
	if e.Code == oauth.InvalidDPoPProof {
		oe = &oidc.Error{ErrorType: oauth.InvalidDPoPProof}
	}
	return oe.WithDescription("%s", e.Description).WithParent(e)
}

// refreshBinding applies a refresh token's binding (RFC 9449 §5): it was
// made with a proof, so it is refreshed only with one — of the same key
// for a public client, whose refresh token is bound to it; a confidential
// client authenticates itself, its refresh token is not bound to the key,
// and the new tokens are bound to the key of the new proof.
func (o *opStorage) refreshBinding(ctx context.Context, t *storage.RefreshToken) error {
	e := grantBinding(ctx, t.JKT, "the refresh token")
	if e == nil {
		return nil
	}
	if e.Code == oauth.InvalidGrant {
		c, err := o.store.Client(ctx, t.ClientID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return o.errStore(ctx, err)
		}
		if err == nil && c.Type == storage.ClientConfidential {
			return nil
		}
	}
	// zitadel makes any error of this read invalid_grant, but answers
	// with the StatusError it finds in the chain: this one's code.
	return op.NewStatusError(oidcErr(e), e.Status)
}

// --- /userinfo (RFC 9449 §7) ------------------------------------------------

// presentationKey carries the proof a protected resource request came
// with (Authorization: DPoP), nil for a bearer presentation, from
// handleUserinfo to SetUserinfoFromToken, where the token's binding is
// read.
type presentationKey struct{}

func withPresentation(ctx context.Context, p *dpop.Proof) context.Context {
	return context.WithValue(ctx, presentationKey{}, p)
}

func presentationOf(ctx context.Context) *dpop.Proof {
	p, _ := ctx.Value(presentationKey{}).(*dpop.Proof)
	return p
}

// dpopChallenge is the WWW-Authenticate of a DPoP resource (RFC 9449
// §7.1): the scheme and the algorithms it accepts.
func dpopChallenge() string {
	return dpop.Scheme + ` algs="` + strings.Join(dpop.AlgorithmNames(), " ") + `"`
}

// dpopRefusal is a refusal at a resource of a DPoP presentation or of a
// bound token: 401 with a DPoP challenge (RFC 9449 §7.1), so the client
// knows the scheme to use. A store failure keeps its own status.
func dpopRefusal(err error) error {
	var e *oauth.Error
	if !errors.As(err, &e) || e.Status >= http.StatusInternalServerError {
		return err
	}
	e.Status, e.Challenge = http.StatusUnauthorized, dpopChallenge()
	return e
}

// checkPresentation applies an access token's binding (jkt, "" for a
// bearer token) to how it was presented (p, the proof of Authorization:
// DPoP, nil for Bearer): a bound token needs the DPoP scheme and a proof
// of its key; the DPoP scheme needs a bound token (RFC 9449 §7.1, §7.2: a
// bound token presented as a bearer token is refused, or the binding
// would be worth nothing).
func checkPresentation(p *dpop.Proof, jkt string) error {
	switch {
	case jkt != "" && p == nil:
		return dpopRefusal(oauth.New(oauth.InvalidToken, "the access token is bound to a DPoP key: present it with the DPoP scheme and a proof"))
	case jkt != "" && p.JKT != jkt:
		return dpopRefusal(oauth.New(oauth.InvalidDPoPProof, "the DPoP proof's key is not the key the access token is bound to"))
	case jkt == "" && p != nil:
		return dpopRefusal(oauth.New(oauth.InvalidToken, "the access token is not bound to a DPoP key: present it as a bearer token"))
	}
	return nil
}

// resourceToken reads the access token of a protected resource request
// and, with Authorization: DPoP, checks its proof (htm, htu, ath, spent
// once; RFC 9449 §7.1) and returns it; any other request is read as a
// bearer token (bearerToken). A refused DPoP presentation is 401 with a
// DPoP challenge.
func (s *Server) resourceToken(r *http.Request, form bool) (string, *dpop.Proof, error) {
	token, ok := dpopAuthorization(r.Header.Get("Authorization"))
	if !ok {
		raw, err := bearerToken(r, form)
		return raw, nil, err
	}
	if form && r.PostForm.Get("access_token") != "" {
		return "", nil, oauth.New(oauth.InvalidRequest, "send the access token one way only")
	}
	p, err := s.dpop.Verify(r.Context(), r.Header, r.Method, s.cfg.Issuer+"/"+pathUserinfo, token)
	if err == nil && p == nil {
		err = oauth.New(oauth.InvalidDPoPProof, "the DPoP scheme needs a DPoP proof")
	}
	if err != nil {
		return "", nil, dpopRefusal(err)
	}
	return token, p, nil
}

// dpopAuthorization reads Authorization: DPoP <token> (RFC 9449 §7.1; the
// scheme is case-insensitive, RFC 9110 §11.1).
func dpopAuthorization(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, dpop.Scheme) {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
