package postgres_test

import (
	"context"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// The pool's connections have TCP keep-alive (5 s idle, then a probe
// every 2 s, 3 of them) and TCP_USER_TIMEOUT (10 s), so a database host
// that vanished behind a silent network is noticed in seconds, not in the
// kernel's hours.
func TestConnectionsHaveKeepAliveAndUserTimeout(t *testing.T) {
	t.Parallel()
	s := pgtest.NewStore(t)
	err := s.WithSocket(context.Background(), func(c net.Conn) {
		tcp, ok := c.(*net.TCPConn)
		if !ok {
			t.Fatalf("the connection is a %T, want *net.TCPConn", c)
		}
		raw, err := tcp.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range []struct {
			name       string
			level, opt int
			want       int
		}{
			{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
			{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 5},
			{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 2},
			{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 3},
			{"TCP_USER_TIMEOUT", unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 10000},
		} {
			var got int
			var gerr error
			if err := raw.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), o.level, o.opt) }); err != nil || gerr != nil {
				t.Fatalf("%s: %v %v", o.name, err, gerr)
			}
			if got != o.want {
				t.Errorf("%s = %d, want %d", o.name, got, o.want)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}
