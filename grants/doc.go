// Package grants owns the QR login: the identifiers it hands out (qr_id,
// device_code, user_code, ticket) and starting, polling and long-polling,
// scanning, confirming, denying and redeeming (SPEC §2, RFC 8628). Its state
// machine is one table, in package grants/rules, which the stores apply.
//
// Each step is one store operation (storage.QRLoginStore.ApplyQR), whose
// refusal grants explains from the table's guard that failed; idp turns the
// results into HTTP answers, and mints the tokens a redeem inserts through
// a Minter. Polls are answered from the instance's view of the logins it
// deals with (view.go), kept current by the store's announcements. Nothing
// here touches an http.ResponseWriter: errors are *oauth.Error values with
// the status the SPEC gives.
package grants
