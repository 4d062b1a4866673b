// Command qrphone is qrlogin's phone app for terminals and tests: it plays
// the part of the first-party mobile app that approves QR logins.
//
//	qrphone login [--username U --password-stdin]   sign in (authorization code + PKCE, RFC 8252)
//	qrphone scan <png-file|qr-text> [--yes|--deny]  show the confirm screen, then confirm or deny
//	  (--number N: the PC's number, for a site with number matching; --session keep|this_session)
//	qrphone notifications [revoke <id>]             sign-ins confirmed with this account; "this wasn't me"
//	qrphone show <png-file|qr-text>                 print a QR code on the terminal
//
// It owns the client side of the phone API (SPEC §2.3, §3): the sign-in
// with the hosted login page, the token file, the confirm screen and the
// mapping of the API's errors to messages a person can act on. It talks to
// the provider over HTTP only, like any third party, and imports nothing
// from the server's packages.
//
// The token file (default $XDG_CONFIG_HOME/qrphone/token.json) holds the
// access token, the refresh token, the access token's expiry and the
// issuer they belong to. It is written atomically with mode 0600 in a 0700
// directory. Refresh tokens rotate on every use and presenting a rotated
// one revokes the whole family (RFC 9700 §4.14.2), so the newest refresh
// token is saved before anything else is done with the new access token.
// Two qrphone processes refreshing the same file at the same moment would
// trip that reuse detection; the file is not locked, as one person runs one
// phone app at a time.
//
// Every flag has a QRPHONE_* environment fallback (--issuer →
// QRPHONE_ISSUER), except --yes and --deny: a forgotten variable must never
// approve sign-ins without the user comparing the code.
package main
