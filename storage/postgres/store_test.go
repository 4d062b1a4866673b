package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/postgres"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// wakeWithin bounds liveness only: a wake-up measured here takes
// milliseconds.
const wakeWithin = 5 * time.Second

// subscribe hears the changes of login id (and the "may have missed"
// change, ID "").
func subscribe(t *testing.T, s storage.Store, id string) <-chan storage.QRChange {
	ch := make(chan storage.QRChange, 16)
	t.Cleanup(s.SubscribeQRLogins(func(c storage.QRChange) {
		if c.ID == id || c.ID == "" {
			select {
			case ch <- c:
			default:
			}
		}
	}))
	return ch
}

// waitChange waits to hear want. A change of a login is the next one
// heard, but for "changes may have been missed" (the LISTEN connection's
// loss and its reconnect each announce one), which may come before it.
func waitChange(t *testing.T, ch <-chan storage.QRChange, want storage.QRChange, what string) {
	t.Helper()
	deadline := time.After(wakeWithin)
	for {
		select {
		case got := <-ch:
			if got == want {
				return
			}
			if got.ID != "" || want.ID == "" {
				t.Fatalf("%s: heard %+v, want %+v", what, got, want)
			}
		case <-deadline:
			t.Fatalf("%s: %+v not heard within %v", what, want, wakeWithin)
		}
	}
}

func TestFailedTransitionAnnouncesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s := pgtest.OpenStore(t, url)
	l := newLogin(t0, "NOWAKEUP")
	mustCreate(t, s, l)
	ch := subscribe(t, s, l.ID)
	if _, err := s.ApplyQR(ctx, redeem(l.ID, t0)); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("redeem of a pending login: %v", err)
	}
	// A successful transition after the failed one: its announcement is
	// the first one the subscriber may hear.
	if _, err := s.ApplyQR(ctx, scan(l.ID, "alice", "t1", t0)); err != nil {
		t.Fatal(err)
	}
	waitChange(t, ch, storage.QRChange{ID: l.ID, Status: storage.StatusScanned}, "scan")
	events, _ := s.QRAuditEvents(ctx, l.ID)
	if len(events) != 2 {
		t.Errorf("%d audit events, want created and scanned only", len(events))
	}
}

func TestListenConnectionLossWakesEveryWaiterAndRecovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s := pgtest.OpenStore(t, url)
	l := newLogin(t0, "RECONNCT")
	mustCreate(t, s, l)
	ch := subscribe(t, s, l.ID)

	admin := newPool(t, url)
	var killed []int32
	if err := admin.QueryRow(ctx, `WITH l AS MATERIALIZED (SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database())
		SELECT array_agg(pid) FROM l WHERE pg_terminate_backend(pid)`, postgres.ListenAppName).Scan(&killed); err != nil || len(killed) != 1 {
		t.Fatalf("terminated listen connections %v (%v), want 1", killed, err)
	}
	waitChange(t, ch, storage.QRChange{}, "after reconnect (changes may have been missed)")

	// Wait until the new LISTEN is in place, then a change must still wake.
	// The terminated backend may still be listed for a moment after
	// pg_terminate_backend returned (it signals, it does not wait), with
	// LISTEN as its last query: only another pid is the new connection.
	deadline := time.Now().Add(wakeWithin)
	for {
		var n int
		admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1
			AND datname = current_database() AND pid <> $2 AND query = 'LISTEN `+postgres.NotifyChannel+`'`, postgres.ListenAppName, killed[0]).Scan(&n)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new LISTEN connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.ApplyQR(ctx, scan(l.ID, "alice", "t1", t0)); err != nil {
		t.Fatal(err)
	}
	waitChange(t, ch, storage.QRChange{ID: l.ID, Status: storage.StatusScanned}, "scan after reconnect")
}

// Each QR transition and each read is one statement: one network write,
// then the answer. The failure path of a transition costs one more (it
// tells ErrNotFound from ErrConflict).
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	var writes atomic.Int64
	s, err := postgres.OpenCounting(ctx, postgres.Config{URL: url, KeyEncryptionKey: pgtest.KeyEncryptionKey}, &writes)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateUser(ctx, &storage.User{ID: "alice", Username: "alice", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	apply := func(a *storage.Attempt) error {
		_, err := s.ApplyQR(ctx, a)
		return err
	}
	steps := []struct {
		name string
		run  func(l *storage.QRLogin) error
		want int64
	}{
		{"create", func(l *storage.QRLogin) error { return s.CreateQRLogin(ctx, l) }, 1},
		{"read by device code", func(l *storage.QRLogin) error {
			_, err := s.QRLoginByDeviceCode(ctx, l.DeviceCodeHash)
			return err
		}, 1},
		{"scan", func(l *storage.QRLogin) error { return apply(scan(l.ID, "alice", "t-"+l.ID, t0)) }, 1},
		{"confirm with notification", func(l *storage.QRLogin) error {
			a := confirm(l.ID, "alice", "t-"+l.ID, t0)
			a.NotificationID = "n-" + l.ID
			return apply(a)
		}, 1},
		{"redeem with tokens", func(l *storage.QRLogin) error {
			a := redeem(l.ID, t0)
			a.Tokens = &storage.Tokens{AccessID: "at-" + l.ID, AccessExpiresAt: t0.Add(time.Hour), RefreshID: "rt-" + l.ID,
				RefreshHash: storage.Hash("rt-" + l.ID), RefreshExpiresAt: t0.Add(time.Hour)}
			return apply(a)
		}, 1},
		{"redeem again (conflict)", func(l *storage.QRLogin) error {
			if err := apply(redeem(l.ID, t0)); !errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("second redeem: %v, want a conflict", err)
			}
			return nil
		}, 2},
	}
	// The first login warms pgx's statement cache (a prepare per new
	// statement and connection); the second is measured.
	for round, code := range []string{"ROUNDTR1", "ROUNDTR2"} {
		l := newLogin(t0, code)
		for _, st := range steps {
			before := writes.Load()
			if err := st.run(l); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			got := writes.Load() - before
			t.Logf("round %d, %s: %d round trips", round, st.name, got)
			if round == 1 && got != st.want {
				t.Errorf("%s: %d round trips, want %d", st.name, got, st.want)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := pgtest.KeyEncryptionKey
	// A listener that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()

	t.Run("an unreachable database is unavailable and its error has no password", func(t *testing.T) {
		_, err := postgres.Open(ctx, postgres.Config{URL: "postgres://qrlogin:hunter2secret@" + refusedAddr + "/x?sslmode=disable", KeyEncryptionKey: key})
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("got %v, want ErrUnavailable", err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("error shows the password: %v", err)
		}
	})
	t.Run("a connect that runs out of time is unavailable", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err := postgres.Open(ctx, postgres.Config{URL: "postgres://qrlogin:x@" + silent.Addr().String() + "/x?sslmode=disable", KeyEncryptionKey: key})
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("got %v, want ErrUnavailable", err)
		}
	})
	t.Run("a key encryption key of the wrong size is refused", func(t *testing.T) {
		_, err := postgres.Open(ctx, postgres.Config{URL: "postgres://127.0.0.1/x", KeyEncryptionKey: key[:16]})
		if err == nil || errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("got %v, want a configuration error", err)
		}
	})
	t.Run("a closed store is unavailable", func(t *testing.T) {
		s, err := postgres.Open(ctx, postgres.Config{URL: pgtest.NewDatabase(t), KeyEncryptionKey: key})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		s.Close()
		if err := s.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Ping: %v, want ErrUnavailable", err)
		}
		if _, err := s.QRLogin(ctx, "x"); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("QRLogin: %v, want ErrUnavailable", err)
		}
	})
}

func TestKeysAndSecretsAreEncryptedAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s := pgtest.OpenStore(t, url)
	raw := newPool(t, url)
	pkcs8 := bytes.Repeat([]byte("PKCS8-DER-PRIVATE-KEY-"), 20)
	for _, id := range []string{"k1", "k2"} {
		if err := s.CreateSigningKey(ctx, &storage.SigningKey{ID: id, Algorithm: "ES256", PrivateKey: pkcs8, CreatedAt: t0, NotBefore: t0}); err != nil {
			t.Fatal(err)
		}
	}
	var stored []byte
	if err := raw.QueryRow(ctx, `SELECT private_key FROM signing_keys WHERE id = 'k1'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, pkcs8[:16]) {
		t.Fatal("the private key is stored in the clear")
	}
	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0].PrivateKey, pkcs8) {
		t.Fatalf("SigningKeys: %v, %v", keys, err)
	}

	otherKey := bytes.Repeat([]byte{7}, 32)
	wrong, err := postgres.Open(ctx, postgres.Config{URL: url, KeyEncryptionKey: otherKey})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if keys, err := wrong.SigningKeys(ctx); err == nil {
		t.Errorf("another key encryption key decrypted %d keys", len(keys))
	}

	if _, err := raw.Exec(ctx, `UPDATE signing_keys SET private_key = (SELECT private_key FROM signing_keys WHERE id = 'k1') WHERE id = 'k2'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SigningKeys(ctx); err == nil {
		t.Error("a ciphertext copied to another row decrypted")
	}

	secret := []byte("cookie-hash-key-0123456789abcdef")
	got, err := s.Secret(ctx, "cookie", func() []byte { return secret })
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Secret: %q %v", got, err)
	}
	raw.QueryRow(ctx, `SELECT value FROM secrets WHERE name = 'cookie'`).Scan(&stored)
	if bytes.Contains(stored, secret) {
		t.Error("the secret is stored in the clear")
	}
}

func TestSecretIsTheSameOnEveryInstance(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	stores := []storage.Store{pgtest.OpenStore(t, url), pgtest.OpenStore(t, url)}
	var wg sync.WaitGroup
	got := make([][]byte, 16)
	for i := range got {
		wg.Go(func() {
			v, err := stores[i%2].Secret(context.Background(), "token-key", func() []byte { return []byte(storage.NewSecret(32)) })
			if err != nil {
				t.Errorf("Secret: %v", err)
			}
			got[i] = v
		})
	}
	wg.Wait()
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("caller %d got another secret than caller 0", i)
		}
	}
}

func TestCloseEndsTheListenConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, postgres.Config{URL: url, KeyEncryptionKey: pgtest.KeyEncryptionKey})
	if err != nil {
		t.Fatal(err)
	}
	admin := newPool(t, url)
	count := func() (n int) {
		admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1
			AND datname = current_database()`, postgres.ListenAppName).Scan(&n)
		return n
	}
	if n := count(); n != 1 {
		t.Fatalf("%d listen connections while open, want 1", n)
	}
	s.Close()
	// The server notices the disconnect asynchronously.
	deadline := time.Now().Add(wakeWithin)
	for count() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the listen connection outlived Close")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
