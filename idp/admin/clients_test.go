package admin

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

func TestClientLifecycle(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	ctx := context.Background()

	a := h.do(t, "POST", "/admin/v1/clients", tok, `{
		"client_id": "demo-site",
		"name": "Demo site",
		"redirect_uris": ["https://rp.example/callback", "http://127.0.0.1:9000/cb"],
		"post_logout_redirect_uris": ["https://rp.example/"],
		"logo_uri": "https://rp.example/logo.png",
		"client_uri": "https://rp.example/",
		"access_token_type": "jwt"
	}`)
	if a.status != http.StatusCreated {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	for name, want := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Content-Type": "application/json"} {
		if got := a.header.Get(name); got != want {
			t.Errorf("%s %q, want %q: the answer holds a secret", name, got, want)
		}
	}
	created := a.json(t)
	secret, _ := created["client_secret"].(string)
	if len(secret) != 43 {
		t.Fatalf("client_secret %q is not 256 bits in base64url", secret)
	}
	if created["client_secret_expires_at"] != float64(0) {
		t.Errorf("client_secret_expires_at %v, want 0 (RFC 7591 §3.2.1)", created["client_secret_expires_at"])
	}
	if created["client_id"] != "demo-site" || created["type"] != "confidential" || created["access_token_type"] != "jwt" {
		t.Errorf("created %s", a.body)
	}
	stored, err := h.store.Client(ctx, "demo-site")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored.SecretHash, storage.Hash(secret)) {
		t.Fatal("the stored secret hash is not SHA-256 of the secret returned")
	}

	noSecret := func(t *testing.T, a answer, secrets ...string) {
		t.Helper()
		if bytes.Contains(a.body, []byte("client_secret")) {
			t.Errorf("answer names client_secret: %s", a.body)
		}
		for _, s := range secrets {
			if bytes.Contains(a.body, []byte(s)) {
				t.Errorf("answer contains a secret: %s", a.body)
			}
		}
	}

	a = h.do(t, "GET", "/admin/v1/clients/demo-site", tok, "")
	if a.status != 200 {
		t.Fatalf("get: %d %s", a.status, a.body)
	}
	noSecret(t, a, secret)
	got := a.json(t)
	if got["name"] != "Demo site" || got["logo_uri"] != "https://rp.example/logo.png" || got["created_at"] != "2026-11-03T10:00:00Z" {
		t.Errorf("get %s", a.body)
	}

	a = h.do(t, "GET", "/admin/v1/clients", tok, "")
	noSecret(t, a, secret)
	if !strings.Contains(string(a.body), `"client_id":"demo-site"`) {
		t.Errorf("list lacks the client: %s", a.body)
	}

	a = h.do(t, "POST", "/admin/v1/clients/demo-site/secret", tok, "")
	if a.status != 200 {
		t.Fatalf("rotate: %d %s", a.status, a.body)
	}
	rotated, _ := a.json(t)["client_secret"].(string)
	if len(rotated) != 43 || rotated == secret {
		t.Fatalf("rotated secret %q", rotated)
	}
	stored, _ = h.store.Client(ctx, "demo-site")
	if !bytes.Equal(stored.SecretHash, storage.Hash(rotated)) || bytes.Equal(stored.SecretHash, storage.Hash(secret)) {
		t.Fatal("rotation did not replace the stored hash: the old secret would still work")
	}
	noSecret(t, h.do(t, "GET", "/admin/v1/clients/demo-site", tok, ""), secret, rotated)
	noSecret(t, h.do(t, "GET", "/admin/v1/clients", tok, ""), secret, rotated)

	if a = h.do(t, "DELETE", "/admin/v1/clients/demo-site", tok, ""); a.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	h.do(t, "GET", "/admin/v1/clients/demo-site", tok, "").expectError(t, 404, "not_found")
	h.do(t, "DELETE", "/admin/v1/clients/demo-site", tok, "").expectError(t, 404, "not_found")
	h.do(t, "POST", "/admin/v1/clients/demo-site/secret", tok, "").expectError(t, 404, "not_found")
	if a = h.do(t, "GET", "/admin/v1/clients", tok, ""); strings.TrimSpace(string(a.body)) != `{"clients":[]}` {
		t.Errorf("list after delete: %s", a.body)
	}
}

func TestClientDefaults(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantType   string
		wantGrants []string
		wantSecret bool
	}{
		{
			"a bare confidential client gets every grant but authorization_code",
			`{"name":"QR only"}`,
			"confidential", []string{oauth.GrantRefreshToken, oauth.GrantDeviceCode, oauth.GrantQR}, true,
		},
		{
			"a confidential client with a redirect URI gets all four grants",
			`{"name":"Site","redirect_uris":["https://rp.example/cb"]}`,
			"confidential", oauth.GrantTypes(), true,
		},
		{
			"a public client gets the same defaults and no secret",
			`{"name":"Phone app","type":"public","first_party":true,"redirect_uris":["http://[::1]/cb"]}`,
			"public", oauth.GrantTypes(), false,
		},
		{
			"explicit grant types are kept as given",
			`{"name":"Poller","grant_types":["urn:qrlogin:params:oauth:grant-type:qr"]}`,
			"confidential", []string{oauth.GrantQR}, true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			a := h.do(t, "POST", "/admin/v1/clients", h.token(t), tt.body)
			if a.status != 201 {
				t.Fatalf("%d %s", a.status, a.body)
			}
			m := a.json(t)
			if m["type"] != tt.wantType || m["access_token_type"] != "opaque" {
				t.Errorf("type %v, access_token_type %v", m["type"], m["access_token_type"])
			}
			var grants []string
			for _, g := range m["grant_types"].([]any) {
				grants = append(grants, g.(string))
			}
			if !slices.Equal(grants, tt.wantGrants) {
				t.Errorf("grant_types %v, want %v", grants, tt.wantGrants)
			}
			id, _ := m["client_id"].(string)
			if len(id) != 22 {
				t.Errorf("generated client_id %q is not 128 bits in base64url", id)
			}
			_, hasSecret := m["client_secret"]
			if hasSecret != tt.wantSecret {
				t.Errorf("client_secret present = %v, want %v", hasSecret, tt.wantSecret)
			}
			c, err := h.store.Client(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if (c.SecretHash != nil) != tt.wantSecret {
				t.Errorf("stored secret hash %x", c.SecretHash)
			}
		})
	}
}

func TestPublicClientHasNoSecretToRotate(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"phone","name":"Phone","type":"public"}`)
	h.do(t, "POST", "/admin/v1/clients/phone/secret", tok, "").expectError(t, 400, "invalid_request")
}

func TestClientIDConflict(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	if a := h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"dup","name":"One"}`); a.status != 201 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"dup","name":"Two"}`).expectError(t, 409, "conflict")
}

func TestCreateClientValidation(t *testing.T) {
	const (
		meta     = "invalid_client_metadata"
		redirect = "invalid_redirect_uri"
		request  = "invalid_request"
	)
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"no name", `{"redirect_uris":["https://a.example/cb"]}`, 400, meta},
		{"a name with a control character", `{"name":"a\u001b[2Jb"}`, 400, meta},
		{"a name over 200 characters", `{"name":"` + strings.Repeat("n", 201) + `"}`, 400, meta},
		{"a client_id too short", `{"client_id":"ab","name":"n"}`, 400, meta},
		{"a client_id too long", `{"client_id":"` + strings.Repeat("a", 65) + `","name":"n"}`, 400, meta},
		{"a client_id with a slash", `{"client_id":"a/b/c","name":"n"}`, 400, meta},
		{"a client_id with a space", `{"client_id":"a b c","name":"n"}`, 400, meta},
		{"an unknown type", `{"name":"n","type":"trusted"}`, 400, meta},
		{"an unknown access_token_type", `{"name":"n","access_token_type":"macaroon"}`, 400, meta},
		{"an unknown grant type", `{"name":"n","grant_types":["password"]}`, 400, meta},
		{"client_credentials is not offered", `{"name":"n","grant_types":["client_credentials"]}`, 400, meta},
		{"a grant type listed twice", `{"name":"n","grant_types":["refresh_token","refresh_token"]}`, 400, meta},
		{"authorization_code without a redirect URI", `{"name":"n","grant_types":["authorization_code"]}`, 400, redirect},
		{"an http redirect URI on a public host", `{"name":"n","redirect_uris":["http://rp.example/cb"]}`, 400, redirect},
		{"an http redirect URI on 127.0.0.2", `{"name":"n","redirect_uris":["http://127.0.0.2/cb"]}`, 400, redirect},
		{"a redirect URI with a fragment", `{"name":"n","redirect_uris":["https://rp.example/cb#x"]}`, 400, redirect},
		{"a redirect URI with an empty fragment", `{"name":"n","redirect_uris":["https://rp.example/cb#"]}`, 400, redirect},
		{"a relative redirect URI", `{"name":"n","redirect_uris":["/cb"]}`, 400, redirect},
		{"a redirect URI without host", `{"name":"n","redirect_uris":["https:///cb"]}`, 400, redirect},
		{"a custom-scheme redirect URI", `{"name":"n","redirect_uris":["com.example.app:/cb"]}`, 400, redirect},
		{"a javascript: redirect URI", `{"name":"n","redirect_uris":["javascript:alert(1)"]}`, 400, redirect},
		{"a redirect URI with credentials", `{"name":"n","redirect_uris":["https://u:p@rp.example/cb"]}`, 400, redirect},
		{"a redirect URI with a space", `{"name":"n","redirect_uris":["https://rp.example/c b"]}`, 400, redirect},
		{"an allowed origin with a path", `{"name":"n","allowed_origins":["https://spa.example/app"]}`, 400, meta},
		{"an allowed origin with a trailing slash", `{"name":"n","allowed_origins":["https://spa.example/"]}`, 400, meta},
		{"an allowed origin of *", `{"name":"n","allowed_origins":["*"]}`, 400, meta},
		{"an allowed origin of null", `{"name":"n","allowed_origins":["null"]}`, 400, meta},
		{"an http allowed origin on a public host", `{"name":"n","allowed_origins":["http://spa.example"]}`, 400, meta},
		{"an allowed origin in upper case", `{"name":"n","allowed_origins":["https://SPA.example"]}`, 400, meta},
		{"an allowed origin with the default port", `{"name":"n","allowed_origins":["https://spa.example:443"]}`, 400, meta},
		{"an allowed origin with a query", `{"name":"n","allowed_origins":["https://spa.example?x"]}`, 400, meta},
		{"an allowed origin listed twice", `{"name":"n","allowed_origins":["https://spa.example","https://spa.example"]}`, 400, meta},
		{"an unknown qr_session", `{"name":"n","qr_session":"forever"}`, 400, meta},
		{"an unknown qr_second_scan", `{"name":"n","qr_second_scan":"ignore"}`, 400, meta},
		// A stock RFC 8628 client cannot show the number: refused the
		// policy rather than never able to confirm (README "Defences
		// against QR relay").
		{"number matching for a device-grant-only client", `{"name":"n","qr_number_matching":true,"grant_types":["urn:ietf:params:oauth:grant-type:device_code"]}`, 400, meta},
		{"a redirect URI with a port and no host", `{"name":"n","redirect_uris":["https://:443/cb"]}`, 400, redirect},
		{"a redirect URI over 2000 bytes", `{"name":"n","redirect_uris":["https://a.example/` + strings.Repeat("p", 2000) + `"]}`, 400, redirect},
		{"33 redirect URIs", `{"name":"n","redirect_uris":[` + manyURIs(33) + `]}`, 400, redirect},
		{"an empty redirect URI", `{"name":"n","redirect_uris":[""]}`, 400, redirect},
		{"a redirect URI listed twice", `{"name":"n","redirect_uris":["https://a.example/cb","https://a.example/cb"]}`, 400, redirect},
		{"an http post-logout URI on a public host", `{"name":"n","post_logout_redirect_uris":["http://rp.example/"]}`, 400, redirect},
		{"an http logo_uri", `{"name":"n","logo_uri":"http://rp.example/logo.png"}`, 400, meta},
		{"a data: logo_uri", `{"name":"n","logo_uri":"data:image/png;base64,AAAA"}`, 400, meta},
		{"a relative client_uri", `{"name":"n","client_uri":"rp.example"}`, 400, meta},
		{"an unknown proximity_policy", `{"name":"n","proximity_policy":"strict"}`, 400, meta},
		{"a proximity_policy in upper case", `{"name":"n","proximity_policy":"REQUIRE"}`, 400, meta},
		{"an unknown field", `{"name":"n","client_secret":"mine"}`, 400, request},
		{"a misspelt field", `{"name":"n","redirect_uri":["https://a.example/cb"]}`, 400, request},
		{"a field of the wrong type", `{"name":"n","redirect_uris":"https://a.example/cb"}`, 400, request},
		{"no body", ``, 400, request},
		{"JSON null", `null`, 400, meta},
		{"a JSON array", `[{"name":"n"}]`, 400, request},
		{"malformed JSON", `{"name":`, 400, request},
		{"two JSON objects", `{"name":"n"}{"name":"m"}`, 400, request},
		{"a body over 64 KiB", `{"name":"` + strings.Repeat("n", 70<<10) + `"}`, 413, request},
	}
	h := newHarness(t)
	tok := h.token(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.do(t, "POST", "/admin/v1/clients", tok, tt.body)
			a.expectError(t, tt.status, tt.code)
			if desc, _ := a.json(t)["error_description"].(string); desc == "" {
				t.Error("no error_description")
			}
		})
	}
	if a := h.do(t, "GET", "/admin/v1/clients", tok, ""); strings.TrimSpace(string(a.body)) != `{"clients":[]}` {
		t.Errorf("a rejected request stored a client: %s", a.body)
	}
}

func TestCreateClientAcceptsLoopbackAndHTTPS(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	for _, u := range []string{
		"https://rp.example/cb",
		"https://rp.example:8443/cb?tenant=1",
		"http://127.0.0.1/cb",
		"http://127.0.0.1:53111/cb",
		"http://[::1]:8080/cb",
		"http://localhost:3000/cb",
	} {
		t.Run(u, func(t *testing.T) {
			a := h.do(t, "POST", "/admin/v1/clients", tok, `{"name":"n","redirect_uris":["`+u+`"]}`)
			if a.status != 201 {
				t.Fatalf("%d %s", a.status, a.body)
			}
		})
	}
}

func TestCreateClientRejectsOtherMediaTypes(t *testing.T) {
	h := newHarness(t)
	req, _ := http.NewRequest("POST", h.srv.URL+"/admin/v1/clients", strings.NewReader(`{"name":"n"}`))
	req.Header.Set("Authorization", "Bearer "+h.token(t))
	req.Header.Set("Content-Type", "text/plain")
	send(t, req).expectError(t, 415, "invalid_request")
}

// The secret a creation returns authenticates nowhere on this listener:
// only the bootstrap admin gets admin tokens.
func TestRegisteredClientsGetNoAdminToken(t *testing.T) {
	h := newHarness(t)
	a := h.do(t, "POST", "/admin/v1/clients", h.token(t), `{"client_id":"rp-one","name":"RP"}`)
	secret, _ := a.json(t)["client_secret"].(string)
	cc := &clientcredentials.Config{ClientID: "rp-one", ClientSecret: secret, TokenURL: h.srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}
	if _, err := cc.Token(context.Background()); err == nil {
		t.Fatal("a relying party got an admin token")
	}
}

func manyURIs(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"https://rp.example/cb%d"`, i)
	}
	return b.String()
}

// allowed_origins (CORS, idp/cors.go) round-trips through create, get and
// list, and is stored as given: the origins browsers send.
func TestClientAllowedOrigins(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	origins := []string{"https://spa.example", "https://spa.example:8443", "http://127.0.0.1:5173", "http://[::1]:3000"}
	a := h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"spa","name":"SPA","type":"public",
		"redirect_uris":["https://spa.example/cb"],"allowed_origins":["`+strings.Join(origins, `","`)+`"]}`)
	if a.status != 201 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	for _, got := range []any{a.json(t)["allowed_origins"], h.do(t, "GET", "/admin/v1/clients/spa", tok, "").json(t)["allowed_origins"],
		h.do(t, "GET", "/admin/v1/clients", tok, "").json(t)["clients"].([]any)[0].(map[string]any)["allowed_origins"]} {
		if fmt.Sprint(got) != fmt.Sprint(origins) {
			t.Errorf("allowed_origins %v, want %v", got, origins)
		}
	}
	c, err := h.store.Client(context.Background(), "spa")
	if err != nil || !slices.Equal(c.AllowedOrigins, origins) {
		t.Fatalf("stored %v %v", c, err)
	}
	// A client registered without any has none, shown as [].
	b := h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"plain","name":"Plain","type":"public"}`)
	if got, ok := b.json(t)["allowed_origins"].([]any); !ok || len(got) != 0 {
		t.Errorf("allowed_origins of a client without: %s", b.body)
	}
}

// The defences against QR relay round-trip through the admin API, their
// defaults spelled out; number matching is accepted where the PC can show
// the number (the QR grant, the hosted login page).
func TestClientQRDefences(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	a := h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"plain","name":"Plain"}`)
	if m := a.json(t); a.status != 201 || m["qr_number_matching"] != false || m["qr_session"] != "keep" || m["qr_second_scan"] != "alarm" {
		t.Fatalf("defaults: %d %s", a.status, a.body)
	}
	for _, body := range []string{
		`{"client_id":"qr-grant","name":"n","qr_number_matching":true,"qr_session":"ask_this_session","qr_second_scan":"refuse","grant_types":["urn:qrlogin:params:oauth:grant-type:qr"]}`,
		`{"client_id":"hosted","name":"n","qr_number_matching":true,"redirect_uris":["https://rp.example/cb"],"grant_types":["authorization_code"]}`,
	} {
		a := h.do(t, "POST", "/admin/v1/clients", tok, body)
		if a.status != 201 {
			t.Fatalf("%s: %d %s", body, a.status, a.body)
		}
		m := a.json(t)
		c, err := h.store.Client(context.Background(), m["client_id"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if !c.QRNumberMatching || m["qr_number_matching"] != true {
			t.Fatalf("%s: stored %+v, answered %s", body, c, a.body)
		}
	}
	c, _ := h.store.Client(context.Background(), "qr-grant")
	if c.QRSession != storage.QRSessionAskThisSession || c.QRSecondScan != storage.QRSecondScanRefuse {
		t.Fatalf("stored %q %q", c.QRSession, c.QRSecondScan)
	}
}

// PATCH changes the defences one field at a time; a device-grant-only
// client is refused number matching later too, and nothing changes.
func TestPatchClientQRDefences(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"qr-shop","name":"QR","grant_types":["urn:qrlogin:params:oauth:grant-type:qr"]}`)
	h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"tv-app","name":"TV","grant_types":["urn:ietf:params:oauth:grant-type:device_code"]}`)
	if a := h.do(t, "PATCH", "/admin/v1/clients/qr-shop", tok, `{"qr_number_matching":true}`); a.status != 200 || a.json(t)["qr_number_matching"] != true {
		t.Fatalf("number matching on: %d %s", a.status, a.body)
	}
	if a := h.do(t, "PATCH", "/admin/v1/clients/qr-shop", tok, `{"qr_session":"this_session"}`); a.status != 200 {
		t.Fatalf("qr_session: %d %s", a.status, a.body)
	}
	c, _ := h.store.Client(context.Background(), "qr-shop")
	if !c.QRNumberMatching || c.QRSession != storage.QRSessionThisSession || c.QRSecondScan != "" {
		t.Fatalf("stored %+v", c)
	}
	h.do(t, "PATCH", "/admin/v1/clients/tv-app", tok, `{"qr_number_matching":true}`).expectError(t, 400, "invalid_client_metadata")
	if c, _ := h.store.Client(context.Background(), "tv-app"); c.QRNumberMatching {
		t.Fatal("a refused patch turned number matching on")
	}
}

// proximity_policy (README "Defences against QR relay"): off, warn or
// require, stored and shown; warn when not given.
func TestCreateClientProximityPolicy(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	for _, tc := range []struct{ body, want string }{
		{`{"name":"n"}`, "warn"},
		{`{"name":"n","proximity_policy":"off"}`, "off"},
		{`{"name":"n","proximity_policy":"require"}`, "require"},
	} {
		a := h.do(t, "POST", "/admin/v1/clients", tok, tc.body)
		if a.status != 201 {
			t.Fatalf("%s: %d %s", tc.body, a.status, a.body)
		}
		id := a.json(t)["client_id"].(string)
		if got := a.json(t)["proximity_policy"]; got != tc.want {
			t.Errorf("%s: created with %v, want %s", tc.body, got, tc.want)
		}
		if got := h.do(t, "GET", "/admin/v1/clients/"+id, tok, "").json(t)["proximity_policy"]; got != tc.want {
			t.Errorf("%s: reads back %v, want %s", tc.body, got, tc.want)
		}
	}
}

// PATCH changes proximity_policy alone, leaving the rest; a value other
// than off, warn or require is 400 and changes nothing (README "Defences
// against QR relay").
func TestPatchClientProximityPolicy(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"bank","name":"Bank","id_token_signed_response_alg":"ES256"}`)
	for _, p := range []string{"require", "off", "warn"} {
		a := h.do(t, "PATCH", "/admin/v1/clients/bank", tok, `{"proximity_policy":"`+p+`"}`)
		if a.status != 200 || a.json(t)["proximity_policy"] != p {
			t.Fatalf("patch to %s: %d %s", p, a.status, a.body)
		}
		if c, err := h.store.Client(context.Background(), "bank"); err != nil || c.ProximityPolicy != p || c.IDTokenSignedResponseAlg != "ES256" {
			t.Fatalf("stored after the patch to %s: %+v %v", p, c, err)
		}
	}
	for _, body := range []string{`{"proximity_policy":"strict"}`, `{"proximity_policy":""}`, `{"proximity_policy":"REQUIRE"}`,
		`{"proximity_policy":true}`, `{"rate_limit":7,"proximity_policy":"strict"}`} {
		if a := h.do(t, "PATCH", "/admin/v1/clients/bank", tok, body); a.status != 400 {
			t.Errorf("%s: %d %s, want 400", body, a.status, a.body)
		}
	}
	if c, _ := h.store.Client(context.Background(), "bank"); c.ProximityPolicy != "warn" || c.RateLimit != 0 {
		t.Fatalf("refused patches changed the client: %+v", c)
	}
}

// dpop_bound_access_tokens (RFC 9449 §5.2, enforced in idp/dpop.go)
// round-trips through create and get; absent, it is false.
func TestClientDPoPBoundAccessTokens(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	a := h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"kiosk","name":"Kiosk","dpop_bound_access_tokens":true}`)
	if a.status != 201 || a.json(t)["dpop_bound_access_tokens"] != true {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	if got := h.do(t, "GET", "/admin/v1/clients/kiosk", tok, "").json(t)["dpop_bound_access_tokens"]; got != true {
		t.Errorf("get: dpop_bound_access_tokens %v", got)
	}
	if c, err := h.store.Client(context.Background(), "kiosk"); err != nil || !c.DPoPBoundAccessTokens {
		t.Fatalf("stored %+v %v", c, err)
	}
	b := h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"plain","name":"Plain"}`)
	if got, ok := b.json(t)["dpop_bound_access_tokens"].(bool); !ok || got {
		t.Errorf("a client registered without it: %s", b.body)
	}
}

// dpop_bound_access_tokens changes after registration too (PATCH), alone
// or with other fields; a bad value changes nothing.
func TestPatchClientDPoPBoundAccessTokens(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"kiosk","name":"Kiosk","proximity_policy":"require"}`)
	for _, b := range []bool{true, false, true} {
		body := `{"dpop_bound_access_tokens":` + strconv.FormatBool(b) + `}`
		a := h.do(t, "PATCH", "/admin/v1/clients/kiosk", tok, body)
		if a.status != 200 || a.json(t)["dpop_bound_access_tokens"] != b {
			t.Fatalf("%s: %d %s", body, a.status, a.body)
		}
		if c, err := h.store.Client(context.Background(), "kiosk"); err != nil || c.DPoPBoundAccessTokens != b || c.ProximityPolicy != "require" {
			t.Fatalf("stored after %s: %+v %v", body, c, err)
		}
	}
	for _, body := range []string{`{"dpop_bound_access_tokens":"yes"}`, `{"dpop_bound_access_tokens":false,"proximity_policy":"strict"}`} {
		if a := h.do(t, "PATCH", "/admin/v1/clients/kiosk", tok, body); a.status != 400 {
			t.Errorf("%s: %d %s, want 400", body, a.status, a.body)
		}
	}
	if c, _ := h.store.Client(context.Background(), "kiosk"); !c.DPoPBoundAccessTokens {
		t.Fatalf("refused patches changed the client: %+v", c)
	}
}
