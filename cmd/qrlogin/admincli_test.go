package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp/admin"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

const testAdminSecret = "test-admin-secret"

type testKeys struct {
	mu   sync.Mutex
	keys []admin.KeyInfo
}

func (k *testKeys) Rotate(_ context.Context, alg string) ([]admin.KeyInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if alg == "" {
		alg = "ES256"
	}
	ki := admin.KeyInfo{ID: "key-" + string(rune('a'+len(k.keys))), Algorithm: alg, Status: "next",
		CreatedAt: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), NotBefore: time.Date(2026, 2, 1, 0, 5, 0, 0, time.UTC)}
	k.keys = append(k.keys, ki)
	return []admin.KeyInfo{ki}, nil
}

func (k *testKeys) List(context.Context) ([]admin.KeyInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]admin.KeyInfo(nil), k.keys...), nil
}

// adminServer runs the real admin listener over a memory store and
// returns the environment pointing the commands at it.
func adminServer(t *testing.T) (storage.Store, map[string]string) {
	t.Helper()
	st := memory.New()
	h, err := admin.New(admin.Config{
		Store:           st,
		AdminClientID:   "ops",
		AdminSecretHash: storage.Hash(testAdminSecret),
		Keys:            &testKeys{},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return st, map[string]string{
		"QRLOGIN_ADMIN_URL":           srv.URL,
		"QRLOGIN_ADMIN_CLIENT_ID":     "ops",
		"QRLOGIN_ADMIN_CLIENT_SECRET": testAdminSecret,
	}
}

// cli runs one admin command and returns its stdout and stderr.
func cli(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var err error
	getenv := func(k string) string { return env[k] }
	switch args[0] {
	case "clients":
		err = runClients(context.Background(), args[1:], getenv, &stdout, &stderr)
	case "users":
		err = runUsers(context.Background(), args[1:], getenv, &stdout, &stderr)
	case "keys":
		err = runKeys(context.Background(), args[1:], getenv, &stdout, &stderr)
	default:
		t.Fatalf("not an admin command: %q", args[0])
	}
	return stdout.String(), stderr.String(), err
}

func mustCLI(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, errOut, err := cli(t, env, args...)
	if err != nil {
		t.Fatalf("qrlogin %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// clients create --allowed-origin registers the web origins whose scripts
// may call the browser endpoints (CORS); get shows them.
func TestClientsCreateAllowedOrigins(t *testing.T) {
	st, env := adminServer(t)
	mustCLI(t, env, "clients", "create", "--client-id", "spa", "--name", "SPA", "--type", "public",
		"--redirect-uri", "https://spa.example/cb", "--allowed-origin", "https://spa.example", "--allowed-origin", "http://127.0.0.1:5173")
	c, err := st.Client(context.Background(), "spa")
	if err != nil || !slices.Equal(c.AllowedOrigins, []string{"https://spa.example", "http://127.0.0.1:5173"}) {
		t.Fatalf("stored %+v %v", c, err)
	}
	if out := mustCLI(t, env, "clients", "get", "spa"); !strings.Contains(out, "allowed_origins:") ||
		!strings.Contains(out, "https://spa.example http://127.0.0.1:5173") {
		t.Errorf("clients get:\n%s", out)
	}
	if _, errOut, err := cli(t, env, "clients", "create", "--name", "Bad", "--allowed-origin", "https://spa.example/"); err == nil ||
		!strings.Contains(errOut+err.Error(), "allowed_origins") {
		t.Errorf("an origin with a path was accepted: %v %s", err, errOut)
	}
}

// The defences against QR relay (README "Defences against QR relay"):
// set at creation, changed by update one flag at a time, refused for a
// stock device-flow client.
func TestClientsQRDefences(t *testing.T) {
	st, env := adminServer(t)
	ctx := context.Background()
	out := mustCLI(t, env, "clients", "create", "--client-id", "shop", "--name", "Shop",
		"--grant-type", "urn:qrlogin:params:oauth:grant-type:qr", "--qr-number-matching", "--qr-session", "ask")
	c, err := st.Client(ctx, "shop")
	if err != nil || !c.QRNumberMatching || c.QRSession != storage.QRSessionAsk || c.QRSecondScan != storage.QRSecondScanAlarm {
		t.Fatalf("stored %+v %v", c, err)
	}
	if !strings.Contains(out, "qr_number_matching:") || !strings.Contains(out, "qr_session:") {
		t.Errorf("create table:\n%s", out)
	}
	mustCLI(t, env, "clients", "update", "shop", "--qr-second-scan", "refuse")
	if c, _ := st.Client(ctx, "shop"); !c.QRNumberMatching || c.QRSession != storage.QRSessionAsk || c.QRSecondScan != storage.QRSecondScanRefuse {
		t.Fatalf("update --qr-second-scan refuse changed more: %+v", c)
	}
	mustCLI(t, env, "clients", "update", "shop", "--qr-number-matching=false")
	if c, _ := st.Client(ctx, "shop"); c.QRNumberMatching || c.QRSecondScan != storage.QRSecondScanRefuse {
		t.Fatalf("update --qr-number-matching=false: %+v", c)
	}
	if _, errOut, err := cli(t, env, "clients", "update", "shop", "--qr-session", "forever"); err == nil ||
		!strings.Contains(errOut+err.Error(), "qr_session") {
		t.Errorf("qr_session forever was accepted: %v %s", err, errOut)
	}
	if _, errOut, err := cli(t, env, "clients", "create", "--name", "TV", "--grant-type", "urn:ietf:params:oauth:grant-type:device_code",
		"--qr-number-matching"); err == nil || !strings.Contains(errOut+err.Error(), "qr_number_matching") {
		t.Errorf("number matching for a device-grant-only client was accepted: %v %s", err, errOut)
	}
}

// clients create --proximity-policy sets what a phone on another network
// than the requester does (README "Defences against QR relay"); get shows
// it; clients update --proximity-policy changes it; a value other than
// off, warn or require is refused.
func TestClientsCreateProximityPolicy(t *testing.T) {
	st, env := adminServer(t)
	mustCLI(t, env, "clients", "create", "--client-id", "bank", "--name", "Bank", "--proximity-policy", "require")
	if c, err := st.Client(context.Background(), "bank"); err != nil || c.ProximityPolicy != "require" {
		t.Fatalf("stored %+v %v", c, err)
	}
	if out := mustCLI(t, env, "clients", "get", "bank"); !regexp.MustCompile(`proximity_policy:\s+require\n`).MatchString(out) {
		t.Errorf("clients get:\n%s", out)
	}
	if _, errOut, err := cli(t, env, "clients", "create", "--name", "Bad", "--proximity-policy", "strict"); err == nil ||
		!strings.Contains(errOut+err.Error(), "proximity_policy") {
		t.Errorf("proximity policy strict was accepted: %v %s", err, errOut)
	}
	if out := mustCLI(t, env, "clients", "update", "bank", "--proximity-policy", "off"); !regexp.MustCompile(`proximity_policy:\s+off\n`).MatchString(out) {
		t.Errorf("clients update --proximity-policy off:\n%s", out)
	}
	if c, err := st.Client(context.Background(), "bank"); err != nil || c.ProximityPolicy != "off" {
		t.Fatalf("stored after clients update %+v %v", c, err)
	}
	if _, errOut, err := cli(t, env, "clients", "update", "bank", "--proximity-policy", "strict"); err == nil ||
		!strings.Contains(errOut+err.Error(), "proximity_policy") {
		t.Errorf("clients update --proximity-policy strict was accepted: %v %s", err, errOut)
	}
}

// clients update --dpop-bound-access-tokens switches RFC 9449 §5.2's
// policy after registration, both ways.
func TestClientsUpdateDPoPBound(t *testing.T) {
	st, env := adminServer(t)
	mustCLI(t, env, "clients", "create", "--client-id", "kiosk", "--name", "Kiosk")
	for _, v := range []string{"true", "false"} {
		out := mustCLI(t, env, "clients", "update", "kiosk", "--dpop-bound-access-tokens="+v)
		if c, err := st.Client(context.Background(), "kiosk"); err != nil || c.DPoPBoundAccessTokens != (v == "true") {
			t.Fatalf("stored after --dpop-bound-access-tokens=%s: %+v %v\n%s", v, c, err, out)
		}
	}
}

func TestClientsCommands(t *testing.T) {
	st, env := adminServer(t)
	ctx := context.Background()

	out := mustCLI(t, env, "clients", "create", "--json", "--client-id", "shop", "--name", "Shop",
		"--redirect-uri", "https://shop.example/cb", "--redirect-uri", "http://127.0.0.1:8000/cb",
		"--grant-type", "authorization_code", "--grant-type", "urn:qrlogin:params:oauth:grant-type:qr",
		"--logo-uri", "https://shop.example/logo.png", "--access-token-type", "jwt")
	var created struct {
		ClientID     string   `json:"client_id"`
		ClientSecret string   `json:"client_secret"`
		RedirectURIs []string `json:"redirect_uris"`
		GrantTypes   []string `json:"grant_types"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if created.ClientID != "shop" || len(created.RedirectURIs) != 2 || len(created.GrantTypes) != 2 || created.ClientSecret == "" {
		t.Fatalf("created %+v", created)
	}
	c, err := st.Client(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.SecretHash, storage.Hash(created.ClientSecret)) || c.AccessTokenType != "jwt" || c.LogoURI != "https://shop.example/logo.png" {
		t.Fatalf("stored %+v", c)
	}

	out = mustCLI(t, env, "clients", "list")
	t.Logf("clients list:\n%s", out)
	if !strings.Contains(out, "CLIENT ID") || !strings.Contains(out, "shop") || !strings.Contains(out, "authorization_code,qr") {
		t.Errorf("list table:\n%s", out)
	}
	if strings.Contains(out, created.ClientSecret) {
		t.Error("list shows the secret")
	}

	// Flags may follow the positional argument.
	out = mustCLI(t, env, "clients", "get", "shop", "--json")
	if !strings.Contains(out, `"client_id": "shop"`) || strings.Contains(out, "client_secret") {
		t.Errorf("get --json:\n%s", out)
	}
	out = mustCLI(t, env, "clients", "get", "shop")
	if !strings.Contains(out, "name:") || !strings.Contains(out, "Shop") || strings.Contains(out, "client_secret") {
		t.Errorf("get table:\n%s", out)
	}

	out = mustCLI(t, env, "clients", "rotate-secret", "shop")
	var newSecret string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "client_secret:" {
			newSecret = f[1]
		}
	}
	if newSecret == "" || newSecret == created.ClientSecret {
		t.Fatalf("rotate-secret output has no new secret:\n%s", out)
	}
	c, _ = st.Client(ctx, "shop")
	if !bytes.Equal(c.SecretHash, storage.Hash(newSecret)) {
		t.Fatal("the stored hash is not that of the printed secret")
	}

	// The quota of a busy relying party: set at creation, changed later.
	mustCLI(t, env, "clients", "create", "--client-id", "busy", "--name", "Busy", "--quota", "2500")
	if c, _ := st.Client(ctx, "busy"); c.RateLimit != 2500 {
		t.Fatalf("created with --quota 2500: stored %v", c.RateLimit)
	}
	out = mustCLI(t, env, "clients", "update", "busy", "--quota", "5000")
	if c, _ := st.Client(ctx, "busy"); c.RateLimit != 5000 || !strings.Contains(out, "5000/s") {
		t.Fatalf("update --quota 5000: stored %v, printed\n%s", c.RateLimit, out)
	}
	out = mustCLI(t, env, "clients", "update", "busy", "--quota", "0")
	if c, _ := st.Client(ctx, "busy"); c.RateLimit != 0 || !strings.Contains(out, "server default") {
		t.Fatalf("update --quota 0: stored %v, printed\n%s", c.RateLimit, out)
	}

	// The ID tokens' algorithm: at creation, changed later, and back to
	// the server's default.
	mustCLI(t, env, "clients", "create", "--client-id", "modern", "--name", "Modern", "--id-token-alg", "ES256")
	if c, _ := st.Client(ctx, "modern"); c.IDTokenSignedResponseAlg != "ES256" {
		t.Fatalf("created with --id-token-alg ES256: stored %q", c.IDTokenSignedResponseAlg)
	}
	out = mustCLI(t, env, "clients", "update", "modern", "--id-token-alg", "EdDSA")
	if c, _ := st.Client(ctx, "modern"); c.IDTokenSignedResponseAlg != "EdDSA" || !strings.Contains(out, "EdDSA") {
		t.Fatalf("update --id-token-alg EdDSA: stored %q, printed\n%s", c.IDTokenSignedResponseAlg, out)
	}
	out = mustCLI(t, env, "clients", "update", "modern", "--id-token-alg", "default")
	if c, _ := st.Client(ctx, "modern"); c.IDTokenSignedResponseAlg != "" || !strings.Contains(out, "id_token_signed_response_alg:  server default") {
		t.Fatalf("update --id-token-alg default: stored %q, printed\n%s", c.IDTokenSignedResponseAlg, out)
	}
	if _, _, err := cli(t, env, "clients", "update", "modern", "--id-token-alg", "HS256"); err == nil || !strings.Contains(err.Error(), "id_token_signed_response_alg") {
		t.Fatalf("update --id-token-alg HS256: %v, want the server's refusal", err)
	}

	if out = mustCLI(t, env, "clients", "delete", "shop"); !strings.Contains(out, "deleted shop") {
		t.Errorf("delete output %q", out)
	}
	_, _, err = cli(t, env, "clients", "get", "shop")
	if err == nil || err.Error() != "not_found: no such client" {
		t.Fatalf("get after delete: %v, want not_found: no such client", err)
	}
}

func TestClientsCreateTableShowsTheSecretOnce(t *testing.T) {
	_, env := adminServer(t)
	out, errOut, err := cli(t, env, "clients", "create", "--name", "Phone", "--type", "public", "--first-party")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "client_secret:") {
		t.Errorf("a public client got a secret:\n%s", out)
	}
	if !strings.Contains(out, "first_party:") || !strings.Contains(out, "yes") {
		t.Errorf("output:\n%s", out)
	}
	out, errOut, err = cli(t, env, "clients", "create", "--name", "Site")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "client_secret:") || !strings.Contains(errOut, "shown only once") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

func TestUsersCommands(t *testing.T) {
	st, env := adminServer(t)
	setStdin(t, "from stdin pw\r\nignored\n")

	out := mustCLI(t, env, "users", "create", "--json", "--username", "alice", "--password-stdin",
		"--name", "Alice", "--email", "alice@example.com")
	var u struct{ ID, Username string }
	if err := json.Unmarshal([]byte(out), &u); err != nil || u.ID == "" || u.Username != "alice" {
		t.Fatalf("create: %v\n%s", err, out)
	}
	if strings.Contains(out, "from stdin pw") {
		t.Fatal("the password is echoed")
	}
	stored, err := st.User(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.PasswordHash == "" || strings.Contains(stored.PasswordHash, "from stdin") {
		t.Fatalf("stored hash %q", stored.PasswordHash)
	}

	mustCLI(t, env, "users", "create", "--username", "bob", "--password", "bobs password")
	out = mustCLI(t, env, "users", "list")
	t.Logf("users list:\n%s", out)
	if !strings.Contains(out, "USERNAME") || !strings.Contains(out, "alice") || !strings.Contains(out, "bob") || !strings.Contains(out, u.ID) {
		t.Errorf("list:\n%s", out)
	}

	_, _, err = cli(t, env, "users", "create", "--username", "alice", "--password", "another one")
	if err == nil || !strings.HasPrefix(err.Error(), "conflict: ") {
		t.Errorf("duplicate username: %v, want conflict", err)
	}

	mustCLI(t, env, "users", "delete", u.ID)
	if out = mustCLI(t, env, "users", "list"); strings.Contains(out, "alice") {
		t.Errorf("alice is still listed:\n%s", out)
	}
}

func TestKeysCommands(t *testing.T) {
	_, env := adminServer(t)
	out := mustCLI(t, env, "keys", "rotate")
	if !strings.Contains(out, "key-a") || !strings.Contains(out, "ES256") {
		t.Errorf("rotate:\n%s", out)
	}
	if out := mustCLI(t, env, "keys", "rotate", "--alg", "EdDSA"); !strings.Contains(out, "EdDSA") {
		t.Errorf("rotate --alg EdDSA:\n%s", out)
	}
	out = mustCLI(t, env, "keys", "list", "--json")
	var list struct{ Keys []struct{ ID string } }
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Keys) != 2 || list.Keys[1].ID != "key-b" {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
}

func TestAdminCommandsShowAPIErrors(t *testing.T) {
	_, env := adminServer(t)
	t.Run("a validation error reads code: description", func(t *testing.T) {
		_, _, err := cli(t, env, "clients", "create", "--name", "x", "--redirect-uri", "http://rp.example/cb")
		if err == nil || !strings.HasPrefix(err.Error(), "invalid_redirect_uri: ") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a wrong admin secret is invalid_client", func(t *testing.T) {
		bad := map[string]string{}
		for k, v := range env {
			bad[k] = v
		}
		bad["QRLOGIN_ADMIN_CLIENT_SECRET"] = "wrong"
		_, _, err := cli(t, bad, "clients", "list")
		if err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a flag wins over the environment", func(t *testing.T) {
		_, _, err := cli(t, env, "clients", "list", "--admin-client-secret", "wrong")
		if err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestAdminCommandsUsageErrors(t *testing.T) {
	_, env := adminServer(t)
	setStdin(t, "")
	noCreds := map[string]string{"QRLOGIN_ADMIN_URL": env["QRLOGIN_ADMIN_URL"]}
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"clients without a subcommand", env, []string{"clients"}},
		{"an unknown subcommand", env, []string{"clients", "frobnicate"}},
		{"an unknown flag", env, []string{"clients", "list", "--colour"}},
		{"get without a client id", env, []string{"clients", "get"}},
		{"get with two client ids", env, []string{"clients", "get", "a", "b"}},
		{"delete without a client id", env, []string{"clients", "delete"}},
		{"rotate-secret without a client id", env, []string{"clients", "rotate-secret"}},
		{"update without a change", env, []string{"clients", "update", "shop"}},
		{"update without a client id", env, []string{"clients", "update", "--quota", "5"}},
		{"list with an argument", env, []string{"clients", "list", "extra"}},
		{"create without --name", env, []string{"clients", "create"}},
		{"users create without --username", env, []string{"users", "create", "--password", "12345678"}},
		{"users create without a password", env, []string{"users", "create", "--username", "u"}},
		{"both --password and --password-stdin", env, []string{"users", "create", "--username", "u", "--password", "12345678", "--password-stdin"}},
		{"--password-stdin with empty input", env, []string{"users", "create", "--username", "u", "--password-stdin"}},
		{"users delete without an id", env, []string{"users", "delete"}},
		{"keys without a subcommand", env, []string{"keys"}},
		{"missing admin credentials", noCreds, []string{"keys", "list"}},
		{"a non-http admin URL", map[string]string{"QRLOGIN_ADMIN_URL": "ftp://127.0.0.1"}, []string{"keys", "list"}},
		{"a bad environment value", map[string]string{"QRLOGIN_JSON": "maybe"}, []string{"keys", "list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := cli(t, tt.env, tt.args...)
			if !errors.Is(err, errUsage) {
				t.Fatalf("err %v, want a usage error", err)
			}
		})
	}
}

// setStdin feeds --password-stdin for one test (not parallel: a global).
func setStdin(t *testing.T, s string) {
	old := adminStdin
	adminStdin = strings.NewReader(s)
	t.Cleanup(func() { adminStdin = old })
}

func TestPermute(t *testing.T) {
	fs := newFlagSet("t", &bytes.Buffer{})
	fs.Bool("json", false, "")
	fs.String("name", "", "")
	tests := []struct {
		name string
		in   []string
		want []string
		pos  int
	}{
		{"an id that begins with a dash is the expected argument", []string{"-OIGGRvKCKrxSGLRDlHQxQ", "--json"}, []string{"--json", "--", "-OIGGRvKCKrxSGLRDlHQxQ"}, 1},
		{"an unknown flag without expected arguments stays a flag", []string{"-nope"}, []string{"-nope", "--"}, 0},
		{"flags first stay first", []string{"--json", "id"}, []string{"--json", "--", "id"}, 0},
		{"a flag after the argument moves ahead", []string{"id", "--json"}, []string{"--json", "--", "id"}, 1},
		{"a flag's value travels with it", []string{"id", "--name", "x"}, []string{"--name", "x", "--", "id"}, 1},
		{"name=value is one argument", []string{"id", "--name=x"}, []string{"--name=x", "--", "id"}, 1},
		{"after -- everything is positional", []string{"--", "--json"}, []string{"--", "--json"}, 0},
		{"a lone dash is positional", []string{"-"}, []string{"--", "-"}, 1},
		{"--help is never the expected argument", []string{"--help"}, []string{"--help", "--"}, 1},
		{"-h is never the expected argument", []string{"-h", "id"}, []string{"-h", "--", "id"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := permute(fs, tt.in, tt.pos)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("permute(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestAdminCommandsAreWiredIntoRun(t *testing.T) {
	_, env := adminServer(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"users", "list", "--json"}, func(k string) string { return env[k] }, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if strings.TrimSpace(stdout.String()) != "{\n  \"users\": []\n}" {
		t.Errorf("stdout %q", stdout.String())
	}
}

// clients create --dpop-bound-access-tokens registers RFC 9449 §5.2's
// policy through the admin API; get shows it; without the flag it is off.
func TestClientsCreateDPoPBound(t *testing.T) {
	st, env := adminServer(t)
	mustCLI(t, env, "clients", "create", "--client-id", "kiosk", "--name", "Kiosk", "--dpop-bound-access-tokens")
	mustCLI(t, env, "clients", "create", "--client-id", "plain", "--name", "Plain")
	for id, want := range map[string]bool{"kiosk": true, "plain": false} {
		c, err := st.Client(context.Background(), id)
		if err != nil || c.DPoPBoundAccessTokens != want {
			t.Fatalf("%s stored %+v %v, want dpop_bound_access_tokens %v", id, c, err, want)
		}
	}
	if out := mustCLI(t, env, "clients", "get", "kiosk"); !regexp.MustCompile(`dpop_bound_access_tokens:\s+yes`).MatchString(out) {
		t.Errorf("clients get:\n%s", out)
	}
}
