package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrlogin/qrlogin/storage"
)

const browserSessionCols = `id, token_hash, subject, amr, auth_time, approver, ip, user_agent,
	created_at, last_used_at, expires_at`

func readBrowserSession(row pgx.Row) (*storage.BrowserSession, error) {
	var b storage.BrowserSession
	if err := row.Scan(&b.ID, &b.TokenHash, &b.Subject, &b.AMR, &b.AuthTime, &b.Approver, &b.IP, &b.UserAgent,
		&b.CreatedAt, &b.LastUsedAt, &b.ExpiresAt); err != nil {
		return nil, err
	}
	b.AuthTime = b.AuthTime.UTC()
	b.CreatedAt = b.CreatedAt.UTC()
	b.LastUsedAt = b.LastUsedAt.UTC()
	b.ExpiresAt = b.ExpiresAt.UTC()
	return &b, nil
}

// sessionLockClass is the first key of the two-key advisory lock that
// serialises sign-ins of one user (the second is a hash of the subject).
// Two-key locks never collide with the migration's one-key lock.
const sessionLockClass = 0x71725353 // "qrSS"

// CreateBrowserSession implements storage.BrowserSessionStore. Sign-ins of
// one user take a transaction-scoped advisory lock first, so the cap holds
// between instances: each statement after the lock sees the sessions every
// earlier sign-in committed. The eviction and the insert are one
// statement; the whole costs four round trips, next to a 20 ms password
// check.
func (s *Store) CreateBrowserSession(ctx context.Context, b *storage.BrowserSession, limit int) error {
	if b.ID == "" || len(b.TokenHash) == 0 || b.Subject == "" {
		return errors.New("postgres: create browser session: ID, token hash and subject are required")
	}
	limit = max(limit, 1)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, sessionLockClass, b.Subject); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `WITH evicted AS (
				DELETE FROM browser_sessions WHERE id IN (
					SELECT id FROM browser_sessions WHERE subject = $3
					ORDER BY created_at DESC, id DESC OFFSET $12))
			INSERT INTO browser_sessions (`+browserSessionCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			b.ID, b.TokenHash, b.Subject, list(b.AMR), b.AuthTime, b.Approver, b.IP, b.UserAgent,
			b.CreatedAt, b.LastUsedAt, b.ExpiresAt, limit-1)
		return err
	})
	return mapErr("create browser session", err)
}

// BrowserSessionByHash implements storage.BrowserSessionStore.
func (s *Store) BrowserSessionByHash(ctx context.Context, tokenHash []byte, now time.Time) (*storage.BrowserSession, error) {
	b, err := readBrowserSession(s.pool.QueryRow(ctx, `SELECT `+browserSessionCols+` FROM browser_sessions
		WHERE token_hash = $1 AND expires_at > $2`, tokenHash, now))
	return b, mapErr("browser session", err)
}

// TouchBrowserSession implements storage.BrowserSessionStore.
func (s *Store) TouchBrowserSession(ctx context.Context, id string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE browser_sessions SET last_used_at = $2 WHERE id = $1 AND expires_at > $2`, id, now)
	return mustAffect("touch browser session", tag, err)
}

// BrowserSessions implements storage.BrowserSessionStore.
func (s *Store) BrowserSessions(ctx context.Context, subject string, now time.Time) ([]*storage.BrowserSession, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+browserSessionCols+` FROM browser_sessions
		WHERE subject = $1 AND expires_at > $2 ORDER BY created_at DESC, id DESC`, subject, now)
	if err != nil {
		return nil, mapErr("browser sessions", err)
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*storage.BrowserSession, error) { return readBrowserSession(r) })
	return bs, mapErr("browser sessions", err)
}

// DeleteBrowserSession implements storage.BrowserSessionStore.
func (s *Store) DeleteBrowserSession(ctx context.Context, subject, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM browser_sessions WHERE id = $1 AND subject = $2`, id, subject)
	return mustAffect("delete browser session", tag, err)
}

// DeleteUserSessions implements storage.BrowserSessionStore.
func (s *Store) DeleteUserSessions(ctx context.Context, subject string) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM browser_sessions WHERE subject = $1`, subject)
	if err != nil {
		return 0, mapErr("delete user sessions", err)
	}
	return int(tag.RowsAffected()), nil
}
