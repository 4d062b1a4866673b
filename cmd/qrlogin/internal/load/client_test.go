package load

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The phone's sign-in follows redirects only on the issuer's host: a
// server that sends it elsewhere gets an error, and the other host no
// request.
func TestSignInPhoneStaysOnTheIssuer(t *testing.T) {
	var foreign atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { foreign.Add(1) }))
	defer other.Close()
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/login?id=1", http.StatusFound)
	}))
	defer issuer.Close()

	_, err := signInPhone(context.Background(), issuer.URL, http.DefaultTransport, "qrphone", "http://127.0.0.1/callback", "demo", "pw")
	if err == nil || !strings.Contains(err.Error(), "not the login page") {
		t.Fatalf("got %v, want a refusal to leave the issuer", err)
	}
	if n := foreign.Load(); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
}

func TestRequestErrorKind(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *requestError
		want string
	}{
		{"an answer with an OAuth code names step, status and code",
			&requestError{step: "scan", status: 409, code: "qr_already_scanned"}, "scan: 409 qr_already_scanned"},
		{"an answer without a code names step and status",
			&requestError{step: "start", status: 502}, "start: 502"},
		{"no answer is a transport error, without the details that differ",
			&requestError{step: "poll", err: errors.New("dial tcp 127.0.0.1:41234: connection refused")}, "poll: transport"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.kind(); got != tc.want {
				t.Errorf("kind = %q, want %q", got, tc.want)
			}
		})
	}
}

// Failures caused by the run's end are not errors: a request cut off by
// the deadline says nothing about the server.
func TestRecorderIgnoresFailuresAtTheEnd(t *testing.T) {
	rec := newRecorder()
	live, cancel := context.WithCancel(context.Background())
	rec.fail(live, &requestError{step: "scan", status: 500, code: "server_error"})
	cancel()
	rec.fail(live, &requestError{step: "scan", err: context.Canceled})
	if len(rec.errors) != 1 || rec.errors["scan: 500 server_error"] != 1 {
		t.Errorf("errors = %v, want only the one before the end", rec.errors)
	}
}
