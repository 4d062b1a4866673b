package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/postgres"
)

// openPostgres opens the PostgreSQL store and applies pending migrations
// (under an advisory lock: several instances may start at once).
func openPostgres(ctx context.Context, url, keyEncryptionKey string, statementTimeout time.Duration, log *slog.Logger) (storage.Store, error) {
	key, err := decodeKey(keyEncryptionKey)
	if err != nil {
		return nil, err
	}
	s, err := postgres.Open(ctx, postgres.Config{URL: url, KeyEncryptionKey: key, Logger: log, StatementTimeout: statementTimeout})
	if err != nil {
		return nil, err
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("migrating: %w", err)
	}
	for _, name := range applied {
		log.Info("applied migration", "file", name)
	}
	return s, nil
}

// withPassword puts password (from --database-password, typically a
// file: reference) into a postgres:// URL, replacing the URL's own.
// Several hosts (postgres://h1,h2/db) are kept as they are.
func withPassword(dbURL, password string) (string, error) {
	if password == "" {
		return dbURL, nil
	}
	u, err := url.Parse(dbURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "", fmt.Errorf("%w: --database-password needs --database-url in the form postgres://user@host/db", errUsage)
	}
	user := ""
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, password)
	return u.String(), nil
}

// decodeKey reads the 32-byte key that encrypts signing keys and shared
// secrets at rest; every instance on one database needs the same one.
func decodeKey(v string) ([]byte, error) {
	if v == "" {
		return nil, fmt.Errorf("%w: --key-encryption-key (QRLOGIN_KEY_ENCRYPTION_KEY) is required with a database; make one with: openssl rand -base64 32", errUsage)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(v); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: --key-encryption-key must be 32 bytes in base64", errUsage)
}
