package load

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// connTo is a conn to a test server's URL.
func connTo(t *testing.T, raw string) *conn {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(newTarget(u))
	t.Cleanup(c.close)
	return c
}

// countingServer serves h and counts the connections it accepts.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// The request reaches the handler as net/http's client would send it, and
// the answers of one conn come over one kept-alive connection.
func TestConnPostsOverOneKeptAliveConnection(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/prefix/oauth/token" || r.Header.Get("Authorization") != "Basic eA==" ||
			r.Header.Get("Content-Type") != formType || string(body) != "a=1" || r.Host == "" {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"authorization_pending"}`)
	}))
	c := connTo(t, srv.URL)
	for range 5 {
		status, raw, err := c.post(context.Background(), "/prefix/oauth/token", formType, "Basic eA==", []byte("a=1"))
		if err != nil || status != http.StatusBadRequest || string(raw) != `{"error":"authorization_pending"}` {
			t.Fatalf("got %d %q %v", status, raw, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 requests, want 1", n)
	}
}

// Framing other than Content-Length is read correctly, and the connection
// is not reused when the answer says close or has no length.
func TestConnReadsEveryFraming(t *testing.T) {
	big := strings.Repeat("x", 10_000)
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			_, _ = io.WriteString(w, big[:5000])
			w.(http.Flusher).Flush() // forces chunked transfer coding
			_, _ = io.WriteString(w, big[5000:])
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "bye")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	}))
	c := connTo(t, srv.URL)
	for _, tc := range []struct{ path, want string }{
		{"/chunked", big}, {"/plain", "ok"}, {"/close", "bye"}, {"/plain", "ok"}, {"/empty", ""}, {"/plain", "ok"},
	} {
		status, raw, err := c.post(context.Background(), tc.path, formType, "", nil)
		if err != nil || status/100 != 2 || string(raw) != tc.want {
			t.Fatalf("%s: got %d, %d bytes, %v", tc.path, status, len(raw), err)
		}
	}
	// A new connection after the chunked answer (trailers are not read)
	// and after Connection: close: three in all.
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// A POST is never sent twice: a connection the server closed after an
// answer (as an idle timeout does) fails the next request, which is
// counted, and the one after goes over a new connection. A connection
// idle for longer than maxIdle is replaced before it is used.
func TestConnNeverResendsAndRetiresIdleConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted, requests atomic.Int32
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				// One answer, then the connection is closed with no
				// Connection: close, as an idle timeout would.
				defer nc.Close()
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				requests.Add(1)
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	c := connTo(t, "http://"+ln.Addr().String())
	post := func() error {
		_, raw, err := c.post(context.Background(), "/", formType, "", []byte("x"))
		if err == nil && string(raw) != "ok" {
			t.Fatalf("got %q", raw)
		}
		return err
	}
	if err := post(); err != nil {
		t.Fatal(err)
	}
	if err := post(); err == nil {
		t.Fatal("a request on the closed connection succeeded: was it sent twice?")
	}
	if err := post(); err != nil {
		t.Fatalf("after the failure: %v", err)
	}
	c.idle = time.Now().Add(-maxIdle - time.Second) // as if idle that long
	if err := post(); err != nil {
		t.Fatalf("after idling: %v", err)
	}
	if n, r := accepted.Load(), requests.Load(); n != 3 || r != 3 {
		t.Errorf("%d connections and %d requests, want 3 and 3 (one per successful request, none resent)", n, r)
	}
}

// A held request ends when its context does, and the conn is usable
// after.
func TestConnAbandonsARequestWhenTheContextEnds(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/held" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	defer close(release)
	c := connTo(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.send(ctx, "/held", formType, "", nil); err != nil {
		t.Fatal(err)
	}
	go cancel()
	_, _, err := c.receive(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if _, raw, err := c.post(context.Background(), "/", formType, "", nil); err != nil || string(raw) != "ok" {
		t.Fatalf("after: %q %v", raw, err)
	}
}

// An answer over the cap is an error, not a read of everything sent.
func TestConnRefusesAnOversizedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2000000")
		_, _ = w.Write(make([]byte, 2_000_000))
	}))
	defer srv.Close()
	c := connTo(t, srv.URL)
	if _, _, err := c.post(context.Background(), "/", formType, "", nil); !errors.Is(err, errTooLarge) {
		t.Fatalf("got %v, want errTooLarge", err)
	}
}

func TestJSONObjectEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"a\"b\\c\n\x01é":              `{"qr":"a\"b\\c\u000a\u0001é"}`,
		"http://127.0.0.1/q/7xHJ_wOM": `{"qr":"http://127.0.0.1/q/7xHJ_wOM"}`,
		"":                            `{"qr":""}`,
		"\"":                          `{"qr":"\""}`,
	} {
		if got := string(jsonObject("qr", in)); got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
}

// Answers are parsed strictly, as a careful client does: a member twice
// (which one wins differs between parsers) or a name in another case is
// not read as the field.
func TestDecodeIsStrict(t *testing.T) {
	var e oauthError
	if err := decode([]byte(`{"error":"authorization_pending","qr_status":"scanned","interval":5}`), &e); err != nil ||
		e.Error != "authorization_pending" || e.QRStatus != "scanned" || e.Interval != 5 {
		t.Fatalf("got %+v, %v", e, err)
	}
	if err := decode([]byte(`{"error":"slow_down","error":"authorization_pending"}`), &oauthError{}); err == nil {
		t.Error("a duplicated member was accepted")
	}
	e = oauthError{}
	if err := decode([]byte(`{"Error":"authorization_pending"}`), &e); err != nil || e.Error != "" {
		t.Errorf("a member in another case was read: %+v, %v", e, err)
	}
}

// The answer parser never panics, and where net/http reads an answer
// framed by Content-Length the same way, it reads the same status and
// body.
func FuzzReadAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 33\r\n\r\n{\"error\":\"authorization_pending\"}"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\r\n\r\nto the end"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &conn{br: bufio.NewReader(bytes.NewReader(data))}
		status, body, _, err := c.readAnswer()
		if err != nil {
			return
		}
		if status < 200 || status > 999 || len(body) > maxBody {
			t.Fatalf("status %d, %d bytes", status, len(body))
		}
		resp, herr := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
		if herr != nil || resp.ContentLength < 0 || len(resp.TransferEncoding) > 0 || resp.StatusCode < 200 {
			return
		}
		hbody, herr := io.ReadAll(resp.Body)
		if herr == nil && (resp.StatusCode != status || !bytes.Equal(hbody, body)) {
			t.Fatalf("net/http read %d %q, conn %d %q", resp.StatusCode, hbody, status, body)
		}
	})
}

// jsonObject's output is JSON that reads back as the value.
func FuzzJSONObject(f *testing.F) {
	f.Add("http://127.0.0.1/q/7xHJ_wOM")
	f.Add("a\"b\\c\n\x01é")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // the server's values are ASCII; JSON carries only Unicode text
		}
		var m map[string]string
		if err := json.Unmarshal(jsonObject("qr", s), &m); err != nil || m["qr"] != s {
			t.Fatalf("%q: %v %q", s, err, m["qr"])
		}
	})
}

// An https issuer is spoken to over TLS, its certificate checked.
func TestConnSpeaksTLSToAnHTTPSIssuer(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.ProtoMajor != 1 {
			http.Error(w, "not HTTP/1.1 over TLS", http.StatusTeapot)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c := connTo(t, srv.URL)
	if _, _, err := c.post(context.Background(), "/", formType, "", nil); err == nil {
		t.Fatal("a certificate no root signed was accepted")
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c.t.tls.RootCAs = roots
	if status, raw, err := c.post(context.Background(), "/", formType, "", nil); err != nil || status != 200 || string(raw) != "ok" {
		t.Fatalf("got %d %q %v", status, raw, err)
	}
}

// The poll body is the QR grant's form (SPEC §2.2), the device code
// escaped.
func TestPollBodyIsTheGrantsForm(t *testing.T) {
	q, err := url.ParseQuery(string(pollBody("a+b/c=&d", 10*time.Second)))
	if err != nil || q.Get("grant_type") != GrantQR || q.Get("device_code") != "a+b/c=&d" || q.Get("wait") != "10" || len(q) != 3 {
		t.Fatalf("got %v, %v", q, err)
	}
}
