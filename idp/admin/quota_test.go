package admin

import (
	"context"
	"net/http"
	"testing"
)

// A confidential client's quota at /qr/authorize is set at registration
// and changed later with PATCH; public clients have none (they are
// limited per address), and nonsense is refused with nothing changed.
func TestClientRateLimit(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	ctx := context.Background()

	a := h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"shop","name":"Shop","rate_limit":2500}`)
	if a.status != http.StatusCreated || a.json(t)["rate_limit"] != float64(2500) {
		t.Fatalf("create with a quota: %d %s", a.status, a.body)
	}
	a = h.do(t, "PATCH", "/admin/v1/clients/shop", tok, `{"rate_limit":0.5}`)
	if a.status != http.StatusOK || a.json(t)["rate_limit"] != 0.5 {
		t.Fatalf("patch: %d %s", a.status, a.body)
	}
	if c, _ := h.store.Client(ctx, "shop"); c.RateLimit != 0.5 {
		t.Fatalf("stored quota %v after the patch", c.RateLimit)
	}
	a = h.do(t, "PATCH", "/admin/v1/clients/shop", tok, `{"rate_limit":0}`)
	if a.status != http.StatusOK || a.json(t)["rate_limit"] != nil {
		t.Fatalf("back to the default: %d %s", a.status, a.body)
	}

	if a = h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"app","name":"App","type":"public","redirect_uris":["http://127.0.0.1/cb"]}`); a.status != http.StatusCreated {
		t.Fatalf("public client: %d %s", a.status, a.body)
	}
	for _, c := range []struct{ name, method, path, body string }{
		{"a public client with a quota", "POST", "/admin/v1/clients", `{"name":"App 2","type":"public","redirect_uris":["http://127.0.0.1/cb"],"rate_limit":10}`},
		{"a negative quota", "POST", "/admin/v1/clients", `{"name":"Shop 2","rate_limit":-1}`},
		{"a quota over a million", "POST", "/admin/v1/clients", `{"name":"Shop 2","rate_limit":1e7}`},
		{"a quota for a public client, later", "PATCH", "/admin/v1/clients/app", `{"rate_limit":10}`},
		{"a negative quota, later", "PATCH", "/admin/v1/clients/shop", `{"rate_limit":-5}`},
		{"a patch without rate_limit", "PATCH", "/admin/v1/clients/shop", `{}`},
		{"a patch of another field", "PATCH", "/admin/v1/clients/shop", `{"name":"Renamed"}`},
		{"a quota that is not a number", "PATCH", "/admin/v1/clients/shop", `{"rate_limit":"fast"}`},
		{"an unknown qr_session", "PATCH", "/admin/v1/clients/shop", `{"qr_session":"forever"}`},
		{"a good quota with a bad qr_second_scan", "PATCH", "/admin/v1/clients/shop", `{"rate_limit":7,"qr_second_scan":"ignore"}`},
		{"qr_session that is not a string", "PATCH", "/admin/v1/clients/shop", `{"qr_session":true}`},
	} {
		if a := h.do(t, c.method, c.path, tok, c.body); a.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", c.name, a.status, a.body)
		}
	}
	if a := h.do(t, "PATCH", "/admin/v1/clients/nobody", tok, `{"rate_limit":5}`); a.status != http.StatusNotFound {
		t.Errorf("unknown client: %d %s", a.status, a.body)
	}
	if c, _ := h.store.Client(ctx, "shop"); c.RateLimit != 0 || c.Name != "Shop" {
		t.Fatalf("refused patches changed the client: %+v", c)
	}
	if c, _ := h.store.Client(ctx, "app"); c.RateLimit != 0 {
		t.Fatalf("the public client got a quota: %v", c.RateLimit)
	}
	if a := h.do(t, "PATCH", "/admin/v1/clients/shop", "", `{"rate_limit":5}`); a.status != http.StatusUnauthorized {
		t.Errorf("without an admin token: %d", a.status)
	}
}

// A client's ID token algorithm (id_token_signed_response_alg, OIDC
// Dynamic Client Registration §2) is one the provider signs with, set at
// registration or later; "" goes back to the server's default, and
// anything else is refused with nothing changed.
func TestClientIDTokenAlgorithm(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	ctx := context.Background()
	a := h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"shop","name":"Shop","id_token_signed_response_alg":"ES256"}`)
	if a.status != http.StatusCreated || a.json(t)["id_token_signed_response_alg"] != "ES256" {
		t.Fatalf("create with ES256: %d %s", a.status, a.body)
	}
	a = h.do(t, "POST", "/admin/v1/clients", tok, `{"client_id":"plain","name":"Plain"}`)
	if _, ok := a.json(t)["id_token_signed_response_alg"]; a.status != http.StatusCreated || ok {
		t.Fatalf("create without one: %d %s, want the field absent", a.status, a.body)
	}
	a = h.do(t, "PATCH", "/admin/v1/clients/shop", tok, `{"id_token_signed_response_alg":"EdDSA"}`)
	if c, _ := h.store.Client(ctx, "shop"); a.status != http.StatusOK || c.IDTokenSignedResponseAlg != "EdDSA" {
		t.Fatalf("patch to EdDSA: %d %s, stored %q", a.status, a.body, c.IDTokenSignedResponseAlg)
	}
	for _, c := range []struct{ name, method, path, body string }{
		{"HS256 at creation (a shared-secret MAC, not offered)", "POST", "/admin/v1/clients", `{"name":"Mac","id_token_signed_response_alg":"HS256"}`},
		{"none at creation (unsigned)", "POST", "/admin/v1/clients", `{"name":"Bare","id_token_signed_response_alg":"none"}`},
		{"a lower-case name", "PATCH", "/admin/v1/clients/shop", `{"id_token_signed_response_alg":"es256"}`},
		{"RS512, later", "PATCH", "/admin/v1/clients/shop", `{"id_token_signed_response_alg":"RS512"}`},
	} {
		if a := h.do(t, c.method, c.path, tok, c.body); a.status != http.StatusBadRequest || a.json(t)["error"] != "invalid_client_metadata" {
			t.Errorf("%s: %d %s, want 400 invalid_client_metadata", c.name, a.status, a.body)
		}
	}
	if c, _ := h.store.Client(ctx, "shop"); c.IDTokenSignedResponseAlg != "EdDSA" {
		t.Fatalf("refused patches changed the algorithm to %q", c.IDTokenSignedResponseAlg)
	}
	a = h.do(t, "PATCH", "/admin/v1/clients/shop", tok, `{"id_token_signed_response_alg":""}`)
	if c, _ := h.store.Client(ctx, "shop"); a.status != http.StatusOK || c.IDTokenSignedResponseAlg != "" {
		t.Fatalf("back to the default: %d %s, stored %q", a.status, a.body, c.IDTokenSignedResponseAlg)
	}
}
