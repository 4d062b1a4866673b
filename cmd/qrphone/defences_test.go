package main

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/qrlogin/qrlogin/storage"
)

// The phone app's side of the defences against QR relay (README
// "Defences against QR relay"): number matching asks for the PC's number
// instead of yes, and the session choice is a flag.
func TestScanWithNumberMatchingAndSessionChoice(t *testing.T) {
	ts := newTestServer(t)
	if err := ts.store.SetClientQRDefences(context.Background(), rpID,
		&storage.Client{QRNumberMatching: true, QRSession: storage.QRSessionAsk}); err != nil {
		t.Fatal(err)
	}
	alice := newPhone(t, ts)
	alice.login(t, "alice")
	scanned := func(l *qrLogin) int {
		t.Helper()
		status, body := ts.poll(t, l)
		if status != 400 || body["qr_status"] != "scanned" || body["match_number"] == nil {
			t.Fatalf("poll after the scan: %d %v", status, body)
		}
		return int(body["match_number"].(float64))
	}

	// Asked on the terminal: the number the PC shows confirms, and
	// --session this_session gets the PC no refresh token.
	l := ts.startQR(t, nil)
	pr, pw := io.Pipe()
	defer pw.Close()
	out := &notifyWriter{want: "Type the number shown on the PC", seen: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		env := map[string]string{"QRPHONE_ISSUER": ts.URL, "QRPHONE_TOKEN_FILE": alice.tokenFile}
		done <- run(context.Background(), []string{"scan", l.URI, "--session", "this_session"}, func(k string) string { return env[k] }, pr, out, io.Discard)
	}()
	<-out.seen
	io.WriteString(pw, strconv.Itoa(scanned(l))+"\n")
	if err := <-done; err != nil {
		t.Fatalf("confirming with the number: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "number matching") || !strings.Contains(out.String(), "Confirmed.") {
		t.Errorf("output:\n%s", out)
	}
	if status, body := ts.poll(t, l); status != 200 || body["refresh_token"] != nil {
		t.Fatalf("poll after confirming only this session: %d %v", status, body)
	}

	// --yes without the number: refused before anything is sent.
	l = ts.startQR(t, nil)
	if _, _, err := alice.run("", "scan", l.URI, "--yes"); !errors.Is(err, errUsage) {
		t.Fatalf("--yes without --number: %v", err)
	}
	scanned(l) // still scanned

	// A wrong number cancels the sign-in.
	l = ts.startQR(t, nil)
	if _, _, err := alice.run("", "scan", l.URI, "--yes", "--number", "100"); err == nil {
		t.Fatal("--number 100 was accepted")
	}
	number := scanned(l)
	wrong := 10 + (number-10+1)%90
	if _, _, err := alice.run("", "scan", l.URI, "--yes", "--number", strconv.Itoa(wrong)); err == nil || !strings.Contains(err.Error(), "not the number") {
		t.Fatalf("a wrong number: %v", err)
	}
	if status, body := ts.poll(t, l); status != 400 || body["error"] != "access_denied" {
		t.Fatalf("poll after a wrong number: %d %v", status, body)
	}
	out2, _, err := alice.run("", "notifications")
	if err != nil || !strings.Contains(out2, "WRONG NUMBER picked for "+rpName) || !strings.Contains(out2, "only this session") {
		t.Fatalf("notifications: %v\n%s", err, out2)
	}
}
