package idp_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/qrlogin/qrlogin/idp"
)

// The Prometheus series count what happened, per instance.
func TestMetricsCountQREvents(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	r := confirmed(t, s, alice)
	s.poll(t, idp.GrantQR, r.DeviceCode, nil)
	s.poll(t, idp.GrantQR, r.DeviceCode, nil)

	w := httptest.NewRecorder()
	s.idp.Metrics().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	for _, want := range []string{
		`qrlogin_qr_events_total{event="started"} 1`,
		`qrlogin_qr_events_total{event="scanned"} 1`,
		`qrlogin_qr_events_total{event="confirmed"} 1`,
		`qrlogin_qr_events_total{event="redeemed"} 1`,
		`qrlogin_qr_token_answers_total{outcome="tokens"} 1`,
		`qrlogin_qr_token_answers_total{outcome="invalid_grant"} 1`,
		`qrlogin_long_polls 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
