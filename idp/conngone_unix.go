//go:build unix

package idp

import (
	"errors"
	"net"
	"syscall"
)

// connGone reports whether the peer of c has closed its side or reset it,
// without blocking and without consuming anything: a one-byte MSG_PEEK
// with MSG_DONTWAIT on the socket under every wrapper (TLS, the
// listener's limitedConn) reads 0 at the end of stream, fails with
// EAGAIN while the peer is there and silent, and returns a byte if it sent
// one (a pipelined request: still there). A TLS peer's close_notify is a
// byte too: over TLS only a connection closed without one (or reset) is
// seen gone. What cannot be probed is not gone.
func connGone(c net.Conn) bool {
	for {
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	_ = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			gone = n == 0
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		default:
			gone = true // ECONNRESET and the like
		}
		return true // never wait for readability
	})
	return gone
}
