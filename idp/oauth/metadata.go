package oauth

// Grant types qrlogin serves. GrantTypes is the one list the token
// endpoint dispatches on, discovery advertises and a client may be
// registered for: a grant is added here or nowhere.
const (
	GrantAuthorizationCode = "authorization_code"                           // RFC 6749 §4.1
	GrantRefreshToken      = "refresh_token"                                // RFC 6749 §6
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code" // RFC 8628 §3.4
	GrantQR                = "urn:qrlogin:params:oauth:grant-type:qr"       // SPEC §2.2
)

// GrantTypes returns the grant types qrlogin serves, in the order
// discovery lists them. The slice is the caller's.
func GrantTypes() []string {
	return []string{GrantAuthorizationCode, GrantRefreshToken, GrantDeviceCode, GrantQR}
}

// ResponseTypeCode is the only response type: the authorization code flow
// (RFC 6749 §4.1). The implicit and hybrid flows, which put tokens in the
// browser's address bar, are not offered (RFC 9700 §2.1.2).
const ResponseTypeCode = "code"

// ResponseTypes returns the response types of /authorize, as discovery
// lists them and a client may be registered for. The slice is the
// caller's.
func ResponseTypes() []string { return []string{ResponseTypeCode} }

// ResponseTypesFor returns the response types a client registered for
// grants may use: code exactly when it has the authorization_code grant
// (RFC 7591 §2.1 keeps the two lists consistent).
func ResponseTypesFor(grants []string) []string {
	for _, g := range grants {
		if g == GrantAuthorizationCode {
			return ResponseTypes()
		}
	}
	return []string{}
}
