package load

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

// deadlinePassed is a run whose deadline has passed but whose timer has
// not fired yet: Err is still nil.
type deadlinePassed struct{ context.Context }

func (deadlinePassed) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// A request cut by the run's deadline is not an error even when it fails
// before the run's context says it ended (a dial cut by its own deadline,
// which is the run's).
func TestFailAtTheRunsDeadlineIsNoError(t *testing.T) {
	rec := newRecorder()
	rec.fail(deadlinePassed{context.Background()}, &requestError{step: StepConfirmToTokens, err: errors.New("dial tcp 127.0.0.1:1: i/o timeout")})
	if len(rec.errors) != 0 {
		t.Fatalf("errors %v: the run's end counted as an error", rec.errors)
	}
	rec.fail(context.Background(), &requestError{step: StepConfirmToTokens, err: errors.New("dial tcp 127.0.0.1:1: connection refused")})
	if len(rec.errors) != 1 {
		t.Fatalf("errors %v: a failure during the run not counted", rec.errors)
	}
}
