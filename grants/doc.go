// Package grants owns the QR login: its state machine (a pure function),
// the identifiers it hands out (qr_id, device_code, user_code, ticket) and
// the rules of starting, polling, scanning, confirming, denying and
// redeeming (SPEC §2, RFC 8628).
//
// It decides; storage applies each decision as one atomic conditional
// update; idp turns the results into HTTP answers and tokens. Nothing here
// touches an http.ResponseWriter or mints a token: errors are *oauth.Error
// values with the status the SPEC gives.
package grants
