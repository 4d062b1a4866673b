package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/qrlogin/qrlogin/storage"
)

// openPostgres opens the PostgreSQL store and applies pending migrations.
func openPostgres(ctx context.Context, url, keyEncryptionKey string, log *slog.Logger) (storage.Store, error) {
	return nil, errors.New("PostgreSQL support is being wired in")
}
