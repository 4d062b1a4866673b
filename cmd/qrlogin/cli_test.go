package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/qrlogin/qrlogin/idp/admin"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

// countingAdmin runs the real admin listener (bootstrap client "admin",
// the server's default) and counts every request that reaches it.
func countingAdmin(t *testing.T) (storage.Store, *atomic.Int64, string) {
	t.Helper()
	st := memory.New()
	h, err := admin.New(admin.Config{
		Store:           st,
		AdminClientID:   defaultAdminClientID,
		AdminSecretHash: storage.Hash(testAdminSecret),
		Keys:            &testKeys{},
	})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return st, &n, srv.URL
}

// --help (or -h) on any command prints its usage and succeeds without
// doing anything: no request to the admin API, no listener, no database.
// Before, "clients delete --help" took --help for the client id and sent
// DELETE /admin/v1/clients/--help; "clients delete shop --help" exited 2.
func TestHelpOnEveryCommandDoesNothing(t *testing.T) {
	st, requests, url := countingAdmin(t)
	ctx := context.Background()
	if err := st.CreateClient(ctx, &storage.Client{ID: "shop", Name: "Shop", Type: storage.ClientConfidential,
		SecretHash: storage.Hash("s"), RedirectURIs: []string{"https://shop.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"QRLOGIN_ADMIN_URL":           url,
		"QRLOGIN_ADMIN_CLIENT_SECRET": testAdminSecret,
		// serve must not start: a listener on a fixed port would show it.
		"QRLOGIN_ADDR":       "127.0.0.1:1",
		"QRLOGIN_ADMIN_ADDR": "127.0.0.1:1",
	}
	cmds := [][]string{
		{"clients", "delete", "--help"},
		{"clients", "delete", "shop", "--help"},
		{"clients", "delete", "-h", "shop"},
		{"clients", "create", "--name", "X", "--help"},
		{"clients", "rotate-secret", "shop", "-help"},
		{"clients", "update", "shop", "--quota", "3", "-h"},
		{"clients", "get", "--help"},
		{"clients", "list", "--help"},
		{"users", "create", "--username", "u", "--password", "12345678", "--help"},
		{"users", "update", "--help"},
		{"users", "delete", "--help"},
		{"keys", "rotate", "--help"},
		{"keys", "list", "-h"},
		{"serve", "--help"},
		{"migrate", "--help"},
		{"bench", "--help"},
		{"version", "--help"},
		{"clients", "--help"},
		{"--help"},
	}
	for _, args := range cmds {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr)
			if err != nil {
				t.Fatalf("err %v, want none (exit 0)\nstderr: %s", err, stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, "usage: qrlogin") {
				t.Errorf("no usage printed:\n%s", out)
			}
			if n := requests.Load(); n != 0 {
				t.Fatalf("%d requests reached the admin API", n)
			}
		})
	}
	if _, err := st.Client(ctx, "shop"); err != nil {
		t.Fatalf("the client is gone: %v", err)
	}
	if list, _ := st.ListClients(ctx); len(list) != 1 {
		t.Fatalf("clients %d, want 1", len(list))
	}
}

// The usage of a command that takes an argument names it.
func TestHelpNamesTheArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"clients", "delete", "--help"}, func(string) string { return "" }, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "usage: qrlogin clients delete [flags] <client-id>") || !strings.Contains(stderr.String(), "-admin-url") {
		t.Errorf("usage:\n%s", stderr.String())
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr); err != nil {
				t.Fatalf("err %v\n%s", err, stderr.String())
			}
			if got, want := stdout.String(), "qrlogin "+versionString()+"\n"; got != want {
				t.Errorf("stdout %q, want %q", got, want)
			}
		})
	}
	t.Run("a version set at build time wins", func(t *testing.T) {
		old := version
		version = "v1.4.2"
		t.Cleanup(func() { version = old })
		var stdout bytes.Buffer
		if err := run(context.Background(), []string{"--version"}, func(string) string { return "" }, &stdout, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		if stdout.String() != "qrlogin v1.4.2\n" {
			t.Errorf("stdout %q", stdout.String())
		}
	})
	t.Run("without one, the build's own version", func(t *testing.T) {
		if v := versionString(); v == "" || strings.ContainsAny(v, " \n") {
			t.Errorf("version %q", v)
		}
	})
}

// The README's admin example works as written: only the secret is set,
// and the admin client id defaults to the server's ("admin").
func TestREADMEAdminExample(t *testing.T) {
	st, _, url := countingAdmin(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(readme))
	inBlock := false
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "export QRLOGIN_ADMIN_CLIENT_SECRET=…") {
			inBlock = true
			continue
		}
		if inBlock && strings.HasPrefix(l, "```") {
			break
		}
		if inBlock {
			lines = append(lines, l)
		}
	}
	if len(lines) < 3 {
		t.Fatalf("README admin example not found: %q", lines)
	}
	env := map[string]string{"QRLOGIN_ADMIN_URL": url, "QRLOGIN_ADMIN_CLIENT_SECRET": testAdminSecret}
	for _, l := range lines {
		args, ok := strings.CutPrefix(l, "go run ./cmd/qrlogin ")
		if !ok {
			t.Fatalf("README line %q is not a qrlogin command", l)
		}
		setStdin(t, "correct horse battery\n")
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), strings.Fields(args), func(k string) string { return env[k] }, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v\n%s", l, err, stderr.String())
		}
	}
	clients, _ := st.ListClients(context.Background())
	users, _ := st.ListUsers(context.Background())
	if len(clients) != 1 || clients[0].Name != "Shop" || len(users) != 1 || users[0].Username != "alice" {
		t.Fatalf("clients %+v users %+v", clients, users)
	}
}
