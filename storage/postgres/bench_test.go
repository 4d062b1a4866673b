package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// benchStore opens a store with room for the parallel goroutines
// (SetParallelism(8) × GOMAXPROCS).
func benchStore(b *testing.B) (storage.Store, string) {
	url := pgtest.NewDatabase(b)
	return pgtest.OpenStore(b, url+"&pool_max_conns=16"), url
}

// BenchmarkQRLoginByDeviceCode: each goroutine reads its own login, as
// the first poll of a PC at an instance that has not seen it does.
func BenchmarkQRLoginByDeviceCode(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		l := newLogin(t0, fmt.Sprintf("POLL%04d", n.Add(1)))
		if err := s.CreateQRLogin(ctx, l); err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			if _, err := s.QRLoginByDeviceCode(ctx, l.DeviceCodeHash); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRedeemQRLogin redeems b.N distinct confirmed logins, inserted
// beforehand in bulk, each with its access token: the redeem statement.
func BenchmarkRedeemQRLogin(b *testing.B) {
	s, url := benchStore(b)
	ctx := context.Background()
	raw := newPoolTB(b, url)
	if _, err := raw.Exec(ctx, `INSERT INTO qr_logins (id, qr_id_hash, device_code_hash, user_code, client_id,
		status, subject, created_at, expires_at)
		SELECT 'r' || i, sha256(('q' || i)::bytea), sha256(('d' || i)::bytea), 'C' || i, 'rp',
			'confirmed', 'alice', $1::timestamptz, $1::timestamptz + interval '1 hour'
		FROM generate_series(1, $2::int) i`, t0, b.N); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateUser(ctx, &storage.User{ID: "alice", Username: "alice", CreatedAt: t0}); err != nil {
		b.Fatal(err)
	}
	// Statistics, as autovacuum would gather them on a live table.
	if _, err := raw.Exec(ctx, `ANALYZE qr_logins`); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("r%d", next.Add(1))
			if _, err := s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventRedeem, ID: id, IP: "192.0.2.7", Now: t0,
				Tokens: &storage.Tokens{AccessID: "at-" + id, AccessExpiresAt: t0.Add(time.Hour)}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
