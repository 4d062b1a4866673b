package idp_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/qrlogin/qrlogin/idp"
)

// requesterSeenByPhone starts a QR login from the loopback address from,
// with the given headers, and returns the requester address the phone is
// shown when it scans.
func requesterSeenByPhone(t *testing.T, s *testServer, phone, from string, header http.Header) string {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/qr/authorize", strings.NewReader("scope=openid"))
	if header != nil {
		req.Header = header.Clone()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(rpID, rpSecret)
	resp, err := clientFrom(t, from, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var started struct {
		URI string `json:"verification_uri_complete"`
	}
	err = json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/qr/authorize from %s: %d %v", from, resp.StatusCode, err)
	}
	status, body := s.phone(t, phone, "/qr/scan", map[string]string{"qr": started.URI})
	if status != 200 {
		t.Fatalf("scan: %d %v", status, body)
	}
	return body["requester"].(map[string]any)["ip"].(string)
}

func trustProxies(header string, cidrs ...string) serverOpt {
	return func(c *idp.Config) {
		for _, p := range cidrs {
			c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(p))
		}
		c.ProxyHeader = header
	}
}

// Behind a proxy the phone is shown the browser's address, not the
// proxy's; a client that is not a trusted proxy cannot choose the address
// by sending the headers itself. Proxy and clients are real connections
// from distinct loopback addresses.
func TestTrustedProxies(t *testing.T) {
	const proxy, otherProxy, client = "127.0.0.10", "127.0.0.11", "127.0.0.12"
	h := func(kv ...string) http.Header {
		hd := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			hd.Add(kv[i], kv[i+1])
		}
		return hd
	}
	t.Run("X-Forwarded-For", func(t *testing.T) {
		s := newServer(t, trustProxies("", proxy+"/32", otherProxy+"/32"))
		phone := s.phoneToken(t, "alice")
		for _, tc := range []struct {
			name, from string
			header     http.Header
			want       string
		}{
			{"no proxy: the peer", client, nil, client},
			{"spoofed by a client: ignored", client, h("X-Forwarded-For", "203.0.113.9", "Forwarded", "for=203.0.113.9"), client},
			{"from the proxy: its client", proxy, h("X-Forwarded-For", "198.51.100.7"), "198.51.100.7"},
			{"the client's own prefix is not reached", proxy, h("X-Forwarded-For", "203.0.113.9, 198.51.100.7"), "198.51.100.7"},
			{"two trusted proxies in a chain", proxy, h("X-Forwarded-For", "203.0.113.9, 198.51.100.7, "+otherProxy), "198.51.100.7"},
			{"Forwarded is not the configured header", proxy, h("Forwarded", "for=198.51.100.7"), proxy},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := requesterSeenByPhone(t, s, phone, tc.from, tc.header); got != tc.want {
					t.Errorf("the phone sees %s, want %s", got, tc.want)
				}
			})
		}
	})
	t.Run("Forwarded", func(t *testing.T) {
		s := newServer(t, trustProxies("Forwarded", proxy+"/32"))
		phone := s.phoneToken(t, "alice")
		for _, tc := range []struct {
			name, from string
			header     http.Header
			want       string
		}{
			{"spoofed by a client: ignored", client, h("Forwarded", "for=203.0.113.9"), client},
			{"from the proxy: its client", proxy, h("Forwarded", `for=203.0.113.9, for="[2001:db8::7]:4711";proto=https`), "2001:db8::7"},
			{"X-Forwarded-For is not the configured header", proxy, h("X-Forwarded-For", "198.51.100.7"), proxy},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := requesterSeenByPhone(t, s, phone, tc.from, tc.header); got != tc.want {
					t.Errorf("the phone sees %s, want %s", got, tc.want)
				}
			})
		}
	})
	t.Run("a header name other than the two is refused", func(t *testing.T) {
		if _, err := idp.New(t.Context(), idp.Config{Issuer: "http://localhost", Store: newServer(t).store, ProxyHeader: "X-Real-IP"}); err == nil {
			t.Fatal("X-Real-IP accepted as the proxy header")
		}
	})
}

// HSTS (RFC 6797) only when the issuer is https: behind a TLS-terminating
// proxy too (the browser sees https), never for a plain-http development
// issuer, where it would pin a name to https that does not serve it.
func TestHSTSOnlyForHTTPSIssuer(t *testing.T) {
	for issuer, want := range map[string]bool{"": false, "https://login.example": true} {
		s := newServer(t, func(c *idp.Config) {
			if issuer != "" {
				c.Issuer = issuer
			}
		})
		resp, err := http.Get(s.URL + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); (got != "") != want {
			t.Errorf("issuer %q: Strict-Transport-Security %q", issuer, got)
		}
	}
}
