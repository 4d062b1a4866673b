// Package load drives complete QR logins and pending polls against a
// running qrlogin server over HTTP, as relying parties and phones do, and
// measures each step. It backs `qrlogin bench`.
//
// It speaks only the public HTTP API (SPEC §2: /qr/authorize,
// /oauth/token with the QR grant and its long-poll, the phone API, and the
// hosted login page for the phone's own sign-in) and imports nothing of
// the server, so what it measures is what a third party would see. It
// sends requests only to the configured issuer and never follows a
// redirect elsewhere. Formatting the results is left to the command.
package load
