package idp

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Connections (SPEC §7). Every open connection holds a file descriptor
// and some memory whether or not it sends anything: one address holding
// 19,900 idle keep-alive connections made the server fail every accept
// with "too many open files". The public listener therefore bounds them
// per address and in all, before the HTTP server sees them.

// ListenerLimits bounds a listener's open connections.
type ListenerLimits struct {
	// PerAddress bounds the open connections of one address (IPv6: one
	// /64); 0 means no bound. Past it a connection is answered Refusal
	// and closed.
	PerAddress int
	// Total bounds the open connections in all; 0 means no bound. At the
	// bound the listener stops accepting, as netutil.LimitListener does:
	// new connections wait in the kernel's backlog until one closes,
	// instead of the process running out of file descriptors.
	Total int
	// Exempt lists addresses with no per-address bound (the trusted
	// proxies: every client behind one shares its address).
	Exempt []netip.Prefix
	// Refusal is written to a connection refused for its address before
	// it is closed: RefusalHTTP for plain HTTP; nil (just close) for TLS,
	// whose client expects a handshake first.
	Refusal []byte
}

// RefusalHTTP is what a connection past its address's bound reads: 429
// with Retry-After (RFC 6585 §4), then the connection closes.
var RefusalHTTP = func() []byte {
	const body = "too many connections from your address\n"
	return []byte("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
}()

// ConnListener is a listener within ListenerLimits.
type ConnListener struct {
	net.Listener
	limits  ListenerLimits
	refused func(limit string)

	slots     chan struct{} // one per open connection when Total > 0
	closed    chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex
	perKey map[string]int
	open   atomic.Int64
	// refusing counts refused connections still being answered; past
	// maxRefusing they are closed without an answer, so refusals cannot
	// hold descriptors themselves.
	refusing atomic.Int64
}

const (
	maxRefusing  = 64
	refusalDwell = time.Second // for the request's header, then again for the answer
)

// LimitListener wraps ln in the limits l. Refusals are counted by the
// server's metrics (qrlogin_rate_limited_total) under
// connections_per_address; connections waiting at the Total bound are in
// the kernel's backlog, not refused.
func (s *Server) LimitListener(ln net.Listener, l ListenerLimits) *ConnListener {
	if l.Exempt == nil {
		l.Exempt = s.cfg.TrustedProxies
	}
	return newConnListener(ln, l, s.countRefusal)
}

func newConnListener(ln net.Listener, l ListenerLimits, refused func(string)) *ConnListener {
	cl := &ConnListener{Listener: ln, limits: l, refused: refused, closed: make(chan struct{}), perKey: map[string]int{}}
	if l.Total > 0 {
		cl.slots = make(chan struct{}, l.Total)
	}
	return cl
}

// Open reports how many accepted connections are open.
func (l *ConnListener) Open() int { return int(l.open.Load()) }

// Accept waits for a slot (Total), accepts, and hands out the connection
// if its address has room (PerAddress); a connection without room is
// answered and closed, and Accept goes on to the next.
func (l *ConnListener) Accept() (net.Conn, error) {
	for {
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}:
			case <-l.closed:
				return nil, net.ErrClosed
			}
		}
		c, err := l.Listener.Accept()
		if err != nil {
			l.freeSlot()
			return nil, err
		}
		key, ok := l.take(c.RemoteAddr())
		if !ok {
			l.freeSlot()
			l.refused(limitConnectionAddress)
			l.refuse(c)
			continue
		}
		l.open.Add(1)
		return &limitedConn{Conn: c, l: l, key: key}, nil
	}
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *ConnListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

func (l *ConnListener) freeSlot() {
	if l.slots != nil {
		<-l.slots
	}
}

// take counts a connection against its address; key "" is not counted
// (no bound, an exempt address, or no address at all).
func (l *ConnListener) take(a net.Addr) (key string, ok bool) {
	if l.limits.PerAddress <= 0 {
		return "", true
	}
	tcp, isTCP := a.(*net.TCPAddr)
	if !isTCP {
		return "", true
	}
	ip := tcp.AddrPort().Addr().Unmap()
	for _, p := range l.limits.Exempt {
		if p.Contains(ip) {
			return "", true
		}
	}
	key = addrKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perKey[key] >= l.limits.PerAddress {
		return "", false
	}
	l.perKey[key]++
	return key, true
}

func (l *ConnListener) release(key string) {
	l.open.Add(-1)
	if key != "" {
		l.mu.Lock()
		if l.perKey[key]--; l.perKey[key] <= 0 {
			delete(l.perKey, key)
		}
		l.mu.Unlock()
	}
	l.freeSlot()
}

// refuse answers a refused connection with Refusal and closes it. It
// waits (up to refusalDwell in all) for the request's header first, so an
// HTTP client reads the answer as the answer to its request, then
// half-closes and reads what else comes, so that closing with unread data
// does not reset the connection before the client has read the answer.
func (l *ConnListener) refuse(c net.Conn) {
	if l.limits.Refusal == nil || l.refusing.Add(1) > maxRefusing {
		if l.limits.Refusal != nil {
			l.refusing.Add(-1)
		}
		_ = c.Close()
		return
	}
	go func() {
		defer l.refusing.Add(-1)
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(refusalDwell))
		buf := make([]byte, 4096)
		var head []byte
		for len(head) < len(buf) && !bytes.Contains(head, []byte("\r\n\r\n")) {
			n, err := c.Read(buf[:len(buf)-len(head)])
			head = append(head, buf[:n]...)
			if err != nil {
				break
			}
		}
		_ = c.SetDeadline(time.Now().Add(refusalDwell))
		if _, err := c.Write(l.limits.Refusal); err != nil {
			return
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
}

// limitedConn gives its place back when closed.
type limitedConn struct {
	net.Conn
	l    *ConnListener
	key  string
	once sync.Once
}

// NetConn is the connection under the limit (connGone probes it).
func (c *limitedConn) NetConn() net.Conn { return c.Conn }

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}
