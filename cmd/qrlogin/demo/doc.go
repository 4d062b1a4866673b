// Package demo is the demo relying party that `qrlogin serve` mounts at
// /demo when it seeds the demo data.
//
// It is a third party on purpose: it reaches the provider only over HTTP,
// at the issuer URL, with the client id and secret an operator would give
// any website, and it imports none of idp, grants or storage. What it
// shows a visitor is therefore what any integrator can build:
//
//   - "Sign in with QR": its backend starts a QR login (POST /qr/authorize,
//     authenticated with HTTP Basic, reporting the browser's address and
//     user agent as a confidential client may), shows the QR image and the
//     user_code, and relays the long-polled state of the login
//     (pending, scanned, denied, expired, signed in) to its page.
//   - "Sign in with qrlogin": the authorization code flow with PKCE
//     (RFC 7636, S256), state and nonce, through the hosted login page.
//
// Either way the ID token is verified (signature against the provider's
// JWKS, iss, aud, azp, exp, iat, nonce, at_hash) with zitadel's rp package
// before its claims are shown.
//
// The demo owns its own session: a random id in a signed and encrypted
// cookie named "qrdemo" (gorilla/securecookie, keys made at start), and
// the session itself in memory on the server. The QR login's device_code,
// the PC's poll secret, stays there and never reaches the browser.
//
// It leaves the provider's pages, the static files (served by the
// provider at /static/) and the shared layout to the idp and templates
// packages.
package demo
