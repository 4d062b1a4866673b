package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/qrlogin/qrlogin/storage"
)

// qrBase lists qr_logins' columns in readQR's order.
var qrBase = []string{
	"id", "qr_id_hash", "device_code_hash", "user_code", "client_id", "scopes", "nonce",
	"auth_request_id", "requester_ip", "requester_user_agent", "requester_reported",
	"status", "subject", "scan_session", "ticket_hash", "ticket_expires_at", "created_at", "expires_at",
	"scanned_at", "decided_at", "redeemed_at", "poll_interval",
	"match_number", "match_choices", "second_scan_alarm", "session_choice", "session_choosable", "dpop_jkt",
}

// qrCols returns readQR's select list with every column qualified by alias.
func qrCols(alias string) string {
	cols := make([]string, len(qrBase))
	for i, c := range qrBase {
		cols[i] = alias + "." + c
	}
	return strings.Join(cols, ", ")
}

var qrSelect = "SELECT " + qrCols("l") + " FROM qr_logins l "

func readQR(row pgx.Row, extra ...any) (*storage.QRLogin, error) {
	var (
		l                                                       storage.QRLogin
		status                                                  string
		ticketExp, created, expires, scanned, decided, redeemed pgtype.Timestamptz
		interval                                                pgtype.Interval
	)
	err := row.Scan(append([]any{&l.ID, &l.QRIDHash, &l.DeviceCodeHash, &l.UserCode, &l.ClientID, &l.Scopes, &l.Nonce,
		&l.AuthRequestID, &l.RequesterIP, &l.RequesterUserAgent, &l.RequesterReported,
		&status, &l.Subject, &l.ScanSession, &l.TicketHash, &ticketExp, &created, &expires,
		&scanned, &decided, &redeemed, &interval,
		&l.MatchNumber, &l.MatchChoices, &l.SecondScanAlarm, &l.SessionChoice, &l.SessionChoosable, &l.DPoPJKT}, extra...)...)
	if err != nil {
		return nil, err
	}
	l.Status = storage.ParseStatus(status)
	l.TicketExpiresAt = timeOf(ticketExp)
	l.CreatedAt = timeOf(created)
	l.ExpiresAt = timeOf(expires)
	l.ScannedAt = timeOf(scanned)
	l.DecidedAt = timeOf(decided)
	l.RedeemedAt = timeOf(redeemed)
	l.Interval = durationOf(interval)
	return &l, nil
}

func intervalOf(d time.Duration) pgtype.Interval {
	return pgtype.Interval{Microseconds: d.Microseconds(), Valid: true}
}

func durationOf(i pgtype.Interval) time.Duration {
	if !i.Valid {
		return 0
	}
	const day = 24 * time.Hour
	return time.Duration(i.Microseconds)*time.Microsecond + time.Duration(i.Days)*day + time.Duration(i.Months)*30*day
}

// qCreate claims the user code (see qr_user_codes in sql/0001_init.sql),
// inserts the login only if the claim succeeded, and appends the created
// event: one statement, so a failure anywhere leaves nothing behind.
const qCreate = `
WITH code AS (
	INSERT INTO qr_user_codes AS c (user_code, qr_login_id, expires_at)
	VALUES ($4, $1, $18)
	ON CONFLICT (user_code) DO UPDATE
		SET qr_login_id = EXCLUDED.qr_login_id, expires_at = EXCLUDED.expires_at
		WHERE c.expires_at <= $17
	RETURNING qr_login_id
), ins AS (
	INSERT INTO qr_logins (id, qr_id_hash, device_code_hash, user_code, client_id, scopes, nonce,
		auth_request_id, requester_ip, requester_user_agent, requester_reported, status, subject,
		ticket_hash, ticket_expires_at, created_at, expires_at, scanned_at, decided_at, redeemed_at,
		poll_interval, scan_session, match_number, match_choices, second_scan_alarm, session_choice, session_choosable, dpop_jkt)
	SELECT code.qr_login_id, $2::bytea, $3::bytea, $4::text, $5::text, $6::text[], $7::text,
		$8::text, $9::text, $10::text, $11::boolean, $12::text, $13::text,
		$14::bytea, $15::timestamptz, $17::timestamptz, $18::timestamptz, $19::timestamptz, $20::timestamptz, $21::timestamptz,
		$16::interval, $22::text, $23::smallint, $24::smallint[], $25::boolean, $26::text, $27::boolean, $28::text
	FROM code
	RETURNING id, client_id, subject, requester_ip, created_at
)
INSERT INTO qr_audit_events (qr_login_id, event, client_id, subject, ip, at)
SELECT id, 'created', client_id, subject, requester_ip, created_at FROM ins`

// CreateQRLogin implements storage.QRLoginStore. The user code is taken
// only when no login holding it is unexpired at l.CreatedAt. It commits
// with the other hot-path writes of the moment (see commit.go): a taken
// user code matches no row rather than failing, so it spoils no batch.
func (s *Store) CreateQRLogin(ctx context.Context, l *storage.QRLogin) error {
	if l.Status == storage.StatusInvalid {
		return fmt.Errorf("postgres: create qr login: status is invalid")
	}
	var tag pgconn.CommandTag
	err := s.commit(ctx, qCreate, []any{
		l.ID, l.QRIDHash, l.DeviceCodeHash, l.UserCode, l.ClientID, list(l.Scopes), l.Nonce,
		l.AuthRequestID, l.RequesterIP, l.RequesterUserAgent, l.RequesterReported, l.Status.String(), l.Subject,
		l.TicketHash, nullTime(l.TicketExpiresAt), intervalOf(l.Interval), nullTime(l.CreatedAt), nullTime(l.ExpiresAt),
		nullTime(l.ScannedAt), nullTime(l.DecidedAt), nullTime(l.RedeemedAt), l.ScanSession,
		l.MatchNumber, ints(l.MatchChoices), l.SecondScanAlarm, l.SessionChoice, l.SessionChoosable, l.DPoPJKT,
	}, func(br pgx.BatchResults) (err error) {
		tag, err = br.Exec()
		return err
	})
	if err != nil {
		return mapErr("create qr login", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create qr login: user code held by an unexpired login: %w", storage.ErrConflict)
	}
	return nil
}

// QRLogin implements storage.QRLoginStore.
func (s *Store) QRLogin(ctx context.Context, id string) (*storage.QRLogin, error) {
	l, err := readQR(s.pool.QueryRow(ctx, qrSelect+"WHERE l.id = $1", id))
	return l, mapErr("qr login", err)
}

// QRLoginByDeviceCode implements storage.QRLoginStore.
func (s *Store) QRLoginByDeviceCode(ctx context.Context, hash []byte) (*storage.QRLogin, error) {
	if len(hash) == 0 {
		return nil, fmt.Errorf("postgres: qr login by device code: %w", storage.ErrNotFound)
	}
	l, err := readQR(s.pool.QueryRow(ctx, qrSelect+"WHERE l.device_code_hash = $1", hash))
	return l, mapErr("qr login by device code", err)
}

// QRLoginByQRIDHash implements storage.QRLoginStore.
func (s *Store) QRLoginByQRIDHash(ctx context.Context, hash []byte) (*storage.QRLogin, error) {
	l, err := readQR(s.pool.QueryRow(ctx, qrSelect+"WHERE l.qr_id_hash = $1", hash))
	return l, mapErr("qr login by qr_id", err)
}

// QRLoginByTicketHash implements storage.QRLoginStore. A spent ticket still
// finds its login, whose status then says it was spent.
func (s *Store) QRLoginByTicketHash(ctx context.Context, hash []byte) (*storage.QRLogin, error) {
	l, err := readQR(s.pool.QueryRow(ctx, qrSelect+"WHERE l.ticket_hash = $1", hash))
	return l, mapErr("qr login by ticket", err)
}

// QRLoginByUserCode implements storage.QRLoginStore.
func (s *Store) QRLoginByUserCode(ctx context.Context, code string, now time.Time) (*storage.QRLogin, error) {
	l, err := readQR(s.pool.QueryRow(ctx, qrSelect+
		"JOIN qr_user_codes c ON c.qr_login_id = l.id WHERE c.user_code = $1 AND l.expires_at > $2", code, now))
	return l, mapErr("qr login by user code", err)
}

// QRLoginByAuthRequest implements storage.QRLoginStore.
func (s *Store) QRLoginByAuthRequest(ctx context.Context, authRequestID string) (*storage.QRLogin, error) {
	if authRequestID == "" {
		return nil, fmt.Errorf("postgres: qr login by auth request: %w", storage.ErrNotFound)
	}
	l, err := readQR(s.pool.QueryRow(ctx, qrSelect+
		"WHERE l.auth_request_id = $1 ORDER BY l.created_at DESC, l.id DESC LIMIT 1", authRequestID))
	return l, mapErr("qr login by auth request", err)
}

// QRAuditEvents implements storage.QRLoginStore.
func (s *Store) QRAuditEvents(ctx context.Context, qrLoginID string) ([]storage.AuditEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT qr_login_id, event, client_id, subject, ip, at, detail
		FROM qr_audit_events WHERE qr_login_id = $1 ORDER BY id`, qrLoginID)
	if err != nil {
		return nil, mapErr("qr audit events", err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.AuditEvent, error) {
		var e storage.AuditEvent
		err := r.Scan(&e.QRLoginID, &e.Event, &e.ClientID, &e.Subject, &e.IP, &e.At, &e.Detail)
		e.At = e.At.UTC()
		return e, err
	})
	return events, mapErr("qr audit events", err)
}
