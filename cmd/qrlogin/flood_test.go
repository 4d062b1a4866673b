package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
)

// qrlogin flood runs every case against a server with its default limits
// and reports what the server answered and its memory. Small counts: it
// checks what the command reports, not the server's figures (README has
// those, from a full run).
func TestFloodReportsEveryCase(t *testing.T) {
	admin := freeAddr(t)
	issuer := startBenchServer(t, "--admin-addr", admin) // in this process: --pid is ours
	var out, errOut syncBuffer
	err := run(context.Background(), []string{"flood", "--issuer", issuer, "--pid", strconv.Itoa(os.Getpid()),
		"--metrics-url", "http://" + admin + "/metrics", "--count", "20", "--hold", "300ms"},
		func(string) string { return "" }, &out, &errOut)
	report := out.String() + errOut.String()
	if err != nil {
		t.Fatalf("flood: %v\n%s", err, report)
	}
	t.Logf("flood report:\n%s", report)
	for _, want := range []string{
		"authorize: 20 × /authorize", "900 KB state: 431", "2 KB state: 302",
		"polls: 20 concurrent /login/status", "unanswered until cut", "the server held at most 3 long-polls",
		"conns: 20 keep-alive connections", "accepted (200), kept alive until the flood ended",
		"2 KB password: 400", "wrong password, one account: 429",
		// Sorted by limit: under load another limit may be listed first.
		// The login's cap of 3 or, when earlier polls of the cookie are
		// still counted, its session's cap: either refuses them.
		"the server counted refusals: ", " held_polls_per_", " password_per_account ",
		"another address during the flood: 200", "server RSS: ",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if count(t, report, "unanswered until cut (held, or waiting for a connection)") != 3 || count(t, report, "429 from /login/status (held long-polls)") != 17 {
		t.Errorf("20 long-polls on one login: want 3 held and 17 refused")
	}
}

func TestFloodRefusesUnknownCases(t *testing.T) {
	err := run(context.Background(), []string{"flood", "--case", "everything"}, func(string) string { return "" }, &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("an unknown case: %v, want a usage error", err)
	}
}

// --case held starts logins and holds a token-endpoint long-poll on each:
// every one is held until cut, and the server counted them as held.
func TestFloodHeldHoldsOneLongPollPerLogin(t *testing.T) {
	admin := freeAddr(t)
	issuer := startBenchServer(t, "--admin-addr", admin)
	var out, errOut syncBuffer
	err := run(context.Background(), []string{"flood", "--issuer", issuer, "--pid", strconv.Itoa(os.Getpid()),
		"--metrics-url", "http://" + admin + "/metrics", "--case", "held", "--count", "30", "--hold", "500ms"},
		func(string) string { return "" }, &out, &errOut)
	report := out.String() + errOut.String()
	if err != nil {
		t.Fatalf("flood --case held: %v\n%s", err, report)
	}
	t.Logf("flood report:\n%s", report)
	for _, want := range []string{"held: 30 QR logins, one token-endpoint long-poll (wait=30) on each",
		"the server held at most 30 long-polls", "server RSS: "} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if count(t, report, "held until cut") != 30 {
		t.Errorf("want 30 long-polls held until cut")
	}
}
