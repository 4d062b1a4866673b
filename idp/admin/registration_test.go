package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/idp/admin"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

// discovered fetches a running provider's discovery document.
func discovered(t *testing.T) map[string][]string {
	t.Helper()
	ts := httptest.NewServer(nil)
	t.Cleanup(ts.Close)
	srv, err := idp.New(context.Background(), idp.Config{Issuer: ts.URL, Store: memory.New()})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	resp, err := http.Get(ts.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, k := range []string{"grant_types_supported", "response_types_supported"} {
		for _, v := range d[k].([]any) {
			out[k] = append(out[k], v.(string))
		}
	}
	return out
}

// What a client can be registered for is what discovery lists: every
// advertised grant and response type is accepted, and the types stock
// clients know but the provider does not serve are refused (RFC 7591
// §3.2.2 invalid_client_metadata). Both lists come from one table.
func TestRegistrationAcceptsWhatDiscoveryLists(t *testing.T) {
	d := discovered(t)
	store := memory.New()
	handler, err := admin.New(admin.Config{Store: store, AdminClientID: "admin", AdminSecretHash: storage.Hash("admin-secret-0123456789"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	api := (&clientcredentials.Config{ClientID: "admin", ClientSecret: "admin-secret-0123456789", TokenURL: ts.URL + "/oauth/token"}).Client(context.Background())
	n := 0
	register := func(grants, responses []string) (int, map[string]any) {
		n++
		body, _ := json.Marshal(map[string]any{"client_id": fmt.Sprintf("client-%d", n), "name": "C",
			"redirect_uris": []string{"https://rp.example/cb"}, "grant_types": grants, "response_types": responses})
		resp, err := api.Post(ts.URL+"/admin/v1/clients", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	refused := func(grants, responses []string) {
		t.Helper()
		if status, m := register(grants, responses); status != http.StatusBadRequest || m["error"] != "invalid_client_metadata" {
			t.Errorf("grant_types %v response_types %v: %d %v, want 400 invalid_client_metadata", grants, responses, status, m)
		}
	}
	for _, g := range d["grant_types_supported"] {
		if status, m := register([]string{g}, nil); status != http.StatusCreated {
			t.Errorf("advertised grant %s refused: %d %v", g, status, m)
		}
	}
	for _, rt := range d["response_types_supported"] {
		status, m := register([]string{"authorization_code"}, []string{rt})
		if status != http.StatusCreated || !slices.Contains(strsOf(m["response_types"]), rt) {
			t.Errorf("advertised response type %s: %d %v", rt, status, m)
		}
	}
	for _, g := range []string{"implicit", "client_credentials", "password", "urn:ietf:params:oauth:grant-type:jwt-bearer",
		"urn:ietf:params:oauth:grant-type:token-exchange"} {
		if slices.Contains(d["grant_types_supported"], g) {
			t.Fatalf("discovery lists %s", g)
		}
		refused([]string{g}, nil)
	}
	for _, rt := range []string{"token", "id_token", "id_token token", "code id_token", "none"} {
		refused([]string{"authorization_code"}, []string{rt})
	}
	// Response type code without the code grant is inconsistent (RFC 7591
	// §2.1).
	refused([]string{"refresh_token"}, []string{"code"})
}

func strsOf(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
