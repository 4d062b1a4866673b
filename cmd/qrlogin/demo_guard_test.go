package main

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// When serve seeds the well-known demo data, and when it refuses to.
func TestDemoMode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		issuer   string
		demo     bool
		implied  bool
		refusing bool
	}{
		{"the README's first command: implied", nil, "http://localhost:8080", true, true, false},
		{"loopback address: implied", nil, "http://127.0.0.1:8080", true, true, false},
		{"IPv6 loopback: implied", nil, "http://[::1]:8080", true, true, false},
		{"with a database: not implied", []string{"--database-url", "postgres://db/x"}, "http://localhost:8080", false, false, false},
		{"--demo=false: off", []string{"--demo=false"}, "http://localhost:8080", false, false, false},
		{"--no-demo: off", []string{"--no-demo"}, "http://localhost:8080", false, false, false},
		{"a production issuer: not implied", nil, "https://login.example.com", false, false, false},
		{"a LAN issuer: not implied", nil, "http://192.168.1.20:8080", false, false, false},
		{"--demo on a LAN address (a real phone)", []string{"--demo"}, "http://192.168.1.20:8080", true, false, false},
		{"--demo on an IPv6 ULA", []string{"--demo"}, "http://[fd00::20]:8080", true, false, false},
		{"--demo with a database, loopback", []string{"--demo", "--database-url", "postgres://db/x"}, "http://localhost:8080", true, false, false},
		{"--demo for a production issuer: refused", []string{"--demo"}, "https://login.example.com", false, false, true},
		{"--demo for a public address: refused", []string{"--demo"}, "http://203.0.113.5:8080", false, false, true},
		{"--demo for a name that resolves anywhere: refused", []string{"--demo"}, "http://localhost.example.com", false, false, true},
		{"--demo and --no-demo: refused", []string{"--demo", "--no-demo"}, "http://localhost:8080", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, c := serveFlagSet(&syncBuffer{})
			if err := parseFlags(fs, tc.args, func(string) string { return "" }); err != nil {
				t.Fatal(err)
			}
			demo, implied, err := demoMode(c, explicit(fs), tc.issuer)
			if (err != nil) != tc.refusing || demo != tc.demo || implied != tc.implied {
				t.Fatalf("demo=%v implied=%v err=%v", demo, implied, err)
			}
		})
	}
	t.Run("QRLOGIN_DEMO=false counts as set", func(t *testing.T) {
		fs, c := serveFlagSet(&syncBuffer{})
		if err := parseFlags(fs, nil, func(k string) string { return map[string]string{"QRLOGIN_DEMO": "false"}[k] }); err != nil {
			t.Fatal(err)
		}
		if demo, _, _ := demoMode(c, explicit(fs), "http://localhost:8080"); demo {
			t.Fatal("demo data despite QRLOGIN_DEMO=false")
		}
	})
}

// The README's first command says why it seeded demo data.
func TestServeSaysDemoIsImplied(t *testing.T) {
	_, out := startServe(t)
	if !strings.Contains(out.String(), "implied:") || !strings.Contains(out.String(), "--demo=false") {
		t.Fatalf("banner does not say the demo data was implied:\n%s", out)
	}
}

// The case: no database, an https issuer. No demo data: the demo
// site's well-known secret is refused, nothing is printed.
func TestServeWithoutDemoForAProductionIssuer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--shutdown-delay", "0",
			"--issuer", "https://login.example.com"}, func(string) string { return "" }, out, &syncBuffer{})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == ""; {
		if m := listeningRe.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no banner:\n%s", out)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if strings.Contains(out.String(), "Demo data") || strings.Contains(out.String(), demoSiteSecret) {
		t.Fatalf("demo data for an https issuer:\n%s", out)
	}
	if status, body := demoAuthorize(t, "http://"+addr); status != http.StatusUnauthorized {
		t.Fatalf("the demo site's secret got %d %v, want 401: the client must not exist", status, body)
	}
}

// --demo with a production issuer: a real process exits non-zero at once
// with a message that says why, before serving anything.
func TestServeRefusesDemoForAProductionIssuer(t *testing.T) {
	bin := buildQrlogin(t)
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--demo", "--issuer", "https://login.example.com")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("serve --demo --issuer https://login.example.com: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "refusing to seed demo data") || strings.Contains(string(out), "listening on") {
		t.Fatalf("output:\n%s", out)
	}
}
