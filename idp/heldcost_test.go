package idp_test

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp"
)

// Issue 9, bounded memory: what one held long-poll costs the server. N
// long-polls are held over raw TCP connections (a client that keeps no
// goroutine or buffer of its own, so what grows is the server's), and the
// growth of goroutines and of heap and stack in use after a collection is
// divided by N. A held long-poll is net/http's connection goroutine
// blocked in grants' one select, plus the background read net/http keeps
// on every connection whose request is being served (it notices a client
// that hangs up): two goroutines, no timer goroutine of qrlogin's.
func TestHeldLongPollCost(t *testing.T) {
	const n = 300
	s := newServer(t)
	logins := make([]*qrStart, n)
	for i := range logins {
		logins[i] = s.start(t, url.Values{"qr_image": {"false"}})
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(rpID+":"+rpSecret))
	addr := strings.TrimPrefix(s.URL, "http://")

	before := heldCost()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for _, l := range logins {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		body := url.Values{"grant_type": {idp.GrantQR}, "device_code": {l.DeviceCode}, "wait": {"30"}}.Encode()
		if _, err := fmt.Fprintf(c, "POST /oauth/token HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\n"+
			"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
			addr, auth, len(body), body); err != nil {
			t.Fatal(err)
		}
	}
	for s.idp.QR().Held() < n {
		time.Sleep(10 * time.Millisecond)
	}
	after := heldCost()
	goroutines := float64(after.goroutines-before.goroutines) / n
	bytes := float64(after.bytes-before.bytes) / n
	t.Logf("one held long-poll: %.2f goroutines, %.1f KiB of heap and stack (%.1f KiB stack) (%d held)", goroutines, bytes/1024,
		float64(after.stack-before.stack)/n/1024, n)

	if goroutines > 2.05 {
		t.Errorf("a held long-poll costs %.2f goroutines, want net/http's 2 and none of qrlogin's", goroutines)
	}
	// Most of it is net/http's: the two goroutines' stacks (about 10 KiB)
	// and the connection's read and write buffers (4 + 4 + 2 KiB); what a
	// held long-poll adds of qrlogin's is its request's context, a timer
	// and a channel on the login's view. Measured at about 27 KiB (38
	// under -race, whose goroutine stacks are larger); this bound catches
	// a per-poll buffer or goroutine, not noise.
	if bytes > 64<<10 {
		t.Errorf("a held long-poll costs %.1f KiB", bytes/1024)
	}
}

type cost struct {
	goroutines int
	bytes      uint64
	stack      uint64
}

// heldCost is the process's goroutines and heap and stack in use, after
// two collections (the second frees what the first's finalizers
// released; stacks shrink at a collection when mostly unused).
func heldCost() cost {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return cost{runtime.NumGoroutine(), m.HeapInuse + m.StackInuse, m.StackInuse}
}
