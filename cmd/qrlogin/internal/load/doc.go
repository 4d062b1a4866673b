// Package load drives complete QR logins and pending polls against a
// running qrlogin server over HTTP, as relying parties and phones do, and
// measures each step. It backs `qrlogin bench`. It also replays the
// floods of issue 8 (flood.go, `qrlogin flood`), watching the server's
// memory through /proc and its refusal counters through /metrics.
//
// It speaks only the public HTTP API (SPEC §2: /qr/authorize,
// /oauth/token with the QR grant and its long-poll, the phone API, and the
// hosted login page for the phone's own sign-in; the floods also
// /authorize and /login/status) and imports nothing of the server, so
// what it measures is what a third party would see. It sends requests
// only to the configured issuer (and reads the metrics URL it is given)
// and never follows a redirect elsewhere. Formatting the results is left
// to the command.
//
// It runs on the server's machine, so it is built to be cheap: under
// load it speaks HTTP/1.1 over its own kept-alive connections (conn.go),
// verifies a sample of the ID tokens (idtoken.go), and reports its own
// CPU per operation.
package load
