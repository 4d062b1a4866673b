package idp_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp"
)

// benchClient keeps connections alive across goroutines, like a busy RP.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}

func benchPost(b *testing.B, u, ctype, auth string, body []byte) (int, []byte) {
	req, _ := http.NewRequest("POST", u, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := benchClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func basicAuth(id, secret string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(id, secret)
	return r.Header.Get("Authorization")
}

// BenchmarkPendingPoll measures one poll of a pending QR login over HTTP:
// client authentication, the atomic poll bookkeeping and the answer. 1,000
// logins are polled in turn and the clock moves one interval per round,
// so every poll is a legitimate one (not slow_down).
func BenchmarkPendingPoll(b *testing.B) {
	s := newServer(b, func(c *idp.Config) { c.QRTTL = 10000 * time.Hour })
	const n = 1000
	bodies := make([][]byte, n)
	for i := range bodies {
		r := s.start(b, url.Values{"scope": {"openid"}})
		bodies[i] = []byte(url.Values{"grant_type": {idp.GrantQR}, "device_code": {r.DeviceCode}}.Encode())
	}
	auth := basicAuth(rpID, rpSecret)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			if i%n == 0 {
				s.clock.Advance(time.Second)
			}
			status, raw := benchPost(b, s.URL+"/oauth/token", "application/x-www-form-urlencoded", auth, bodies[i%n])
			if status != 400 || !bytes.Contains(raw, []byte("authorization_pending")) && !bytes.Contains(raw, []byte("slow_down")) {
				b.Fatalf("%d %s", status, raw)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "polls/s")
}

// BenchmarkCompleteLogin measures a whole QR login over HTTP in process:
// /qr/authorize (with the QR PNG), scan, confirm, and the poll that
// returns signed tokens.
func BenchmarkCompleteLogin(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			s := newServer(b, func(c *idp.Config) { c.SigningAlg = alg })
			phone := "Bearer " + s.phoneToken(b, "alice")
			auth := basicAuth(rpID, rpSecret)
			startBody := []byte("scope=openid+profile+email")
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					status, raw := benchPost(b, s.URL+"/qr/authorize", "application/x-www-form-urlencoded", auth, startBody)
					if status != 200 {
						b.Fatalf("start: %d %s", status, raw)
					}
					var st qrStart
					_ = json.Unmarshal(raw, &st)
					scanBody, _ := json.Marshal(map[string]string{"qr": st.VerificationURIComplete})
					status, raw = benchPost(b, s.URL+"/qr/scan", "application/json", phone, scanBody)
					if status != 200 {
						b.Fatalf("scan: %d %s", status, raw)
					}
					var sc struct{ Ticket string }
					_ = json.Unmarshal(raw, &sc)
					status, raw = benchPost(b, s.URL+"/qr/confirm", "application/json", phone, []byte(`{"ticket":"`+sc.Ticket+`"}`))
					if status != 200 {
						b.Fatalf("confirm: %d %s", status, raw)
					}
					form := url.Values{"grant_type": {idp.GrantQR}, "device_code": {st.DeviceCode}}.Encode()
					status, raw = benchPost(b, s.URL+"/oauth/token", "application/x-www-form-urlencoded", auth, []byte(form))
					if status != 200 || !strings.Contains(string(raw), "id_token") {
						b.Fatalf("redeem: %d %s", status, raw)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
		})
	}
}
