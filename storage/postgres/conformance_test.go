package postgres_test

import (
	"testing"

	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
	"github.com/qrlogin/qrlogin/storage/storagetest"
)

// TestConformance runs the storage contract's suite, each rule on a fresh
// database.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return pgtest.NewStore(t) })
}

// TestConformanceAcrossInstances runs the rules that span two instances
// over one database: wake-ups through LISTEN/NOTIFY, and races with one
// winner across pools.
func TestConformanceAcrossInstances(t *testing.T) {
	storagetest.RunShared(t, func(t *testing.T) (storage.Store, storage.Store) {
		u := pgtest.NewDatabase(t)
		return pgtest.OpenStore(t, u), pgtest.OpenStore(t, u)
	})
}
