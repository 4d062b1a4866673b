package idp

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The hand-written encoding of /qr/authorize's answer is encoding/json's,
// byte for byte, whatever the values (escapes, HTML characters, non-ASCII,
// invalid UTF-8, control characters, an empty qr_image omitted).
func FuzzQRAuthorizeResponseJSON(f *testing.F) {
	f.Add("GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS", "WDJB-MJHT", "https://idp.example/device",
		"https://idp.example/q/x8Zr2Lw?x=1&y=<2>", "", 120, 5)
	f.Add("a\"b\\c", "\u2028\u2029", "é", "\xff\xfe", "data:image/png;base64,iVBOR+/=", -1, 0)
	f.Add("\x00\x1f\x7f", "<script>", "&amp;", "😀", "x", 1<<40, -7)
	f.Fuzz(func(t *testing.T, dc, uc, vu, vuc, img string, exp, iv int) {
		r := qrAuthorizeResponse{DeviceCode: dc, UserCode: uc, VerificationURI: vu, VerificationURIComplete: vuc,
			QRImage: img, ExpiresIn: exp, Interval: iv}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(r); err != nil {
			t.Fatal(err)
		}
		if got := r.appendJSON(nil); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("appendJSON:\n%s\nencoding/json:\n%s", got, want.Bytes())
		}
	})
}
