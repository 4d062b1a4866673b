package storage

import (
	"context"
	"time"
)

// BrowserSession is a browser signed in at the provider: the End-User
// session that /authorize honours for single sign-on (OIDC Core §3.1.2.1)
// and end_session ends (RP-Initiated Logout 1.0). A password sign-in on the
// hosted pages creates one. The browser holds a random token in a cookie;
// the store keeps only its SHA-256, so a copy of the table signs nobody in.
type BrowserSession struct {
	// ID is the session's handle: random, not secret. The account API and
	// the logs name a session by it; it never authenticates anything.
	ID string
	// TokenHash is Hash(the cookie's value).
	TokenHash []byte
	Subject   string
	// AMR is how the user authenticated (RFC 8176), e.g. ["pwd"].
	AMR      []string
	AuthTime time.Time
	// Approver: the session was made on the phone-browser path, so it may
	// confirm QR logins. A sign-in for a relying party (perhaps on a
	// shared PC) never makes an approver.
	Approver bool
	// IP and UserAgent describe the browser at sign-in, for the user's
	// list of sessions.
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
}

// BrowserSessionStore keeps browser sessions. Expired sessions read as
// absent and are removed by DeleteExpired.
type BrowserSessionStore interface {
	// CreateBrowserSession inserts s; ErrConflict if its ID or TokenHash
	// exists. In the same atomic operation it deletes the subject's oldest
	// sessions (by CreatedAt, then ID) so that at most limit remain, s
	// included: concurrent sign-ins of one user never leave more than
	// limit, and nobody can grow the table by signing in again and again.
	// A limit below one counts as one.
	CreateBrowserSession(ctx context.Context, s *BrowserSession, limit int) error
	// BrowserSessionByHash returns the session holding that token hash if
	// it is unexpired at now; ErrNotFound otherwise.
	BrowserSessionByHash(ctx context.Context, tokenHash []byte, now time.Time) (*BrowserSession, error)
	// TouchBrowserSession sets LastUsedAt to now if the session is
	// unexpired at now; ErrNotFound otherwise.
	TouchBrowserSession(ctx context.Context, id string, now time.Time) error
	// BrowserSessions lists the subject's sessions unexpired at now,
	// newest first (CreatedAt, then ID, descending).
	BrowserSessions(ctx context.Context, subject string, now time.Time) ([]*BrowserSession, error)
	// DeleteBrowserSession removes the subject's session id; ErrNotFound
	// if the subject has no such session (another user's id is not found,
	// and stays).
	DeleteBrowserSession(ctx context.Context, subject, id string) error
	// DeleteUserSessions removes every browser session of subject (a
	// password change, a disabled or deleted user) and reports how many.
	DeleteUserSessions(ctx context.Context, subject string) (int, error)
}
