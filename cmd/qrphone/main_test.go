package main

import (
	"log/slog"
	"os"
	"testing"
)

// TestMain quiets zitadel, which logs every route registration and client
// error through slog's default logger.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	os.Exit(m.Run())
}
