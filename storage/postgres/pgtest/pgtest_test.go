package pgtest

import (
	"runtime"
	"testing"
)

// recorder is a testing.TB that records how AdminURL ended the test.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()              {}
func (r *recorder) Skipf(string, ...any) { r.skipped = true; runtime.Goexit() }
func (r *recorder) Fatalf(string, ...any) {
	r.failed = true
	runtime.Goexit()
}

// Without a database PostgreSQL tests skip on a laptop, but must fail in
// CI: a CI run that silently tests nothing is worse than a red one.
func TestAdminURLSkipsLocallyAndFailsInCI(t *testing.T) {
	tests := []struct {
		name, url, ci         string
		wantSkip, wantFailure bool
	}{
		{"no URL outside CI skips", "", "", true, false},
		{"no URL in CI fails", "", "true", false, true},
		{"a URL is returned", "postgres://u@127.0.0.1/db", "true", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvURL, tt.url)
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			var got string
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = AdminURL(r)
			}()
			<-done
			if r.skipped != tt.wantSkip || r.failed != tt.wantFailure {
				t.Errorf("skipped %v failed %v, want %v %v", r.skipped, r.failed, tt.wantSkip, tt.wantFailure)
			}
			if !tt.wantSkip && !tt.wantFailure && got != tt.url {
				t.Errorf("got %q, want %q", got, tt.url)
			}
		})
	}
}

func TestWithDatabase(t *testing.T) {
	tests := []struct{ name, admin, want string }{
		{"the path is replaced and the query kept",
			"postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable", "postgres://u:p@127.0.0.1:5432/qrlogin_test_x?sslmode=disable"},
		{"a URL without a database gets one", "postgresql://u@localhost", "postgresql://u@localhost/qrlogin_test_x"},
		{"a keyword/value string is refused", "host=127.0.0.1 dbname=postgres", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := withDatabase(tt.admin, "qrlogin_test_x")
			if got != tt.want || (err != nil) != (tt.want == "") {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
