package idp_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage/postgres"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// txProxy stands between the server and PostgreSQL and counts the
// transactions it sees end, as PostgreSQL's own xact counters would: every
// ReadyForQuery with status idle that answers a Sync or a simple Query is
// the end of one transaction (a statement outside BEGIN is one; a BEGIN …
// COMMIT is one). It tells apart what is not the server's work: the LISTEN
// connection (by its application_name), and the pool's liveness pings
// ("-- ping", sent when a connection was idle over a second). Counting on
// the wire is exact and immediate, where pg_stat_database is flushed
// asynchronously, seconds later.
type txProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	txns  int // transactions of the server's work
	pings int // pool liveness pings
}

func newTxProxy(t *testing.T, dbURL string) (*txProxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &txProxy{ln: ln, target: u.Host}
	t.Cleanup(func() { ln.Close() })
	go p.serve()
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *txProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.relay(c)
	}
}

// take returns the counts since the last take.
func (p *txProxy) take() (txns, pings int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	txns, pings = p.txns, p.pings
	p.txns, p.pings = 0, 0
	return txns, pings
}

func (p *txProxy) relay(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	// What each expected ReadyForQuery answers, in order: a ping or not.
	var (
		mu      sync.Mutex
		pending []bool
		listen  bool
	)
	go func() {
		defer server.Close()
		defer client.Close()
		r := io.TeeReader(client, server)
		// The startup message: length, protocol, then name/value pairs.
		var n uint32
		if binary.Read(r, binary.BigEndian, &n) != nil || n < 8 {
			return
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		mu.Lock()
		listen = bytes.Contains(body, []byte("application_name\x00"+postgres.ListenAppName+"\x00"))
		mu.Unlock()
		for {
			kind, payload, err := readMessage(r)
			if err != nil {
				return
			}
			switch kind {
			case 'S': // Sync: the extended protocol's statement ends here
				mu.Lock()
				pending = append(pending, false)
				mu.Unlock()
			case 'Q': // a simple query
				mu.Lock()
				pending = append(pending, strings.TrimRight(string(payload), "\x00") == "-- ping")
				mu.Unlock()
			}
		}
	}()
	r := io.TeeReader(server, client)
	for {
		kind, payload, err := readMessage(r)
		if err != nil {
			return
		}
		if kind != 'Z' {
			continue
		}
		mu.Lock()
		if len(pending) == 0 { // the ReadyForQuery after authentication
			mu.Unlock()
			continue
		}
		ping := pending[0]
		pending = pending[1:]
		isListen := listen
		mu.Unlock()
		if isListen || len(payload) != 1 || payload[0] != 'I' {
			continue
		}
		p.mu.Lock()
		if ping {
			p.pings++
		} else {
			p.txns++
		}
		p.mu.Unlock()
	}
}

// readMessage reads one typed protocol message.
func readMessage(r io.Reader) (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n < 4 {
		return 0, nil, io.ErrUnexpectedEOF
	}
	payload := make([]byte, n-4)
	_, err := io.ReadFull(r, payload)
	return head[0], payload, err
}

// Issue 9, acceptance 2: a complete QR login, device authorization
// included, is at most 5 PostgreSQL transactions, and a pending poll whose
// answer did not change is none. The server runs on PostgreSQL through a
// proxy that counts transactions on the wire; one pooled connection, and a
// first login beforehand that prepares every statement on it (a prepare
// is a transaction of its own, once per statement and connection).
func TestPostgreSQLTransactionsPerLogin(t *testing.T) {
	proxy, viaProxy := newTxProxy(t, pgtest.NewDatabase(t))
	s := newServerOn(t, pgtest.OpenStore(t, viaProxy+"&pool_max_conns=1"))
	phone := s.phoneToken(t, "alice")

	type step struct {
		name string
		max  int
		run  func(r **qrStart, ticket *string)
	}
	steps := []step{
		{"device authorization (/qr/authorize)", 1, func(r **qrStart, _ *string) { *r = s.start(t, nil) }},
		{"first poll: pending", 0, func(r **qrStart, _ *string) {
			if _, body := s.poll(t, idp.GrantQR, (*r).DeviceCode, nil); body["qr_status"] != "pending" {
				t.Fatalf("first poll: %v", body)
			}
		}},
		{"a poll whose answer did not change: pending", 0, func(r **qrStart, _ *string) {
			s.clock.Advance(2 * time.Second)
			if _, body := s.poll(t, idp.GrantQR, (*r).DeviceCode, nil); body["qr_status"] != "pending" {
				t.Fatalf("second poll: %v", body)
			}
		}},
		{"scan (the phone's bearer token checked in the same statement)", 1, func(r **qrStart, ticket *string) {
			*ticket = s.scan(t, phone, (*r).VerificationURIComplete)
		}},
		{"the poll that reports scanned", 0, func(r **qrStart, _ *string) {
			if _, body := s.poll(t, idp.GrantQR, (*r).DeviceCode, url.Values{"wait": {"10"}}); body["qr_status"] != "scanned" {
				t.Fatalf("poll after the scan: %v", body)
			}
		}},
		{"confirm, and the held long-poll redeems with its tokens", 2, func(r **qrStart, ticket *string) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				if status, body := s.poll(t, idp.GrantQR, (*r).DeviceCode, url.Values{"wait": {"10"}}); status != 200 || body["id_token"] == nil {
					t.Errorf("redeem: %d %v", status, body)
				}
			}()
			for s.idp.QR().Held() == 0 {
				time.Sleep(time.Millisecond)
			}
			if status, body := s.phone(t, phone, "/qr/confirm", map[string]string{"ticket": *ticket}); status != 200 {
				t.Fatalf("confirm: %d %v", status, body)
			}
			<-done
		}},
	}
	// Round 0 prepares the statements; round 1 is counted.
	for round := range 2 {
		var r *qrStart
		var ticket string
		proxy.take()
		total := 0
		for _, st := range steps {
			st.run(&r, &ticket)
			txns, pings := proxy.take()
			if round == 0 {
				continue
			}
			t.Logf("%-62s %d transactions (+%d liveness pings)", st.name, txns, pings)
			if txns > st.max {
				t.Errorf("%s: %d transactions, designed for at most %d", st.name, txns, st.max)
			}
			total += txns
		}
		if round == 1 {
			t.Logf("complete login, device authorization included: %d PostgreSQL transactions", total)
			if total > 5 {
				t.Errorf("a complete login took %d transactions, want at most 5", total)
			}
		}
	}
}
