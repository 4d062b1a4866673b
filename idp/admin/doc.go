// Package admin owns the admin listener (SPEC §4): its client_credentials
// token endpoint, the bearer check in front of /admin/v1/*, and the JSON
// API that creates and removes clients and users and rotates signing keys.
//
// The token endpoint is github.com/go-oauth2/oauth2/v4, confined to this
// package. Its stores are adapters written here: the only client is the
// bootstrap admin from Config, and tokens are kept through
// storage.AdminTokenStore by SHA-256 hash only (go-oauth2's own stores keep
// them in plaintext). Around it this package enforces what go-oauth2 does
// not: RFC 6749 §5.2 status codes, one client authentication method per
// request (§2.3), no repeated parameters (§3.2), capped bodies.
//
// Signing keys themselves belong to package idp; this package reaches them
// through the KeyManager interface. Metrics are mounted as given.
//
// Choices where the spec is silent:
//   - lists answer {"clients": […]}, {"users": […]}, {"keys": […]} so that
//     fields can be added without breaking clients;
//   - deletions answer 204; secret rotation answers 200 with the client and
//     its new secret;
//   - a client registered without grant_types and without redirect_uris
//     gets every grant except authorization_code, which needs a redirect
//     URI (RFC 6749 §3.1.2); one with redirect_uris gets all four;
//   - the only scope an admin token carries is "admin" (or none).
package admin
