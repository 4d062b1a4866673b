// Package idp is the OpenID Connect provider: it assembles zitadel/oidc's
// op around a storage.Store, serves the QR endpoints (SPEC §2), the phone
// API, the account API and the hosted pages, signs with keys it rotates,
// and mints every token through zitadel so ID tokens, refresh tokens,
// /userinfo and introspection stay one system.
//
// It is the only package that imports zitadel's op and the only one that
// writes HTTP answers; the QR rules themselves live in package grants.
package idp
