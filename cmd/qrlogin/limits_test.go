package main

import (
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// serve puts its public listener within the connection bounds: with
// --max-conns-per-address 2, a third connection from one address reads
// 429 and is closed.
func TestServeBoundsConnectionsPerAddress(t *testing.T) {
	issuer, _ := startServe(t, "--max-conns-per-address", "2")
	u, _ := url.Parse(issuer)
	for range 2 {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second)) // a hang guard
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "HTTP/1.1 429 ") {
		t.Fatalf("a third connection from one address read %q", b)
	}
}

func TestConnectionBudgetKeepsAReserve(t *testing.T) {
	for nofile, want := range map[int]int{0: 0, 8: 6, 1024: 768, 20000: 18976, 1 << 20: 1<<20 - 1024} {
		if got := connectionBudget(nofile); got != want {
			t.Errorf("connectionBudget(%d) = %d, want %d", nofile, got, want)
		}
	}
}
