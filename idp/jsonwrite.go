package idp

import (
	"encoding/json"
	"strconv"
	"sync"
	"unicode/utf8"
)

// appendJSON appends r encoded exactly as encoding/json's Encoder.Encode
// writes it (fields in order, qr_image omitted when empty, a trailing
// newline). /qr/authorize is the hottest answer of device authorizations,
// and encoding it by reflection was 3 % of the server's CPU in a
// device-authorization run (PostgreSQL, 32 workers, 8 s of pprof:
// oauth.WriteJSON 0.12 s of 3.06 s). FuzzQRAuthorizeResponseJSON holds the
// two encodings equal.
func (r *qrAuthorizeResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"device_code":`...)
	b = appendJSONString(b, r.DeviceCode)
	b = append(b, `,"user_code":`...)
	b = appendJSONString(b, r.UserCode)
	b = append(b, `,"verification_uri":`...)
	b = appendJSONString(b, r.VerificationURI)
	b = append(b, `,"verification_uri_complete":`...)
	b = appendJSONString(b, r.VerificationURIComplete)
	if r.QRImage != "" {
		b = append(b, `,"qr_image":`...)
		b = appendJSONString(b, r.QRImage)
	}
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, int64(r.ExpiresIn), 10)
	b = append(b, `,"interval":`...)
	b = strconv.AppendInt(b, int64(r.Interval), 10)
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string the way encoding/json does:
// printable ASCII other than the quote, the backslash and the HTML
// characters (<, >, &, which it escapes) as is; anything else through
// encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s)
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// jsonBufs are the buffers of appendJSON answers.
var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
