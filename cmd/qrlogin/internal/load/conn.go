package load

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// The requests under load go through conn, not net/http's client: the
// bench's CPU is the server's loss on a shared machine, and net/http's
// Transport hands each request between three goroutines (the caller,
// the connection's writeLoop and readLoop) and builds a header map for
// every request and answer. A conn is one keep-alive HTTP/1.1 connection
// (RFC 9112) used by one goroutine at a time, as a PC's or a phone's own
// connection is: the request is written with one write, the answer read
// on the same goroutine. Set-up (the phone's sign-in, discovery, keys)
// still uses net/http.

// target is the server the conns dial.
type target struct {
	addr string      // host:port to dial
	host string      // the Host header
	tls  *tls.Config // https issuers; nil for http
}

func newTarget(u *url.URL) *target {
	t := &target{addr: u.Host, host: u.Host}
	port := u.Port()
	if u.Scheme == "https" {
		t.tls = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
		if port == "" {
			t.addr = net.JoinHostPort(u.Hostname(), "443")
		}
	} else if port == "" {
		t.addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return t
}

// conn is one connection to the target, dialled on first use and again
// after the server closed it or a request on it failed.
type conn struct {
	t    *target
	nc   net.Conn
	br   *bufio.Reader
	idle time.Time // when nc finished its last answer
	wbuf []byte    // the request being written
	body []byte    // the last answer's body, reused by the next request
}

func newConn(t *target) *conn { return &conn{t: t} }

// errTooLarge is an answer over maxBody.
var errTooLarge = errors.New("answer body over 1 MiB")

// past is a deadline that has passed: it makes a blocked read or write on
// the connection return at once.
var past = time.Unix(1, 0)

// maxIdle is how long a connection may have been idle and still carry a
// request: servers close idle connections (qrlogin after a minute), and
// a POST sent on one that is being closed fails with no way to know
// whether it was processed, so it may not be sent again (RFC 9110
// §9.2.2). net/http's Transport notices the close at once through the
// connection's read goroutine; a conn has none and so redials instead.
const maxIdle = 5 * time.Second

// post sends a POST of body to path and reads the answer. The body it
// returns is valid until the next request on c. When ctx ends the request
// is abandoned and the connection closed.
func (c *conn) post(ctx context.Context, path, contentType, auth string, body []byte) (int, []byte, error) {
	if err := c.send(ctx, path, contentType, auth, body); err != nil {
		return 0, nil, err
	}
	return c.receive(ctx)
}

// send writes a POST of body to path; receive reads its answer, maybe on
// another goroutine (never both at once). A request of a few hundred
// bytes on a connection that carries one request at a time fits in the
// socket's buffer, so the write does not wait for the server.
func (c *conn) send(ctx context.Context, path, contentType, auth string, body []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := append(c.wbuf[:0], "POST "...)
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, c.t.host...)
	w = append(w, "\r\nUser-Agent: qrlogin-bench"...)
	if auth != "" {
		w = append(w, "\r\nAuthorization: "...)
		w = append(w, auth...)
	}
	w = append(w, "\r\nContent-Type: "...)
	w = append(w, contentType...)
	w = append(w, "\r\nContent-Length: "...)
	w = strconv.AppendInt(w, int64(len(body)), 10)
	w = append(w, "\r\n\r\n"...)
	w = append(w, body...)
	c.wbuf = w

	if c.nc != nil && time.Since(c.idle) > maxIdle {
		c.close()
	}
	if c.nc == nil {
		if err := c.dial(ctx); err != nil {
			return err
		}
	}
	if _, err := c.nc.Write(w); err != nil {
		c.close()
		return err
	}
	return nil
}

// receive reads the answer to the request send wrote.
func (c *conn) receive(ctx context.Context) (status int, raw []byte, err error) {
	nc := c.nc
	if nc == nil {
		return 0, nil, errors.New("no request on the connection")
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(past) })
	keep := false
	defer func() {
		if !stop() {
			// ctx ended during the request: the connection's state is
			// unknown, and an answer that came meanwhile is not used.
			keep = false
			status, raw, err = 0, nil, ctx.Err()
		}
		if !keep {
			c.close()
		}
	}()
	status, raw, keep, err = c.readAnswer()
	c.idle = time.Now()
	return status, raw, err
}

func (c *conn) dial(ctx context.Context) error {
	var nc net.Conn
	var err error
	if c.t.tls != nil {
		nc, err = (&tls.Dialer{Config: c.t.tls}).DialContext(ctx, "tcp", c.t.addr)
	} else {
		nc, err = (&net.Dialer{}).DialContext(ctx, "tcp", c.t.addr)
	}
	if err != nil {
		return err
	}
	c.nc = nc
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 16<<10)
	} else {
		c.br.Reset(nc)
	}
	return nil
}

func (c *conn) close() {
	if c.nc != nil {
		_ = c.nc.Close()
		c.nc = nil
	}
}

// readAnswer reads one answer (RFC 9112 §4, §6): the status line, the
// header fields the framing needs, the body. keep says whether the
// connection can carry the next request.
func (c *conn) readAnswer() (status int, body []byte, keep bool, err error) {
	for {
		line, err := c.line()
		if err != nil {
			return 0, nil, false, err
		}
		// HTTP/1.1 200 OK
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return 0, nil, false, fmt.Errorf("malformed status line %q", line)
		}
		status, err = strconv.Atoi(string(line[9:12]))
		if err != nil || status < 100 {
			return 0, nil, false, fmt.Errorf("malformed status line %q", line)
		}
		keep = line[7] == '1'
		length, chunked := int64(-1), false
		for {
			h, err := c.line()
			if err != nil {
				return 0, nil, false, err
			}
			if len(h) == 0 {
				break
			}
			name, value, ok := bytes.Cut(h, []byte(":"))
			if !ok {
				return 0, nil, false, fmt.Errorf("malformed header line %q", h)
			}
			value = bytes.TrimSpace(value)
			switch {
			case bytes.EqualFold(name, []byte("Content-Length")):
				if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
					return 0, nil, false, fmt.Errorf("malformed Content-Length %q", value)
				}
			case bytes.EqualFold(name, []byte("Transfer-Encoding")):
				chunked = bytes.EqualFold(value, []byte("chunked"))
				if !chunked {
					return 0, nil, false, fmt.Errorf("unsupported Transfer-Encoding %q", value)
				}
			case bytes.EqualFold(name, []byte("Connection")):
				if bytes.Contains(bytes.ToLower(value), []byte("close")) {
					keep = false
				}
			}
		}
		if status < 200 {
			continue // an interim answer (RFC 9110 §15.2): the real one follows
		}
		switch {
		case status == 204 || status == 304:
			return status, nil, keep, nil
		case chunked:
			// Trailers are not read: the connection is not reused.
			body, err = readAll(c.body[:0], httputil.NewChunkedReader(c.br))
			keep = false
		case length > maxBody:
			return 0, nil, false, errTooLarge
		case length >= 0:
			if int64(cap(c.body)) < length {
				c.body = make([]byte, length)
			}
			body = c.body[:length]
			_, err = io.ReadFull(c.br, body)
		default: // the body runs to the connection's end (RFC 9112 §6.3)
			body, err = readAll(c.body[:0], c.br)
			keep = false
		}
		if err != nil {
			return 0, nil, false, err
		}
		c.body = body[:0]
		return status, body, keep, nil
	}
}

// line reads one line without its CRLF.
func (c *conn) line() ([]byte, error) {
	l, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("header line too long")
		}
		return nil, err
	}
	return bytes.TrimRight(l, "\r\n"), nil
}

// readAll appends r to b up to maxBody.
func readAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > maxBody {
			return nil, errTooLarge
		}
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// decode parses a JSON answer under load with go-json-experiment/json
// (encoding/json/v2 to be): 4–5× less CPU than encoding/json for the
// token endpoint's error answer (0.7 against 3.1 µs), and stricter
// (member names matched exactly, duplicates and invalid UTF-8 refused).
func decode(raw []byte, v any) error { return jsonv2.Unmarshal(raw, v) }
