package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrlogin/qrlogin/storage"
)

const notificationCols = `id, subject, client_id, client_name, requester_ip, requester_user_agent,
	reported_by_client, session_id, created_at, kind, session_choice`

func readNotification(row pgx.Row) (*storage.Notification, error) {
	var n storage.Notification
	if err := row.Scan(&n.ID, &n.Subject, &n.ClientID, &n.ClientName, &n.RequesterIP, &n.RequesterUserAgent,
		&n.ReportedByClient, &n.SessionID, &n.CreatedAt, &n.Kind, &n.SessionChoice); err != nil {
		return nil, err
	}
	n.CreatedAt = n.CreatedAt.UTC()
	return &n, nil
}

// CreateNotification implements storage.NotificationStore.
func (s *Store) CreateNotification(ctx context.Context, n *storage.Notification) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO notifications (`+notificationCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		n.ID, n.Subject, n.ClientID, n.ClientName, n.RequesterIP, n.RequesterUserAgent,
		n.ReportedByClient, n.SessionID, n.CreatedAt, storage.NotificationKind(n.Kind), n.SessionChoice)
	return mapErr("create notification", err)
}

// Notifications implements storage.NotificationStore. A limit below one
// returns nothing.
func (s *Store) Notifications(ctx context.Context, subject string, limit int) ([]*storage.Notification, error) {
	if limit < 1 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+notificationCols+` FROM notifications
		WHERE subject = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, subject, limit)
	if err != nil {
		return nil, mapErr("notifications", err)
	}
	ns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*storage.Notification, error) { return readNotification(r) })
	return ns, mapErr("notifications", err)
}

// Notification implements storage.NotificationStore.
func (s *Store) Notification(ctx context.Context, id string) (*storage.Notification, error) {
	n, err := readNotification(s.pool.QueryRow(ctx, `SELECT `+notificationCols+` FROM notifications WHERE id = $1`, id))
	return n, mapErr("notification", err)
}

// expiring lists the tables DeleteExpired cleans, each with its primary
// key and the column that ends a row's lifetime. A QR login takes its audit
// events and user-code reservation with it (ON DELETE CASCADE). Users,
// clients, signing keys (rotation deletes them) and secrets have no expiry;
// audit events and notifications end by age (DeleteAuditEvents,
// DeleteNotifications).
var expiring = []struct{ table, key, expires string }{
	{"qr_user_codes", "user_code", "expires_at"},
	{"qr_logins", "id", "expires_at"},
	{"auth_requests", "id", "expires_at"},
	{"spent_auth_codes", "code_hash", "expires_at"},
	{"access_tokens", "id", "expires_at"},
	{"refresh_tokens", "id", "expires_at"},
	{"admin_tokens", "access_hash", "expires_at"},
	{"revoked_sessions", "session_id", "until"},
	{"browser_sessions", "id", "expires_at"},
	{"dpop_proofs", "key", "until"},
}

// DeleteExpired implements storage.Store. Each table is one short
// statement deleting at most limit rows by primary key, committed on its
// own, so no transaction holds many locks for long. SKIP LOCKED passes over
// rows another transaction holds (a poll, a redeem): they are taken by a
// later run instead of making the cleanup, or them, wait.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	total := 0
	for _, e := range expiring {
		if e.table == "qr_logins" {
			// A login that never reached a final state leaves its
			// "expired" event, written by the same statement.
			var n int
			err := s.pool.QueryRow(ctx, `WITH victims AS MATERIALIZED (
				SELECT id FROM qr_logins WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED
			), gone AS (
				DELETE FROM qr_logins l USING victims v WHERE l.id = v.id
				RETURNING l.id, l.client_id, l.subject, l.status, l.expires_at),
			audit AS (
				INSERT INTO qr_audit_events (qr_login_id, event, client_id, subject, at)
				SELECT id, 'expired', client_id, subject, expires_at FROM gone
				WHERE status NOT IN ('redeemed', 'denied'))
			SELECT count(*) FROM gone`, before, limit).Scan(&n)
			if err != nil {
				return total, mapErr("delete expired qr_logins", err)
			}
			total += n
			continue
		}
		// Table and column names are the constants above, never input.
		// The victims are chosen once, in a materialized CTE: as a plain
		// IN (subquery … LIMIT … SKIP LOCKED) PostgreSQL may rescan the
		// subquery and delete more than the limit (seen in CI: 7 rows for
		// a limit of 2).
		tag, err := s.pool.Exec(ctx, `WITH victims AS MATERIALIZED (
			SELECT `+e.key+` AS k FROM `+e.table+` WHERE `+e.expires+` < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
			DELETE FROM `+e.table+` t USING victims v WHERE t.`+e.key+` = v.k`, before, limit)
		if err != nil {
			return total, mapErr("delete expired "+e.table, err)
		}
		total += int(tag.RowsAffected())
	}
	return total, nil
}

// DeleteAuditEvents implements storage.Store: at most limit events older
// than before, oldest first, by primary key.
func (s *Store) DeleteAuditEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `WITH victims AS MATERIALIZED (
		SELECT id FROM qr_audit_events WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)
		DELETE FROM qr_audit_events e USING victims v WHERE e.id = v.id`, before, limit)
	if err != nil {
		return 0, mapErr("delete audit events", err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteNotifications implements storage.Store: at most limit
// notifications created before 'before', oldest first, by primary key.
func (s *Store) DeleteNotifications(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `WITH victims AS MATERIALIZED (
		SELECT id FROM notifications WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		DELETE FROM notifications n USING victims v WHERE n.id = v.id`, before, limit)
	if err != nil {
		return 0, mapErr("delete notifications", err)
	}
	return int(tag.RowsAffected()), nil
}
