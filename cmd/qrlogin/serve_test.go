package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var issuerRe = regexp.MustCompile(`issuer:\s+(\S+)`)

// startServe runs `qrlogin serve` on free loopback ports and returns its
// issuer and banner once it is listening.
func startServe(t *testing.T, extra ...string) (issuer string, out *syncBuffer) {
	t.Helper()
	issuer, out, _ = startServeWith(t, func(string) string { return "" }, &syncBuffer{}, extra...)
	return issuer, out
}

// startServeWith is startServe with an environment and a stderr; stop
// ends the server and waits for it (the test's cleanup does too).
func startServeWith(t *testing.T, env func(string) string, stderr io.Writer, extra ...string) (issuer string, out *syncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan error, 1)
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-level", "error", "--shutdown-delay", "0"}, extra...)
	go func() { done <- run(ctx, args, env, out, stderr) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("serve did not stop")
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := issuerRe.FindStringSubmatch(out.String()); m != nil && strings.Contains(out.String(), "Demo data") {
			return m[1], out, stop
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve printed no banner:\n%s", out)
	return "", nil, nil
}

// Acceptance 6: serve on a fresh store starts, prints the demo
// credentials, and answers discovery; cancelling it shuts it down.
func TestServePrintsDemoCredentials(t *testing.T) {
	issuer, out := startServe(t)
	for _, want := range []string{"client_id=demo-site client_secret=demo-site-secret", "client_id=qrphone",
		"username=demo password=demo-password", "admin secret:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("discovery: %d", resp.StatusCode)
	}
}

// The README's curl walk-through, run as written against a fresh server.
func TestREADMEWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "openssl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed in CI: %v", tool, err)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start, end := strings.Index(text, "<!-- walkthrough:start -->"), strings.Index(text, "<!-- walkthrough:end -->")
	if start < 0 || end < start {
		t.Fatal("README has no walk-through markers")
	}
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(text[start:end], -1) {
		script.WriteString(block[1])
	}
	// Checks on what the walk-through produced, appended after it.
	script.WriteString(`
echo "$TOKENS" | grep -q '"id_token":"eyJ'
echo "$SCAN" | grep -q '"user_code":"'
AGAIN=$(curl -s -u demo-site:demo-site-secret -d grant_type=urn:qrlogin:params:oauth:grant-type:qr -d device_code="$DEVICE_CODE" "$ISSUER/oauth/token")
echo "$AGAIN" | grep -q pending
`)
	issuer, _ := startServe(t)
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Env = append(os.Environ(), "ISSUER="+issuer)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walk-through failed: %v\n%s", err, out)
	}
	for _, want := range []string{`"qr_status":"pending"`, `"qr_status":"scanned"`, `{"status":"confirmed"}`, `"amr":["qr"]`, `"nonce":"n-0S6_WzA2Mj"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("walk-through output lacks %s:\n%s", want, out)
		}
	}
}
