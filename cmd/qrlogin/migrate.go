package main

import (
	"context"
	"fmt"
	"io"

	"github.com/qrlogin/qrlogin/storage/postgres"
)

// runMigrate applies pending PostgreSQL migrations (package sql) and exits.
// It is safe to run while servers start or run: migrations take an
// advisory lock, and each file applies once (SPEC §5).
func runMigrate(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	url := fs.String("database-url", "", "PostgreSQL URL (postgres://user:password@host/db)")
	password := fs.String("database-password", "", "password for --database-url (replaces the URL's); e.g. file:/run/secrets/db_password")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: migrate takes no arguments, got %q", errUsage, fs.Args())
	}
	if *url == "" {
		return fmt.Errorf("%w: migrate needs --database-url or %s", errUsage, envName("database-url"))
	}
	dbURL, err := withPassword(*url, *password)
	if err != nil {
		return err
	}
	applied, err := postgres.MigrateURL(ctx, dbURL)
	// Report what was applied even when a later file failed: those
	// transactions committed.
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database schema is up to date")
	}
	return nil
}
