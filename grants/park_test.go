package grants_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

type parkedAnswer struct {
	resp any
	err  error
}

// parkPoll sends a long-poll that the caller parks (as the token endpoint
// does on an HTTP/1.x connection) and returns where its answer arrives.
func parkPoll(t *testing.T, q *grants.QR, dc string, mint grants.Minter) <-chan parkedAnswer {
	t.Helper()
	answers := make(chan parkedAnswer, 1)
	park := func() (func(any, error), bool) {
		return func(resp any, err error) { answers <- parkedAnswer{resp, err} }, true
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := q.Poll(ctx, grants.PollRequest{DeviceCode: dc, ClientID: "rp", Wait: 10 * time.Second, Mint: mint, Park: park})
	cancel() // the request has returned: the parked poll does not depend on its context
	if !errors.Is(err, grants.ErrParked) {
		t.Fatalf("Poll: %v, want ErrParked", err)
	}
	if n := q.Parked(); n != 1 {
		t.Fatalf("%d parked, want 1", n)
	}
	return answers
}

func answerOf(t *testing.T, answers <-chan parkedAnswer) parkedAnswer {
	t.Helper()
	select {
	case a := <-answers:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("the parked long-poll was not answered")
		return parkedAnswer{}
	}
}

// A parked long-poll is woken by its login's announcement, and by a change
// of unknown status (read, as a held one re-reads); its hold is released
// when it is answered.
func TestParkedPollIsWokenByAChange(t *testing.T) {
	q, f, l, dc := setup(t)
	qrStatus(t, q, dc)
	now = now.Add(2 * time.Second)
	answers := parkPoll(t, q, dc, nil)
	if q.Held() != 1 {
		t.Fatalf("%d held, want the parked one", q.Held())
	}
	scan(t, f, l)
	f.announce(storage.QRChange{ID: l.ID}) // a change of unknown status: read
	a := answerOf(t, answers)
	var e *oauth.Error
	if !errors.As(a.err, &e) || e.Code != oauth.AuthorizationPending || e.Extra["qr_status"] != "scanned" {
		t.Fatalf("the parked long-poll answered %v, want authorization_pending scanned", a.err)
	}
	if q.Held() != 0 || q.Parked() != 0 {
		t.Fatalf("%d held, %d parked after the answer", q.Held(), q.Parked())
	}
}

// panicMinter panics when the tokens are due.
type panicMinter struct{}

func (panicMinter) Tokens(string, []string) (*storage.Tokens, error) { panic("minting failed") }
func (panicMinter) Response(context.Context, *storage.Applied, *storage.Tokens) (any, error) {
	panic("minting failed")
}

// A panic while answering a parked long-poll (which runs on no request's
// goroutine, so nothing else would recover it) is that poll's 500, not the
// end of the process; the hold is released.
func TestParkedPollPanicIsA500(t *testing.T) {
	q, f, l, dc := setup(t)
	scan(t, f, l)
	if s := qrStatus(t, q, dc); s != "scanned" {
		t.Fatalf("qr_status %q", s)
	}
	now = now.Add(2 * time.Second)
	answers := parkPoll(t, q, dc, panicMinter{})
	if _, err := f.ApplyQR(t.Context(), &storage.Attempt{Event: storage.EventConfirm, ID: l.ID, TicketHash: storage.Hash("ticket"),
		Subject: "alice", Session: "phone", Now: now}); err != nil {
		t.Fatal(err)
	}
	f.announce(storage.QRChange{ID: l.ID, Status: storage.StatusConfirmed})
	a := answerOf(t, answers)
	var e *oauth.Error
	if !errors.As(a.err, &e) || e.Code != oauth.ServerError || e.Status != http.StatusInternalServerError {
		t.Fatalf("the parked long-poll whose minting panicked answered %v %v, want a 500 server_error", a.resp, a.err)
	}
	if q.Held() != 0 {
		t.Fatalf("%d held after the answer", q.Held())
	}
}

// Drain answers a parked long-poll at once with its current state.
func TestDrainAnswersAParkedPoll(t *testing.T) {
	q, _, _, dc := setup(t)
	qrStatus(t, q, dc)
	now = now.Add(2 * time.Second)
	answers := parkPoll(t, q, dc, nil)
	q.Drain()
	a := answerOf(t, answers)
	var e *oauth.Error
	if !errors.As(a.err, &e) || e.Code != oauth.AuthorizationPending || e.Extra["qr_status"] != "pending" {
		t.Fatalf("the parked long-poll at the drain answered %v", a.err)
	}
}

// A parked long-poll of a login past maxViews, whose view no announcement
// reaches, is answered at once like a held one (TestALongPollOfALoginPastMaxViewsIsNotHeld),
// not parked deaf to the scan for the full wait.
func TestAParkedPollOfALoginPastMaxViewsIsNotParked(t *testing.T) {
	q, f, _, dc := setup(t)
	q.SetMaxViews(1)
	qrStatus(t, q, dc) // login-1 takes the one view
	_, dc2 := another(t, f, "2", 2*time.Minute)
	answers := make(chan parkedAnswer, 1)
	park := func() (func(any, error), bool) {
		return func(resp any, err error) { answers <- parkedAnswer{resp, err} }, true
	}
	resp, err := q.Poll(context.Background(), grants.PollRequest{DeviceCode: dc2, ClientID: "rp", Wait: time.Hour, Park: park})
	if errors.Is(err, grants.ErrParked) {
		if n := q.Parked(); n != 0 {
			t.Fatalf("%d parked on a view no announcement reaches, want 0", n)
		}
		a := answerOf(t, answers)
		resp, err = a.resp, a.err
	}
	var e *oauth.Error
	if !errors.As(err, &e) || e.Code != oauth.AuthorizationPending || e.Extra["qr_status"] != "pending" {
		t.Fatalf("answered %v %v, want authorization_pending, pending", resp, err)
	}
}
