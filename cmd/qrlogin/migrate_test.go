package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	neturl "net/url"
	"strings"
	"testing"

	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

func TestMigrateCommand(t *testing.T) {
	url := pgtest.NewEmptyDatabase(t)
	// The same database behind a multi-host URL (a failover pair) whose
	// first host is down, with the password given apart.
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	u.User = neturl.User(u.User.Username())
	u.Host = freeAddr(t) + "," + u.Host
	multiHost := u.String()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		stdout  string
		wantErr error
	}{
		{"the first run applies every migration", []string{"--database-url", url}, nil, "applied 0001_init.sql\n", nil},
		{"the environment supplies the URL, and a second run applies nothing", nil,
			map[string]string{"QRLOGIN_DATABASE_URL": url}, "database schema is up to date\n", nil},
		{"a multi-host URL whose first host is down reaches the next", []string{"--database-url", multiHost,
			"--database-password", password}, nil, "database schema is up to date\n", nil},
		{"no URL is a usage error", nil, nil, "", errUsage},
		{"an argument is a usage error", []string{"--database-url", url, "extra"}, nil, "", errUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"migrate"}, tt.args...),
				func(k string) string { return tt.env[k] }, &stdout, &stderr)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.HasPrefix(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q, want it to start with %q", stdout.String(), tt.stdout)
			}
		})
	}
}

// freeAddr returns a loopback address where nothing listens (until a test
// starts something there): connecting is refused, as by a host that is
// down.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
