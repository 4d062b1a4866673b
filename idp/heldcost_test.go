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

// Issue 9, bounded memory: what one held long-poll costs the server (at
// most 8 KiB and no goroutine of its own). N long-polls are held over raw
// TCP connections (a client that keeps no goroutine or buffer of its own,
// so what grows is the server's), and the growth of goroutines and of heap
// and stack in use after a collection is divided by N. A long-poll held
// on an HTTP/1.x connection is parked (park.go): its connection, hijacked
// from net/http, an entry on its login's view and one runtime timer. Held
// in net/http's goroutine instead, it cost 2 goroutines (the connection's
// and its background read) and about 27 KiB (stacks and the connection's
// 4 KiB read and write buffers).
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
	bytes := (float64(after.bytes) - float64(before.bytes)) / n
	t.Logf("one held long-poll: %.2f goroutines, %.1f KiB of heap and stack (%.1f KiB stack) (%d held)", goroutines, bytes/1024,
		(float64(after.stack)-float64(before.stack))/n/1024, n)

	if goroutines > 0.05 {
		t.Errorf("a held long-poll costs %.2f goroutines, want none", goroutines)
	}
	// Measured at about 4 KiB: the net.Conn, the answer's header map (the
	// middleware's headers), what the log line needs of the request, the
	// request's context values, the view's entry and the timer. Held in a
	// goroutine again it would be over 20.
	if bytes > 8<<10 {
		t.Errorf("a held long-poll costs %.1f KiB, want at most 8", bytes/1024)
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
