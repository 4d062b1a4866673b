package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/qrlogin/qrlogin/storage"
)

// qrBase lists qr_logins' columns in readQR's order, except the last poll,
// which PollQRLogin takes from the row as it was before the poll.
var qrBase = []string{
	"id", "qr_id_hash", "device_code_hash", "user_code", "client_id", "scopes", "nonce",
	"auth_request_id", "requester_ip", "requester_user_agent", "requester_reported",
	"status", "subject", "scan_session", "ticket_hash", "ticket_expires_at", "created_at", "expires_at",
	"scanned_at", "decided_at", "redeemed_at", "poll_interval",
}

// qrCols returns the select list of readQR, with every column qualified by
// alias and the last poll's columns by pollAlias.
func qrCols(alias, pollAlias string) string {
	var b strings.Builder
	for _, c := range qrBase {
		b.WriteString(alias + "." + c + ", ")
	}
	b.WriteString(pollAlias + ".last_poll_at, " + pollAlias + ".last_poll_status")
	return b.String()
}

var (
	qrSelect = "SELECT " + qrCols("l", "l") + " FROM qr_logins l "
	qrAll    = qrCols("qr_logins", "qr_logins")
	qrU      = qrCols("u", "u")
)

func readQR(row pgx.Row) (*storage.QRLogin, error) {
	var (
		l                                                               storage.QRLogin
		status                                                          string
		lastStatus                                                      pgtype.Text
		ticketExp, created, expires, scanned, decided, redeemed, polled pgtype.Timestamptz
		interval                                                        pgtype.Interval
	)
	err := row.Scan(&l.ID, &l.QRIDHash, &l.DeviceCodeHash, &l.UserCode, &l.ClientID, &l.Scopes, &l.Nonce,
		&l.AuthRequestID, &l.RequesterIP, &l.RequesterUserAgent, &l.RequesterReported,
		&status, &l.Subject, &l.ScanSession, &l.TicketHash, &ticketExp, &created, &expires,
		&scanned, &decided, &redeemed, &interval, &polled, &lastStatus)
	if err != nil {
		return nil, err
	}
	l.Status = storage.ParseStatus(status)
	if lastStatus.Valid {
		l.LastPollStatus = storage.ParseStatus(lastStatus.String)
	}
	l.TicketExpiresAt = timeOf(ticketExp)
	l.CreatedAt = timeOf(created)
	l.ExpiresAt = timeOf(expires)
	l.ScannedAt = timeOf(scanned)
	l.DecidedAt = timeOf(decided)
	l.RedeemedAt = timeOf(redeemed)
	l.LastPollAt = timeOf(polled)
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

// lastPollStatus stores StatusInvalid (never polled) as NULL.
func lastPollStatus(s storage.Status) pgtype.Text {
	if s == storage.StatusInvalid {
		return pgtype.Text{}
	}
	return pgtype.Text{String: s.String(), Valid: true}
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
		poll_interval, last_poll_at, last_poll_status, scan_session)
	SELECT code.qr_login_id, $2::bytea, $3::bytea, $4::text, $5::text, $6::text[], $7::text,
		$8::text, $9::text, $10::text, $11::boolean, $12::text, $13::text,
		$14::bytea, $15::timestamptz, $17::timestamptz, $18::timestamptz, $19::timestamptz, $20::timestamptz, $21::timestamptz,
		$16::interval, $22::timestamptz, $23::text, $24::text
	FROM code
	RETURNING id, client_id, subject, requester_ip, created_at
)
INSERT INTO qr_audit_events (qr_login_id, event, client_id, subject, ip, at)
SELECT id, 'created', client_id, subject, requester_ip, created_at FROM ins`

// CreateQRLogin implements storage.QRLoginStore. The user code is taken
// only when no login holding it is unexpired at l.CreatedAt.
func (s *Store) CreateQRLogin(ctx context.Context, l *storage.QRLogin) error {
	if l.Status == storage.StatusInvalid {
		return fmt.Errorf("postgres: create qr login: status is invalid")
	}
	tag, err := s.pool.Exec(ctx, qCreate,
		l.ID, l.QRIDHash, l.DeviceCodeHash, l.UserCode, l.ClientID, list(l.Scopes), l.Nonce,
		l.AuthRequestID, l.RequesterIP, l.RequesterUserAgent, l.RequesterReported, l.Status.String(), l.Subject,
		l.TicketHash, nullTime(l.TicketExpiresAt), intervalOf(l.Interval), nullTime(l.CreatedAt), nullTime(l.ExpiresAt),
		nullTime(l.ScannedAt), nullTime(l.DecidedAt), nullTime(l.RedeemedAt),
		nullTime(l.LastPollAt), lastPollStatus(l.LastPollStatus), l.ScanSession)
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

// qPoll locks the row, remembers its last poll, records this one and
// returns the row with the remembered poll: one statement, one round trip.
// FOR UPDATE makes concurrent polls of one login queue, so each sees the
// poll recorded by the one before it (RFC 8628 §3.5 slow_down needs the
// true previous poll).
var qPoll = `
WITH old AS (
	SELECT id, last_poll_at, last_poll_status FROM qr_logins
	WHERE device_code_hash = $1 AND client_id = $2
	FOR UPDATE
)
UPDATE qr_logins l SET last_poll_at = $3, last_poll_status = l.status
FROM old WHERE l.id = old.id
RETURNING ` + qrCols("l", "old")

// PollQRLogin implements storage.QRLoginStore.
func (s *Store) PollQRLogin(ctx context.Context, deviceCodeHash []byte, clientID string, now time.Time) (*storage.QRLogin, error) {
	if len(deviceCodeHash) == 0 {
		return nil, fmt.Errorf("postgres: poll qr login: %w", storage.ErrNotFound)
	}
	var l *storage.QRLogin
	err := s.bookkeeping(ctx, func(br pgx.BatchResults) error {
		var err error
		l, err = readQR(br.QueryRow())
		return err
	}, qPoll, deviceCodeHash, clientID, now)
	return l, mapErr("poll qr login", err)
}

// bookkeeping runs one statement that records polls, in a transaction
// with synchronous_commit off, sent as one batch: one round trip, and no
// wait for the WAL flush. Losing the last second of poll records in a
// crash costs at most a missed slow_down; nothing that decides a login is
// written this way (scan, confirm, deny and redeem commit synchronously).
func (s *Store) bookkeeping(ctx context.Context, read func(pgx.BatchResults) error, sql string, args ...any) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit = off")
	b.Queue(sql, args...)
	b.Queue("COMMIT")
	br := s.pool.SendBatch(ctx, b)
	_, err := br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = read(br)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// SetQRInterval implements storage.QRLoginStore.
func (s *Store) SetQRInterval(ctx context.Context, id string, interval time.Duration) error {
	tag, err := s.pool.Exec(ctx, `UPDATE qr_logins SET poll_interval = $2 WHERE id = $1`, id, intervalOf(interval))
	return mustAffect("set qr interval", tag, err)
}

// RecordQRAnswer implements storage.QRLoginStore; the zero time is NULL.
func (s *Store) RecordQRAnswer(ctx context.Context, id string, status storage.Status, at time.Time) error {
	var tag pgconn.CommandTag
	err := s.bookkeeping(ctx, func(br pgx.BatchResults) error {
		var err error
		tag, err = br.Exec()
		return err
	}, `UPDATE qr_logins SET last_poll_status = $2, last_poll_at = $3 WHERE id = $1`, id, status.String(), nullTime(at))
	return mustAffect("record qr answer", tag, err)
}

// transition wraps a conditional UPDATE (CTE u, RETURNING qrAll) so the
// same statement appends the audit event and notifies every instance. The
// audit insert is a data-modifying CTE, which PostgreSQL runs to completion
// whether or not the outer query reads it, and the NOTIFY is in its
// RETURNING, so it fires exactly when the update applied. NOTIFY is
// delivered at commit, never for a rolled-back change. Parameters $1..$n
// belong to update; event, ip and at are SQL expressions over them.
func transition(update, event, ip, at, extra string) string {
	return `WITH u AS (` + update + ` RETURNING ` + qrAll + `
), a AS (
	INSERT INTO qr_audit_events (qr_login_id, event, client_id, subject, ip, at)
	SELECT u.id, ` + event + `, u.client_id, u.subject, ` + ip + `, ` + at + ` FROM u
	RETURNING pg_notify('` + notifyChannel + `', qr_login_id)
)` + extra + `
SELECT ` + qrU + ` FROM u`
}

// RFC 8628 §3.3 and SPEC §2.3: a scan binds the login to the user, once; a
// rescan by the same user replaces the ticket, voiding the old one. The
// ticket is bound to the scanning session ($7).
var qScan = transition(`
	UPDATE qr_logins SET status = 'scanned', subject = $2, ticket_hash = $3, ticket_expires_at = $4, scanned_at = $5,
		scan_session = $7
	WHERE id = $1 AND expires_at > $5
		AND (status = 'pending' OR (status = 'scanned' AND subject = $2))`,
	"'scanned'", "$6::text", "$5::timestamptz", "")

// ScanQRLogin implements storage.QRLoginStore.
func (s *Store) ScanQRLogin(ctx context.Context, id string, sc storage.Scan) (*storage.QRLogin, error) {
	if sc.Subject == "" || len(sc.TicketHash) == 0 {
		return nil, fmt.Errorf("postgres: scan qr login: subject and ticket are required")
	}
	l, err := readQR(s.pool.QueryRow(ctx, qScan, id, sc.Subject, sc.TicketHash, nullTime(sc.TicketExpiresAt), sc.Now, sc.IP, sc.Session))
	return s.transitionResult(ctx, "scan qr login", id, l, err)
}

// The ticket is single use: after the decision the status is no longer
// scanned, so the same ticket matches nothing.
const decideUpdate = `
	UPDATE qr_logins SET status = $2, decided_at = $5
	WHERE id = $1 AND status = 'scanned' AND expires_at > $5
		AND subject = $3 AND ticket_hash = $4 AND ticket_expires_at > $5
		AND scan_session = $7`

var (
	qDecide = transition(decideUpdate, "$2::text", "$6::text", "$5::timestamptz", "")
	// qDecideNotify also records the sign-in notification in the same
	// statement, only when the decision applied.
	qDecideNotify = transition(decideUpdate, "$2::text", "$6::text", "$5::timestamptz", `, n AS (
	INSERT INTO notifications (id, subject, client_id, client_name, requester_ip, requester_user_agent,
		reported_by_client, session_id, created_at)
	SELECT $8::text, $9::text, $10::text, $11::text, $12::text, $13::text, $14::boolean, $15::text, $16::timestamptz FROM u
)`)
)

// DecideQRLogin implements storage.QRLoginStore.
func (s *Store) DecideQRLogin(ctx context.Context, id string, d storage.Decision) (*storage.QRLogin, error) {
	if d.To != storage.StatusConfirmed && d.To != storage.StatusDenied {
		return nil, fmt.Errorf("postgres: decide qr login: cannot decide to %s", d.To)
	}
	args := []any{id, d.To.String(), d.Subject, d.TicketHash, d.Now, d.IP, d.Session}
	q := qDecide
	if n := d.Notification; n != nil {
		at := n.CreatedAt
		if at.IsZero() {
			at = d.Now
		}
		q = qDecideNotify
		args = append(args, n.ID, n.Subject, n.ClientID, n.ClientName, n.RequesterIP, n.RequesterUserAgent,
			n.ReportedByClient, n.SessionID, at)
	}
	l, err := readQR(s.pool.QueryRow(ctx, q, args...))
	return s.transitionResult(ctx, "decide qr login", id, l, err)
}

// SPEC §2.2: of any number of concurrent redeems exactly one matches
// status = 'confirmed'; the others wait for its row lock, re-check the
// condition against the committed row, and match nothing.
var qRedeem = transition(`
	UPDATE qr_logins SET status = 'redeemed', redeemed_at = $2
	WHERE id = $1 AND status = 'confirmed' AND expires_at > $2`,
	"'redeemed'", "$3::text", "$2::timestamptz", "")

// RedeemQRLogin implements storage.QRLoginStore.
func (s *Store) RedeemQRLogin(ctx context.Context, id, ip string, now time.Time) (*storage.QRLogin, error) {
	l, err := readQR(s.pool.QueryRow(ctx, qRedeem, id, now, ip))
	return s.transitionResult(ctx, "redeem qr login", id, l, err)
}

// transitionResult maps a transition's outcome. No row means the
// precondition failed (ErrConflict) or, checked only on that cold path,
// the login does not exist (ErrNotFound).
func (s *Store) transitionResult(ctx context.Context, op, id string, l *storage.QRLogin, err error) (*storage.QRLogin, error) {
	if err == nil {
		return l, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, mapErr(op, err)
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM qr_logins WHERE id = $1)`, id).Scan(&exists); err != nil {
		return nil, mapErr(op, err)
	}
	if !exists {
		return nil, fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	return nil, fmt.Errorf("postgres: %s: precondition no longer holds: %w", op, storage.ErrConflict)
}

// QRAuditEvents implements storage.QRLoginStore.
func (s *Store) QRAuditEvents(ctx context.Context, qrLoginID string) ([]storage.AuditEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT qr_login_id, event, client_id, subject, ip, at
		FROM qr_audit_events WHERE qr_login_id = $1 ORDER BY id`, qrLoginID)
	if err != nil {
		return nil, mapErr("qr audit events", err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.AuditEvent, error) {
		var e storage.AuditEvent
		err := r.Scan(&e.QRLoginID, &e.Event, &e.ClientID, &e.Subject, &e.IP, &e.At)
		e.At = e.At.UTC()
		return e, err
	})
	return events, mapErr("qr audit events", err)
}
