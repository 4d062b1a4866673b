package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/qrlogin/qrlogin/idp/dpop"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// What the provider supports, each written once: the tables below decide
// both what discovery advertises and what a request may use, so the two
// cannot drift apart. Grant and response types live in package oauth, where
// the admin API's client registration reads them too.

// scopeRule is one scope the provider grants.
type scopeRule struct {
	name string
	// advertised: listed in scopes_supported. qr:approve is not: it is for
	// the first-party phone app, which no relying party can be.
	advertised bool
	// firstParty: only a first-party client may ask for it.
	firstParty bool
	// notByQR: never granted by a QR login, on the device endpoint or the
	// hosted page (a phone token approved from another phone would let
	// whoever showed the QR approve sign-ins as its scanner).
	notByQR bool
	// needsGrant: dropped, not refused, when the client lacks this grant
	// (offline_access without refresh_token yields no refresh token).
	needsGrant string
}

// scopeRules is the one scope policy of /authorize and /qr/authorize.
// address and phone are refused in both: qrlogin keeps no postal address
// or phone number, so it grants no scope that promises them (RFC 6749
// §3.3 lets the server refuse; OIDC Core §5.4 defines them as requests
// for claims it cannot give).
var scopeRules = []scopeRule{
	{name: oidc.ScopeOpenID, advertised: true},
	{name: oidc.ScopeProfile, advertised: true},
	{name: oidc.ScopeEmail, advertised: true},
	{name: oidc.ScopeOfflineAccess, advertised: true, needsGrant: oauth.GrantRefreshToken},
	{name: ScopeQRApprove, firstParty: true, notByQR: true},
}

func scopeRuleFor(name string) (scopeRule, bool) {
	i := slices.IndexFunc(scopeRules, func(r scopeRule) bool { return r.name == name })
	if i < 0 {
		return scopeRule{}, false
	}
	return scopeRules[i], true
}

// maxScopeLen bounds the scope parameter.
const maxScopeLen = 1024

// grantScopes decides the scopes of an authorization request, at
// /authorize (byQR false) and at /qr/authorize or a QR on the hosted page
// (byQR true), by scopeRules: an unknown scope, or one the client may not
// have, is refused with invalid_scope naming it (RFC 6749 §3.3, §5.2)
// rather than silently dropped; offline_access is dropped for a client
// without the refresh_token grant; duplicates go; no scope at all means
// openid (§3.3: a pre-defined default).
func grantScopes(c *storage.Client, requested []string, byQR bool) ([]string, error) {
	out := make([]string, 0, len(requested))
	for _, sc := range requested {
		if sc == "" || slices.Contains(out, sc) {
			continue
		}
		r, ok := scopeRuleFor(sc)
		switch {
		case !ok:
			return nil, oauth.New(oauth.InvalidScope, "unsupported scope "+oauth.SafeName(sc))
		case r.notByQR && byQR:
			return nil, oauth.New(oauth.InvalidScope, "scope "+sc+" cannot be granted by QR login")
		case r.firstParty && !c.FirstParty:
			return nil, oauth.New(oauth.InvalidScope, "scope "+sc+" is for the first-party app")
		case r.needsGrant != "" && !hasGrant(c, r.needsGrant):
			continue
		}
		out = append(out, sc)
	}
	if len(out) == 0 {
		return []string{oidc.ScopeOpenID}, nil
	}
	return out, nil
}

// parseScopes splits the scope parameter (RFC 6749 §3.3: space-delimited)
// and decides it by grantScopes.
func parseScopes(c *storage.Client, raw string, byQR bool) ([]string, error) {
	if len(raw) > maxScopeLen {
		return nil, oauth.New(oauth.InvalidScope, "scope is too long")
	}
	return grantScopes(c, strings.Split(raw, " "), byQR)
}

// scopeAllowed is grantScopes for one scope, as zitadel's
// Client.IsScopeAllowed asks.
func scopeAllowed(c *storage.Client, scope string, byQR bool) bool {
	got, err := grantScopes(c, []string{scope}, byQR)
	return err == nil && slices.Contains(got, scope)
}

// userClaim is one claim of the user a scope releases (OIDC Core §5.4).
type userClaim struct {
	scope, name string
	set         func(*oidc.UserInfo, *storage.User)
}

// userClaims is the one table of the user's claims: what /userinfo, the ID
// token and introspection release for each scope, and claims_supported.
var userClaims = []userClaim{
	{oidc.ScopeProfile, "name", func(i *oidc.UserInfo, u *storage.User) { i.Name = u.Name }},
	{oidc.ScopeProfile, "preferred_username", func(i *oidc.UserInfo, u *storage.User) { i.PreferredUsername = u.Username }},
	{oidc.ScopeEmail, "email", func(i *oidc.UserInfo, u *storage.User) { i.Email = u.Email }},
	{oidc.ScopeEmail, "email_verified", func(i *oidc.UserInfo, u *storage.User) { i.EmailVerified = oidc.Bool(u.EmailVerified) }},
}

// tokenClaims are the claims of the ID token itself (OIDC Core §2, §3.1.3.6)
// that claims_supported lists besides the user's.
var tokenClaims = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "at_hash", "c_hash"}

// Response modes of /authorize (OAuth 2.0 Multiple Response Type Encoding
// §2.1, Form Post Response Mode §2): query is the default of the code
// flow; form_post is served by formPost, without inline script.
var responseModes = []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFragment), string(oidc.ResponseModeFormPost)}

// Client authentication methods (RFC 6749 §2.3.1; OIDC Core §9). A
// confidential client uses either secret method at every endpoint, a
// public one sends only its client_id; introspection is for confidential
// clients (RFC 7662 §2.1). No JWT client authentication is offered, so no
// *_auth_signing_alg_values_supported is listed (RFC 8414 §2).
var (
	authMethodsConfidential = []string{string(oidc.AuthMethodBasic), string(oidc.AuthMethodPost)}
	authMethodsAll          = append(slices.Clone(authMethodsConfidential), string(oidc.AuthMethodNone))
)

// codeChallengeMethod is the only PKCE method accepted (RFC 7636 §4.2;
// RFC 9700 §2.1.1: plain is not).
const codeChallengeMethod = oidc.CodeChallengeMethodS256

// metadata is the provider's metadata document: OpenID Connect Discovery
// 1.0 §3 and RFC 8414 §2 (the same names; one document serves both).
type metadata struct {
	Issuer                                    string   `json:"issuer"`
	AuthorizationEndpoint                     string   `json:"authorization_endpoint"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	UserinfoEndpoint                          string   `json:"userinfo_endpoint"`
	JWKSURI                                   string   `json:"jwks_uri"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	EndSessionEndpoint                        string   `json:"end_session_endpoint"`
	DeviceAuthorizationEndpoint               string   `json:"device_authorization_endpoint"`
	QRAuthorizationEndpoint                   string   `json:"qr_authorization_endpoint"` // SPEC §2.1
	ScopesSupported                           []string `json:"scopes_supported"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	ResponseModesSupported                    []string `json:"response_modes_supported"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	SubjectTypesSupported                     []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported          []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported             []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                           []string `json:"claims_supported"`
	// RFC 9449 §5.1: the algorithms of DPoP proofs accepted.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
	// OpenID Connect Discovery §3 defaults request_uri_parameter_supported
	// to true: say false, since no request object is accepted.
	RequestParameterSupported    bool `json:"request_parameter_supported"`
	RequestURIParameterSupported bool `json:"request_uri_parameter_supported"`
	ClaimsParameterSupported     bool `json:"claims_parameter_supported"`
}

// metadata builds the document from the tables above and the signing
// keys' algorithms: those of oauth.SigningAlgs that /keys publishes a key
// of (Keys.SignatureAlgorithms), which are the algorithms a client may
// register as its id_token_signed_response_alg.
func (s *Server) metadata(ctx context.Context) (*metadata, error) {
	algs, err := s.keys.SignatureAlgorithms(ctx)
	if err != nil {
		return nil, err
	}
	idAlgs := make([]string, 0, len(algs))
	for _, a := range algs {
		if !slices.Contains(idAlgs, string(a)) {
			idAlgs = append(idAlgs, string(a))
		}
	}
	var scopes []string
	for _, r := range scopeRules {
		if r.advertised {
			scopes = append(scopes, r.name)
		}
	}
	claims := slices.Clone(tokenClaims)
	for _, c := range userClaims {
		claims = append(claims, c.name)
	}
	iss := s.cfg.Issuer + "/"
	return &metadata{
		Issuer:                                    s.cfg.Issuer,
		AuthorizationEndpoint:                     iss + pathAuthorize,
		TokenEndpoint:                             iss + pathToken,
		UserinfoEndpoint:                          iss + pathUserinfo,
		JWKSURI:                                   iss + pathKeys,
		RevocationEndpoint:                        iss + pathRevoke,
		IntrospectionEndpoint:                     iss + pathIntrospect,
		EndSessionEndpoint:                        iss + pathEndSession,
		DeviceAuthorizationEndpoint:               iss + pathQRAuthorize,
		QRAuthorizationEndpoint:                   iss + pathQRAuthorize,
		ScopesSupported:                           scopes,
		ResponseTypesSupported:                    oauth.ResponseTypes(),
		ResponseModesSupported:                    slices.Clone(responseModes),
		GrantTypesSupported:                       oauth.GrantTypes(),
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          idAlgs,
		TokenEndpointAuthMethodsSupported:         slices.Clone(authMethodsAll),
		RevocationEndpointAuthMethodsSupported:    slices.Clone(authMethodsAll),
		IntrospectionEndpointAuthMethodsSupported: slices.Clone(authMethodsConfidential),
		CodeChallengeMethodsSupported:             []string{string(codeChallengeMethod)},
		ClaimsSupported:                           claims,
		DPoPSigningAlgValuesSupported:             dpop.AlgorithmNames(),
	}, nil
}

// handleMetadata serves the metadata document at both well-known paths:
// /.well-known/openid-configuration (OpenID Connect Discovery §4) and
// /.well-known/oauth-authorization-server (RFC 8414 §3).
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	m, err := s.metadata(r.Context())
	if err != nil {
		oauth.WriteError(w, s.log, s.mapErr(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(m)
}

// Discovery answers zitadel's discovery route (reached only by methods
// other than GET) with the same document as handleMetadata.
func (l *legacyServer) Discovery(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	m, err := l.s.metadata(ctx)
	if err != nil {
		return nil, errStore(ctx, l.s.log, err)
	}
	return op.NewResponse(m), nil
}
