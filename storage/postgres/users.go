package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/qrlogin/qrlogin/storage"
)

// qUpdateUser sets the fields given (NULL leaves a column as it is).
const qUpdateUser = `UPDATE users SET
	name = coalesce($2::text, name), email = coalesce($3::text, email),
	email_verified = coalesce($4::boolean, email_verified),
	password_hash = coalesce($5::text, password_hash), disabled = coalesce($6::boolean, disabled)
	WHERE id = $1 RETURNING ` + userCols

// qSignOut is storage.SignOut in one statement ($1 subject, $2 now, $3 the
// session kept or the empty string, $4 until). Its data-modifying CTEs share one
// snapshot: the QR logins it voids (v) wake their long-polls through the
// audit insert's pg_notify, as transition() does; the sessions to revoke
// are those of the voided logins (the login's own, a hosted-page login's
// authorization request's), and of the user's live tokens and completed
// authorization requests; each is tombstoned until $4 and its tokens
// revoked, as RevokeSession does.
const qSignOut = `WITH v AS (
	UPDATE qr_logins SET status = 'denied', decided_at = $2
	WHERE subject = $1 AND status IN ('scanned', 'confirmed') AND expires_at > $2
		AND ($3::text = '' OR scan_session <> $3::text)
	RETURNING id, client_id, subject, auth_request_id
), a AS (
	INSERT INTO qr_audit_events (qr_login_id, event, client_id, subject, ip, at)
	SELECT id, 'voided', client_id, subject, '', $2 FROM v
	RETURNING pg_notify('` + notifyChannel + `', qr_login_id || ' denied')
), sessions AS (
	SELECT id AS session_id FROM v
	UNION SELECT r.session_id FROM auth_requests r JOIN v ON r.id = v.auth_request_id
	UNION SELECT session_id FROM access_tokens WHERE subject = $1 AND NOT revoked AND ($3::text = '' OR session_id <> $3::text)
	UNION SELECT session_id FROM refresh_tokens WHERE subject = $1 AND NOT revoked AND ($3::text = '' OR session_id <> $3::text)
	UNION SELECT session_id FROM auth_requests WHERE subject = $1 AND expires_at > $2 AND ($3::text = '' OR session_id <> $3::text)
), tomb AS (
	INSERT INTO revoked_sessions (session_id, until)
	SELECT session_id, $4 FROM sessions WHERE session_id <> ''
	ON CONFLICT (session_id) DO UPDATE SET until = greatest(revoked_sessions.until, EXCLUDED.until)
	RETURNING session_id
), at AS (
	UPDATE access_tokens SET revoked = true
	WHERE NOT revoked AND (session_id IN (SELECT session_id FROM tomb)
		OR (subject = $1 AND ($3::text = '' OR session_id <> $3::text)))
)
UPDATE refresh_tokens SET revoked = true
WHERE NOT revoked AND (session_id IN (SELECT session_id FROM tomb)
	OR (subject = $1 AND ($3::text = '' OR session_id <> $3::text)))`

// UpdateUser implements storage.UserStore: the update and its sign-out
// commit together or not at all.
func (s *Store) UpdateUser(ctx context.Context, id string, u storage.UserUpdate) (*storage.User, error) {
	var out *storage.User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = readUser(tx.QueryRow(ctx, qUpdateUser, id, u.Name, u.Email, u.EmailVerified, u.PasswordHash, u.Disabled))
		if err != nil {
			return err
		}
		if so := u.SignOut; so != nil {
			_, err = tx.Exec(ctx, qSignOut, id, so.Now, so.KeepSession, so.Until)
		}
		return err
	})
	if err != nil { // no row: ErrNotFound
		return nil, mapErr("update user", err)
	}
	return out, nil
}
