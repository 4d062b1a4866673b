package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/idp/admin"
	"github.com/qrlogin/qrlogin/idp/password"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

// adminServerWithOP is adminServer with the provider's user manager, as
// serve wires it: user updates need the OP's rules.
func adminServerWithOP(t *testing.T) (storage.Store, map[string]string) {
	t.Helper()
	st := memory.New()
	op, err := idp.New(context.Background(), idp.Config{Issuer: "http://127.0.0.1:1", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	h, err := admin.New(admin.Config{Store: st, AdminClientID: "ops", AdminSecretHash: storage.Hash(testAdminSecret), Users: op.Users()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return st, map[string]string{"QRLOGIN_ADMIN_URL": srv.URL, "QRLOGIN_ADMIN_CLIENT_ID": "ops", "QRLOGIN_ADMIN_CLIENT_SECRET": testAdminSecret}
}

// qrlogin users update changes what it is given, and only that: a new
// name keeps the tokens, a new password (from stdin) or --disable revokes
// them; --enable lets the user in again.
func TestUsersUpdateCommand(t *testing.T) {
	st, env := adminServerWithOP(t)
	ctx := context.Background()
	hash, _ := password.Hash("alice-password")
	u := &storage.User{ID: "u-alice", Username: "alice", PasswordHash: hash, Name: "Alice", Email: "alice@example.com", CreatedAt: time.Now().UTC()}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	token := func(id string) *storage.AccessToken {
		at := &storage.AccessToken{ID: id, ClientID: "phone", Subject: u.ID, SessionID: "session-" + id,
			CreatedAt: time.Now().UTC(), ExpiresAt: time.Now().Add(time.Hour).UTC()}
		if err := st.CreateAccessToken(ctx, at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	live := func(at *storage.AccessToken) bool {
		_, err := st.AccessToken(ctx, at.ID, time.Now())
		return err == nil
	}

	first := token("at-1")
	out := mustCLI(t, env, "users", "update", u.ID, "--name", "Alice B.")
	if !strings.Contains(out, "Alice B.") || !strings.Contains(out, "disabled:") {
		t.Fatalf("update --name printed:\n%s", out)
	}
	if !live(first) {
		t.Fatal("a name change revoked the user's token")
	}

	setStdin(t, "a brand new password\n")
	out = mustCLI(t, env, "users", "update", "--password-stdin", "--json", u.ID)
	if strings.Contains(out, "brand new") {
		t.Fatal("the password is echoed")
	}
	stored, _ := st.User(ctx, u.ID)
	if ok, _ := password.Verify(stored.PasswordHash, "a brand new password"); !ok {
		t.Fatal("the new password was not stored")
	}
	if live(first) {
		t.Fatal("the password change left the user's token alive")
	}

	second := token("at-2")
	out = mustCLI(t, env, "users", "update", u.ID, "--disable", "--json")
	var got struct{ Disabled bool }
	if err := json.Unmarshal([]byte(out), &got); err != nil || !got.Disabled {
		t.Fatalf("update --disable: %v\n%s", err, out)
	}
	if live(second) {
		t.Fatal("disabling left the user's token alive")
	}
	if out = mustCLI(t, env, "users", "list"); !strings.Contains(out, "DISABLED") {
		t.Fatalf("list does not show the disabled column:\n%s", out)
	}
	mustCLI(t, env, "users", "update", u.ID, "--enable")
	if stored, _ = st.User(ctx, u.ID); stored.Disabled {
		t.Fatal("--enable left the user disabled")
	}

	for _, args := range [][]string{
		{"users", "update", u.ID},
		{"users", "update", u.ID, "--disable", "--enable"},
		{"users", "update", u.ID, "--password", "x", "--password-stdin"},
		{"users", "update", "--name", "x"},
	} {
		if _, _, err := cli(t, env, args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, _, err := cli(t, env, "users", "update", u.ID, "--password", "short"); err == nil || !strings.Contains(err.Error(), "at least 8") {
		t.Errorf("a short password: %v", err)
	}
	if _, _, err := cli(t, env, "users", "update", "no-such-user", "--name", "x"); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Errorf("an unknown user: %v", err)
	}
}
