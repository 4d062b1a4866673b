package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/qrlogin/qrlogin/storage"
)

const authRequestCols = `id, client_id, redirect_uri, state, nonce, scopes, response_type, response_mode,
	code_challenge, code_challenge_method, prompt, login_hint, max_age, subject, auth_time, amr, done,
	session_id, code_hash, created_at, expires_at, dpop_jkt, session_choice`

func readAuthRequest(row pgx.Row) (*storage.AuthRequest, error) {
	var (
		a                          storage.AuthRequest
		maxAge                     pgtype.Int8
		authTime, created, expires pgtype.Timestamptz
	)
	err := row.Scan(&a.ID, &a.ClientID, &a.RedirectURI, &a.State, &a.Nonce, &a.Scopes, &a.ResponseType, &a.ResponseMode,
		&a.CodeChallenge, &a.CodeChallengeMethod, &a.Prompt, &a.LoginHint, &maxAge, &a.Subject, &authTime, &a.AMR, &a.Done,
		&a.SessionID, &a.CodeHash, &created, &expires, &a.DPoPJKT, &a.SessionChoice)
	if err != nil {
		return nil, err
	}
	if maxAge.Valid {
		v := uint(maxAge.Int64)
		a.MaxAge = &v
	}
	a.AuthTime = timeOf(authTime)
	a.CreatedAt = timeOf(created)
	a.ExpiresAt = timeOf(expires)
	return &a, nil
}

// CreateAuthRequest implements storage.AuthRequestStore.
func (s *Store) CreateAuthRequest(ctx context.Context, a *storage.AuthRequest) error {
	var maxAge pgtype.Int8
	if a.MaxAge != nil {
		maxAge = pgtype.Int8{Int64: int64(*a.MaxAge), Valid: true}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO auth_requests (`+authRequestCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`,
		a.ID, a.ClientID, a.RedirectURI, a.State, a.Nonce, list(a.Scopes), a.ResponseType, a.ResponseMode,
		a.CodeChallenge, a.CodeChallengeMethod, list(a.Prompt), a.LoginHint, maxAge, a.Subject, nullTime(a.AuthTime),
		list(a.AMR), a.Done, a.SessionID, a.CodeHash, a.CreatedAt, a.ExpiresAt, a.DPoPJKT, a.SessionChoice)
	return mapErr("create auth request", err)
}

// AuthRequest implements storage.AuthRequestStore.
func (s *Store) AuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error) {
	a, err := readAuthRequest(s.pool.QueryRow(ctx,
		`SELECT `+authRequestCols+` FROM auth_requests WHERE id = $1 AND expires_at > $2`, id, now))
	return a, mapErr("auth request", err)
}

// CompleteAuthRequest implements storage.AuthRequestStore.
func (s *Store) CompleteAuthRequest(ctx context.Context, id, subject string, authTime time.Time, amr []string, sessionChoice string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE auth_requests SET subject = $2, auth_time = $3, amr = $4, session_choice = $5, done = true
		WHERE id = $1 AND NOT done`, id, subject, nullTime(authTime), list(amr), sessionChoice)
	return s.conditional(ctx, "complete auth request", `SELECT EXISTS (SELECT 1 FROM auth_requests WHERE id = $1)`, id, tag, err)
}

// SaveAuthCode implements storage.AuthRequestStore.
func (s *Store) SaveAuthCode(ctx context.Context, id string, codeHash []byte) error {
	if len(codeHash) == 0 {
		return errors.New("postgres: save auth code: code hash is required")
	}
	tag, err := s.pool.Exec(ctx, `UPDATE auth_requests SET code_hash = $2 WHERE id = $1 AND code_hash IS NULL`, id, codeHash)
	return s.conditional(ctx, "save auth code", `SELECT EXISTS (SELECT 1 FROM auth_requests WHERE id = $1)`, id, tag, err)
}

// ConsumeAuthCode implements storage.AuthRequestStore. RFC 6749 §4.1.2: the
// code is detached in the same statement that reads it, and recorded as
// spent, so of two concurrent exchanges only one finds it. The request is
// returned as it was, code hash included.
//
// A code not found is looked up among the spent ones by a second
// statement, which revokes its session exactly as RevokeSession does. A
// concurrent first redemption holds the request's row until it commits,
// so by then the spent record is visible to this second statement.
func (s *Store) ConsumeAuthCode(ctx context.Context, codeHash []byte, now, revokeUntil time.Time) (*storage.AuthRequest, error) {
	if len(codeHash) == 0 {
		return nil, fmt.Errorf("postgres: consume auth code: %w", storage.ErrNotFound)
	}
	a, err := readAuthRequest(s.pool.QueryRow(ctx, `WITH consumed AS (
		UPDATE auth_requests SET code_hash = NULL
		WHERE code_hash = $1 AND expires_at > $2 RETURNING `+authRequestCols+`
	), spent AS (
		INSERT INTO spent_auth_codes (code_hash, session_id, expires_at)
		SELECT $1, session_id, expires_at FROM consumed
		ON CONFLICT (code_hash) DO UPDATE SET session_id = EXCLUDED.session_id, expires_at = EXCLUDED.expires_at
	)
	SELECT `+authRequestCols+` FROM consumed`, codeHash, now))
	if err == nil {
		a.CodeHash = append([]byte(nil), codeHash...)
		return a, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, mapErr("consume auth code", err)
	}
	var replayed bool
	err = s.pool.QueryRow(ctx, `WITH spent AS (
		SELECT session_id FROM spent_auth_codes WHERE code_hash = $1 AND expires_at > $2
	), tomb AS (
		INSERT INTO revoked_sessions (session_id, until) SELECT session_id, $3 FROM spent WHERE session_id <> ''
		ON CONFLICT (session_id) DO UPDATE SET until = greatest(revoked_sessions.until, EXCLUDED.until)
	), a AS (
		UPDATE access_tokens SET revoked = true
		WHERE session_id IN (SELECT session_id FROM spent WHERE session_id <> '') AND NOT revoked
	), r AS (
		UPDATE refresh_tokens SET revoked = true
		WHERE session_id IN (SELECT session_id FROM spent WHERE session_id <> '') AND NOT revoked
	)
	SELECT EXISTS (SELECT 1 FROM spent)`, codeHash, now, revokeUntil).Scan(&replayed)
	if err != nil {
		return nil, mapErr("consume auth code", err)
	}
	if replayed {
		return nil, fmt.Errorf("postgres: consume auth code: already used, its tokens revoked: %w", storage.ErrConflict)
	}
	return nil, fmt.Errorf("postgres: consume auth code: %w", storage.ErrNotFound)
}

// DeleteAuthRequest implements storage.AuthRequestStore.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM auth_requests WHERE id = $1`, id)
	return mustAffect("delete auth request", tag, err)
}

// conditional maps a conditional UPDATE that matched nothing: ErrNotFound
// when exists (a query on id) finds no row, ErrConflict otherwise. The
// extra query runs only on that failure path.
func (s *Store) conditional(ctx context.Context, op, exists, id string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return mapErr(op, err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var found bool
	if err := s.pool.QueryRow(ctx, exists, id).Scan(&found); err != nil {
		return mapErr(op, err)
	}
	if !found {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	return fmt.Errorf("postgres: %s: precondition no longer holds: %w", op, storage.ErrConflict)
}

const accessTokenCols = `id, client_id, subject, audience, scopes, session_id, refresh_token_id, created_at, expires_at`

// CreateAccessToken implements storage.TokenStore.
func (s *Store) CreateAccessToken(ctx context.Context, t *storage.AccessToken) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO access_tokens (`+accessTokenCols+`, jkt)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
		WHERE NOT EXISTS (SELECT 1 FROM revoked_sessions WHERE session_id = $6::text AND $6::text <> '')`,
		t.ID, t.ClientID, t.Subject, list(t.Audience), list(t.Scopes), t.SessionID, t.RefreshTokenID, t.CreatedAt, t.ExpiresAt, t.JKT)
	return sessionLive("create access token", tag, err)
}

// AccessToken implements storage.TokenStore.
func (s *Store) AccessToken(ctx context.Context, id string, now time.Time) (*storage.AccessToken, error) {
	var t storage.AccessToken
	err := s.pool.QueryRow(ctx, `SELECT `+accessTokenCols+`, jkt FROM access_tokens
		WHERE id = $1 AND NOT revoked AND expires_at > $2`, id, now).Scan(
		&t.ID, &t.ClientID, &t.Subject, &t.Audience, &t.Scopes, &t.SessionID, &t.RefreshTokenID, &t.CreatedAt, &t.ExpiresAt, &t.JKT)
	if err != nil {
		return nil, mapErr("access token", err)
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return &t, nil
}

// RevokeAccessToken implements storage.TokenStore.
func (s *Store) RevokeAccessToken(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE access_tokens SET revoked = true WHERE id = $1`, id)
	return mustAffect("revoke access token", tag, err)
}

const refreshTokenCols = `id, token_hash, session_id, client_id, subject, audience, scopes, amr, auth_time,
	created_at, expires_at, rotated_at, revoked`

// CreateRefreshToken implements storage.TokenStore.
func (s *Store) CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO refresh_tokens (`+refreshTokenCols+`, jkt)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
		WHERE NOT EXISTS (SELECT 1 FROM revoked_sessions WHERE session_id = $3::text AND $3::text <> '')`,
		t.ID, t.TokenHash, t.SessionID, t.ClientID, t.Subject, list(t.Audience), list(t.Scopes), list(t.AMR),
		nullTime(t.AuthTime), t.CreatedAt, t.ExpiresAt, nullTime(t.RotatedAt), t.Revoked, t.JKT)
	return sessionLive("create refresh token", tag, err)
}

// RefreshTokenByHash implements storage.TokenStore.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash []byte) (*storage.RefreshToken, error) {
	var (
		t                                   storage.RefreshToken
		authTime, created, expires, rotated pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, `SELECT `+refreshTokenCols+`, jkt FROM refresh_tokens WHERE token_hash = $1`, hash).Scan(
		&t.ID, &t.TokenHash, &t.SessionID, &t.ClientID, &t.Subject, &t.Audience, &t.Scopes, &t.AMR,
		&authTime, &created, &expires, &rotated, &t.Revoked, &t.JKT)
	if err != nil {
		return nil, mapErr("refresh token", err)
	}
	t.AuthTime, t.CreatedAt, t.ExpiresAt, t.RotatedAt = timeOf(authTime), timeOf(created), timeOf(expires), timeOf(rotated)
	return &t, nil
}

// RotateRefreshToken implements storage.TokenStore: the old link is marked
// rotated and its successor inserted by one statement, so two concurrent
// refreshes with one token cannot both get a successor (RFC 9700 §4.14.2).
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next *storage.RefreshToken, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `WITH old AS (
		UPDATE refresh_tokens SET rotated_at = $14
		WHERE token_hash = $1 AND rotated_at IS NULL AND NOT revoked AND expires_at > $14
		RETURNING id
	)
	INSERT INTO refresh_tokens (`+refreshTokenCols+`, jkt)
	SELECT $2::text, $3::bytea, $4::text, $5::text, $6::text, $7::text[], $8::text[], $9::text[],
		$10::timestamptz, $11::timestamptz, $12::timestamptz, NULL, $13::boolean, $15::text FROM old`,
		oldHash, next.ID, next.TokenHash, next.SessionID, next.ClientID, next.Subject, list(next.Audience),
		list(next.Scopes), list(next.AMR), nullTime(next.AuthTime), next.CreatedAt, next.ExpiresAt, next.Revoked, now, next.JKT)
	if err != nil {
		return mapErr("rotate refresh token", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: rotate refresh token: rotated, revoked, expired or unknown: %w", storage.ErrConflict)
	}
	return nil
}

// RevokeRefreshToken implements storage.TokenStore.
func (s *Store) RevokeRefreshToken(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `WITH a AS (
		UPDATE access_tokens SET revoked = true WHERE refresh_token_id = $1 AND refresh_token_id <> '' AND NOT revoked
	)
	UPDATE refresh_tokens SET revoked = true WHERE id = $1`, id)
	return mustAffect("revoke refresh token", tag, err)
}

// RevokeSession implements storage.TokenStore.
func (s *Store) RevokeSession(ctx context.Context, sessionID string, until time.Time) error {
	if sessionID == "" {
		return nil
	}
	_, err := s.pool.Exec(ctx, `WITH tomb AS (
		INSERT INTO revoked_sessions (session_id, until) VALUES ($1, $2)
		ON CONFLICT (session_id) DO UPDATE SET until = greatest(revoked_sessions.until, EXCLUDED.until)
	), a AS (
		UPDATE access_tokens SET revoked = true WHERE session_id = $1 AND NOT revoked
	)
	UPDATE refresh_tokens SET revoked = true WHERE session_id = $1 AND NOT revoked`, sessionID, until)
	return mapErr("revoke session", err)
}

// sessionLive maps an insert guarded by "session not revoked": no row
// inserted means the session was revoked.
func sessionLive(op string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return mapErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: session revoked: %w", op, storage.ErrConflict)
	}
	return nil
}

// RevokeUserClientSessions implements storage.TokenStore.
func (s *Store) RevokeUserClientSessions(ctx context.Context, subject, clientID string) error {
	_, err := s.pool.Exec(ctx, `WITH a AS (
		UPDATE access_tokens SET revoked = true WHERE subject = $1 AND client_id = $2 AND NOT revoked
	)
	UPDATE refresh_tokens SET revoked = true WHERE subject = $1 AND client_id = $2 AND NOT revoked`, subject, clientID)
	return mapErr("revoke user client sessions", err)
}

// CreateAdminToken implements storage.AdminTokenStore.
func (s *Store) CreateAdminToken(ctx context.Context, t *storage.AdminToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO admin_tokens (access_hash, client_id, scope, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, t.AccessHash, t.ClientID, t.Scope, t.CreatedAt, t.ExpiresAt)
	return mapErr("create admin token", err)
}

// AdminToken implements storage.AdminTokenStore.
func (s *Store) AdminToken(ctx context.Context, accessHash []byte, now time.Time) (*storage.AdminToken, error) {
	var t storage.AdminToken
	err := s.pool.QueryRow(ctx, `SELECT access_hash, client_id, scope, created_at, expires_at FROM admin_tokens
		WHERE access_hash = $1 AND expires_at > $2`, accessHash, now).Scan(&t.AccessHash, &t.ClientID, &t.Scope, &t.CreatedAt, &t.ExpiresAt)
	if err != nil {
		return nil, mapErr("admin token", err)
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return &t, nil
}

// DeleteAdminToken implements storage.AdminTokenStore.
func (s *Store) DeleteAdminToken(ctx context.Context, accessHash []byte) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM admin_tokens WHERE access_hash = $1`, accessHash)
	return mustAffect("delete admin token", tag, err)
}
