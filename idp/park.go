package idp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/idp/oauth"
)

// Parked long-polls (issue 9, bounded memory). net/http serves a request
// on a goroutine of its own and, while the handler runs, reads the
// connection in a second one (to notice a client that hangs up); with the
// connection's 4 KiB read and write buffers, a token-endpoint long-poll
// held that way cost 27 KiB, and 10,000 held ones 334 MiB. A long-poll
// about to be held on an HTTP/1.x connection is parked instead: the
// connection is hijacked (which ends the background read), only the
// net.Conn is kept, the poll waits as an entry on its login's view with one
// runtime timer (grants/park.go), and the request's goroutine returns.
// When the poll is woken, the answer is computed by the same code as any
// poll's (grants.QR.Poll → writeQRAnswer) and written as a complete
// HTTP/1.1 response with the headers the middleware had set, then the
// connection is closed (Connection: close, RFC 9112 §9.6): the client's
// next poll opens a new one.
//
// What is weaker than a request held in its goroutine: a client that hangs
// up while parked is not noticed until its answer is due (the end of its
// wait, at most 30 s, or a change); the answer's write then fails, which is
// harmless. HTTP/2 has no hijacking: its long-polls are held as before.
// A request pipelined behind a long-poll (which no client of this
// endpoint does) is not served: the connection closes after the answer,
// and RFC 9112 §9.3.2 lets the client send it again.

// parkedWriteTimeout bounds the write of a parked poll's answer: a client
// that does not read cannot keep the goroutine that writes it.
const parkedWriteTimeout = 10 * time.Second

// parking counts the parked long-polls whose answers are not written yet,
// so a shutdown can wait for them (WaitParked): the HTTP server forgets a
// connection once it is hijacked.
type parking struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n == 0
}

func newParking() *parking {
	p := &parking{idle: make(chan struct{})}
	close(p.idle)
	return p
}

func (p *parking) add() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		p.idle = make(chan struct{})
	}
	p.n++
}

func (p *parking) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n--; p.n == 0 {
		close(p.idle)
	}
}

// WaitParked waits until every parked long-poll has been answered, or ctx
// ends. Drain answers them at once; a shutdown calls this with the HTTP
// server's Shutdown.
func (s *Server) WaitParked(ctx context.Context) error {
	s.parking.mu.Lock()
	idle := s.parking.idle
	s.parking.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// parker is the grants.PollRequest.Park and Gone of a token request: nil
// on HTTP/2, which cannot hijack. Gone probes the hijacked connection
// (connGone); grants calls it only on a parked poll, after Park.
func (s *Server) parker(w http.ResponseWriter, r *http.Request) (park func() (func(any, error), bool), gone func() bool) {
	ri := infoOf(r.Context())
	if r.ProtoMajor != 1 || ri == nil {
		return nil, nil
	}
	var hijacked net.Conn
	return func() (func(any, error), bool) {
		header := w.Header() // what the middleware set: request id, security headers
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return nil, false
		}
		hijacked = conn
		// From here the middleware leaves the request to the answer: its
		// log line, metrics and span are written then, with the real
		// status and duration.
		ri.parked = true
		s.parking.add()
		lr := logRequest(r)
		return func(resp any, err error) { s.answerParked(conn, header, lr, ri, resp, err) }, true
	}, func() bool { return hijacked != nil && connGone(hijacked) }
}

// logRequest keeps of r what its log line needs (finishRequest): its
// method, peer, User-Agent and context values, without the cancellation
// (the request has returned). The rest (headers, form, body) is not kept
// while the poll is parked.
func logRequest(r *http.Request) *http.Request {
	lr := r.WithContext(context.WithoutCancel(r.Context()))
	lr.Header = http.Header{}
	if ua := r.UserAgent(); ua != "" {
		lr.Header.Set("User-Agent", ua)
	}
	lr.URL, lr.Body, lr.GetBody, lr.Form, lr.PostForm, lr.MultipartForm, lr.Trailer = nil, nil, nil, nil, nil, nil, nil
	return lr
}

// answerParked writes a parked poll's answer on its hijacked connection
// and closes it; then the request's log line, metrics and span.
func (s *Server) answerParked(conn net.Conn, header http.Header, r *http.Request, ri *requestInfo, resp any, err error) {
	defer s.parking.done()
	defer s.waiting.Add(-1)
	b := &bufferedWriter{header: header}
	w := &statusWriter{ResponseWriter: b}
	if errors.Is(err, grants.ErrGone) {
		// The client hung up: nothing to write (as for a held poll whose
		// request's context ended).
		_ = conn.Close()
		s.finishRequest(r, ri, w, time.Since(ri.start))
		return
	}
	func() {
		defer func() {
			if v := recover(); v != nil {
				// As the middleware does for a request's goroutine.
				s.log.ErrorContext(r.Context(), "panic", "route", ri.route, "panic", v, "stack", string(debug.Stack()))
				b.status, w.status = 0, 0
				b.body.Reset()
				oauth.WriteError(w, nil, oauth.New(oauth.ServerError, "internal error").WithStatus(http.StatusInternalServerError))
			}
		}()
		s.writeQRAnswer(w, resp, err)
	}()
	if err := writeResponse(conn, b); err != nil {
		s.log.DebugContext(r.Context(), "parked long-poll: the answer was not delivered", "err", err)
	}
	_ = conn.Close()
	s.finishRequest(r, ri, w, time.Since(ri.start))
}

// writeResponse writes b as a complete HTTP/1.1 response that closes the
// connection.
func writeResponse(conn net.Conn, b *bufferedWriter) error {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	h := b.header
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Set("Content-Length", strconv.Itoa(b.body.Len()))
	h.Set("Connection", "close")
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "HTTP/1.1 %d %s\r\n", b.status, http.StatusText(b.status))
	if err := h.Write(&buf); err != nil {
		return err
	}
	buf.WriteString("\r\n")
	buf.Write(b.body.Bytes())
	if err := conn.SetWriteDeadline(time.Now().Add(parkedWriteTimeout)); err != nil {
		return err
	}
	_, err := conn.Write(buf.Bytes())
	return err
}
