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
