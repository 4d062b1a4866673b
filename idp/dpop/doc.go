// Package dpop checks DPoP proofs (RFC 9449): a JWT a client signs with
// its own key for one HTTP request, which proves that whoever sends a
// device code, an authorization code, a refresh token or an access token
// also holds the private key the grant or token is bound to.
//
// It owns the proof's rules (RFC 9449 §4.3: typ, the algorithm allow-list,
// a public jwk, htm, htu, iat, ath), the JWK thumbprint a binding is kept
// by (RFC 7638), and the once-only use of a proof's jti through a store
// every instance shares (RFC 9449 §11.1). It leaves to package idp which
// requests need a proof, what a token is bound to and how an answer is
// written; errors are *oauth.Error values (invalid_dpop_proof, 400), which
// a resource turns into its 401.
//
// Key is the client's side: Go clients of qrlogin (tests, the demo) sign
// their proofs with it.
package dpop
