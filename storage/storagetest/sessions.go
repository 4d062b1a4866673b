package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

const sessionTTL = 12 * time.Hour

// newBrowserSession is session i of subject, created i seconds after base.
func newBrowserSession(subject string, i int) *storage.BrowserSession {
	created := at(time.Duration(i) * time.Second)
	return &storage.BrowserSession{
		ID:         fmt.Sprintf("bs-%s-%d", subject, i),
		TokenHash:  storage.Hash(fmt.Sprintf("cookie-%s-%d", subject, i)),
		Subject:    subject,
		AMR:        []string{"pwd"},
		AuthTime:   created,
		Approver:   i%2 == 0,
		IP:         "192.0.2.7",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
		CreatedAt:  created,
		LastUsedAt: created,
		ExpiresAt:  created.Add(sessionTTL),
	}
}

func createBrowserSession(t *testing.T, s storage.Store, b *storage.BrowserSession, limit int) *storage.BrowserSession {
	t.Helper()
	must(t, s.CreateBrowserSession(t.Context(), b, limit), "CreateBrowserSession("+b.ID+")")
	return b
}

// sessionIDs lists the subject's live sessions at base, newest first.
func sessionIDs(t *testing.T, s storage.Store, subject string) []string {
	t.Helper()
	list, err := s.BrowserSessions(t.Context(), subject, base)
	must(t, err, "BrowserSessions")
	ids := make([]string, len(list))
	for i, b := range list {
		ids[i] = b.ID
	}
	return ids
}

var sessionCases = []testCase{
	{"a browser session reads back by its token hash until it expires, and by nothing else", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		b := createBrowserSession(t, s, newBrowserSession(alice, 1), 10)
		got, err := s.BrowserSessionByHash(ctx, b.TokenHash, b.ExpiresAt.Add(-time.Microsecond))
		must(t, err, "BrowserSessionByHash")
		wantSame(t, got, b, "BrowserSessionByHash")
		_, err = s.BrowserSessionByHash(ctx, b.TokenHash, b.ExpiresAt)
		wantErr(t, err, storage.ErrNotFound, "BrowserSessionByHash at ExpiresAt")
		_, err = s.BrowserSessionByHash(ctx, storage.Hash("cookie-guess"), base)
		wantErr(t, err, storage.ErrNotFound, "BrowserSessionByHash(unknown)")
		_, err = s.BrowserSessionByHash(ctx, []byte(b.ID), base)
		wantErr(t, err, storage.ErrNotFound, "BrowserSessionByHash(the id)")

		got.AMR[0] = "changed"
		again, err := s.BrowserSessionByHash(ctx, b.TokenHash, base)
		must(t, err, "BrowserSessionByHash")
		wantSame(t, again, b, "BrowserSessionByHash after mutating a returned copy")
	}},
	{"a browser session's ID and token hash are unique", func(t *testing.T, s storage.Store) {
		seed(t, s)
		b := createBrowserSession(t, s, newBrowserSession(alice, 1), 10)
		sameID := newBrowserSession(bob, 2)
		sameID.ID = b.ID
		wantErr(t, s.CreateBrowserSession(t.Context(), sameID, 10), storage.ErrConflict, "CreateBrowserSession(same ID)")
		sameHash := newBrowserSession(bob, 3)
		sameHash.TokenHash = b.TokenHash
		wantErr(t, s.CreateBrowserSession(t.Context(), sameHash, 10), storage.ErrConflict, "CreateBrowserSession(same token hash)")
		if ids := sessionIDs(t, s, bob); len(ids) != 0 {
			t.Fatalf("refused sessions were stored: %v", ids)
		}
	}},
	{"a sign-in beyond the cap evicts the user's oldest sessions, never another user's", func(t *testing.T, s storage.Store) {
		seed(t, s)
		bobs := createBrowserSession(t, s, newBrowserSession(bob, 0), 3)
		for i := 1; i <= 5; i++ {
			createBrowserSession(t, s, newBrowserSession(alice, i), 3)
		}
		wantSame(t, sessionIDs(t, s, alice), []string{"bs-user-alice-5", "bs-user-alice-4", "bs-user-alice-3"}, "alice's sessions")
		_, err := s.BrowserSessionByHash(t.Context(), newBrowserSession(alice, 1).TokenHash, base)
		wantErr(t, err, storage.ErrNotFound, "an evicted session's cookie")
		wantSame(t, sessionIDs(t, s, bob), []string{bobs.ID}, "bob's sessions")
		// A cap below one still keeps the new session.
		createBrowserSession(t, s, newBrowserSession(alice, 6), 0)
		wantSame(t, sessionIDs(t, s, alice), []string{"bs-user-alice-6"}, "alice's sessions after a cap of 0")
	}},
	{"50 concurrent sign-ins of one user leave exactly the cap", func(t *testing.T, s storage.Store) {
		seed(t, s)
		errs := race(50, func(i int) error {
			return s.CreateBrowserSession(t.Context(), newBrowserSession(alice, i), 5)
		})
		for i, err := range errs {
			must(t, err, fmt.Sprintf("CreateBrowserSession %d", i))
		}
		if ids := sessionIDs(t, s, alice); len(ids) != 5 {
			t.Fatalf("%d sessions remain, want the cap of 5: %v", len(ids), ids)
		}
	}},
	{"touching a session records its last use until it expires", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		b := createBrowserSession(t, s, newBrowserSession(alice, 1), 10)
		used := at(3*time.Hour + 123456789*time.Nanosecond)
		must(t, s.TouchBrowserSession(ctx, b.ID, used), "TouchBrowserSession")
		got, err := s.BrowserSessionByHash(ctx, b.TokenHash, base)
		must(t, err, "BrowserSessionByHash")
		want := *b
		want.LastUsedAt = used
		wantSame(t, got, &want, "after TouchBrowserSession")
		wantErr(t, s.TouchBrowserSession(ctx, b.ID, b.ExpiresAt), storage.ErrNotFound, "TouchBrowserSession at ExpiresAt")
		wantErr(t, s.TouchBrowserSession(ctx, "bs-nobody", base), storage.ErrNotFound, "TouchBrowserSession(unknown)")
	}},
	{"a user's sessions are listed newest first, without expired ones or other users'", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		expired := newBrowserSession(alice, 1)
		expired.ExpiresAt = at(time.Minute)
		createBrowserSession(t, s, expired, 10)
		b2 := createBrowserSession(t, s, newBrowserSession(alice, 2), 10)
		b3 := createBrowserSession(t, s, newBrowserSession(alice, 3), 10)
		createBrowserSession(t, s, newBrowserSession(bob, 4), 10)
		list, err := s.BrowserSessions(ctx, alice, at(time.Hour))
		must(t, err, "BrowserSessions")
		wantSame(t, list, []*storage.BrowserSession{b3, b2}, "BrowserSessions(alice)")
		list, err = s.BrowserSessions(ctx, carol, base)
		must(t, err, "BrowserSessions(carol)")
		if len(list) != 0 {
			t.Fatalf("carol has %d sessions, want none", len(list))
		}
	}},
	{"a session is ended only by its own user", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		b := createBrowserSession(t, s, newBrowserSession(alice, 1), 10)
		wantErr(t, s.DeleteBrowserSession(ctx, bob, b.ID), storage.ErrNotFound, "DeleteBrowserSession by another user")
		wantSame(t, sessionIDs(t, s, alice), []string{b.ID}, "alice's sessions after bob's attempt")
		must(t, s.DeleteBrowserSession(ctx, alice, b.ID), "DeleteBrowserSession")
		_, err := s.BrowserSessionByHash(ctx, b.TokenHash, base)
		wantErr(t, err, storage.ErrNotFound, "BrowserSessionByHash after delete")
		wantErr(t, s.DeleteBrowserSession(ctx, alice, b.ID), storage.ErrNotFound, "second DeleteBrowserSession")
	}},
	{"DeleteUserSessions ends every session of the user and no other", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		for i := 1; i <= 3; i++ {
			createBrowserSession(t, s, newBrowserSession(alice, i), 10)
		}
		bobs := createBrowserSession(t, s, newBrowserSession(bob, 4), 10)
		n, err := s.DeleteUserSessions(ctx, alice)
		must(t, err, "DeleteUserSessions")
		if n != 3 {
			t.Fatalf("DeleteUserSessions removed %d, want 3", n)
		}
		if ids := sessionIDs(t, s, alice); len(ids) != 0 {
			t.Fatalf("alice still has sessions %v", ids)
		}
		wantSame(t, sessionIDs(t, s, bob), []string{bobs.ID}, "bob's sessions")
		if n, err = s.DeleteUserSessions(ctx, alice); err != nil || n != 0 {
			t.Fatalf("second DeleteUserSessions: %d, %v", n, err)
		}
	}},
	{"DeleteExpired removes expired browser sessions and keeps live ones", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		old := newBrowserSession(alice, 1)
		old.ExpiresAt = at(time.Hour)
		createBrowserSession(t, s, old, 10)
		live := createBrowserSession(t, s, newBrowserSession(alice, 2), 10)
		n, err := s.DeleteExpired(ctx, at(2*time.Hour), 100)
		must(t, err, "DeleteExpired")
		if n != 1 {
			t.Fatalf("DeleteExpired removed %d rows, want the 1 expired session", n)
		}
		// Read at base, when both were live: only deletion explains it.
		_, err = s.BrowserSessionByHash(ctx, old.TokenHash, base)
		wantErr(t, err, storage.ErrNotFound, "BrowserSessionByHash(expired)")
		got, err := s.BrowserSessionByHash(ctx, live.TokenHash, base)
		must(t, err, "BrowserSessionByHash(live)")
		wantSame(t, got, live, "BrowserSessionByHash(live)")
	}},
}
