package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --geoip-db that does not open (missing, or not a MaxMind database) stops
// serve at start: a typo must not silently leave the proximity signal
// without countries.
func TestServeRefusesABadGeoIPDatabase(t *testing.T) {
	dir := t.TempDir()
	notMMDB := filepath.Join(dir, "country.mmdb")
	if err := os.WriteFile(notMMDB, []byte("not a MaxMind database"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"missing": filepath.Join(dir, "nope.mmdb"), "not a database": notMMDB} {
		t.Run(name, func(t *testing.T) {
			err := run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--geoip-db", path},
				func(string) string { return "" }, &syncBuffer{}, &syncBuffer{})
			if err == nil || !strings.Contains(err.Error(), "geoip database "+path) {
				t.Fatalf("serve started or failed for another reason: %v", err)
			}
		})
	}
}
