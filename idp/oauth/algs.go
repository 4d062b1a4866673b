package oauth

import "slices"

// SigningAlgs are the JWS algorithms the provider signs ID tokens (and JWT
// access tokens) with, in the order discovery lists them: a client
// registers one as id_token_signed_response_alg (OIDC Dynamic Client
// Registration §2). RS256 is OIDC Core's default and what every relying
// party verifies (§15.1); ES256 and EdDSA sign in a twentieth of its time
// with shorter tokens.
var SigningAlgs = []string{"RS256", "ES256", "EdDSA"}

// ValidSigningAlg reports whether alg is one of SigningAlgs.
func ValidSigningAlg(alg string) bool { return slices.Contains(SigningAlgs, alg) }
