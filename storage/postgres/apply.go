package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/qrlogin/qrlogin/storage"
)

// ApplyQR is one statement in one round trip and one transaction (which
// group commit may share with other writes), whatever the attempt: the
// lookup of the login by its key (locked: concurrent attempts
// on one login queue, and each sees the row the one before it left), the
// bearer check, the conditional UPDATE whose WHERE is the table's guards
// for the event (grants/rules; storagetest generates the cases that hold
// these clauses to the table's rows), the audit insert, the notification
// or token inserts, and the pg_notify carrying the new status. The
// inserts are data-modifying CTEs over the UPDATE's RETURNING, so they
// happen exactly when the update applied: a refused attempt writes
// nothing, and a redeem that loses never mints. NOTIFY is delivered at
// commit, never for a rolled-back change.
//
// The statement text depends only on the attempt's shape (event, key,
// bearer, notification, tokens), so pgx prepares each shape once per
// connection. It commits with the other hot-path writes of the moment
// (see commit.go): a refused attempt matches no row rather than failing,
// so it spoils no batch, and the query that tells why runs after the
// commit.
func (s *Store) ApplyQR(ctx context.Context, a *storage.Attempt) (*storage.Applied, error) {
	q, err := applyStatement(a)
	if err != nil {
		return nil, err
	}
	out := &storage.Applied{}
	var from string
	extra := []any{&from}
	var u storage.User
	if a.Event == storage.EventRedeem {
		extra = append(extra, &u.ID, &u.Username, &u.PasswordHash, &u.Name, &u.Email, &u.EmailVerified, &u.CreatedAt, &u.Disabled)
	}
	err = s.commit(ctx, q.sql.String(), q.args, func(br pgx.BatchResults) (err error) {
		out.Login, err = readQR(br.QueryRow(), extra...)
		return err
	})
	if err != nil {
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, mapErr("apply "+a.Event.String(), err)
		}
		return nil, s.refused(ctx, a)
	}
	out.From = storage.ParseStatus(from)
	if a.Event == storage.EventRedeem {
		u.CreatedAt = u.CreatedAt.UTC()
		out.User = &u
	}
	return out, nil
}

// refused maps an attempt that matched no row: ErrNotFound when no login
// has its key, ErrConflict otherwise (a guard or the bearer refused). The
// extra query runs only on this path.
func (s *Store) refused(ctx context.Context, a *storage.Attempt) error {
	col, key := loginKey(a)
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM qr_logins WHERE `+col+` = $1)`, key).Scan(&exists); err != nil {
		return mapErr("apply "+a.Event.String(), err)
	}
	if !exists {
		return fmt.Errorf("postgres: apply %s: %w", a.Event, storage.ErrNotFound)
	}
	return fmt.Errorf("postgres: apply %s: refused: %w", a.Event, storage.ErrConflict)
}

// loginKey is the column and value an attempt finds its login by.
func loginKey(a *storage.Attempt) (string, any) {
	switch {
	case a.ID != "":
		return "id", a.ID
	case len(a.QRIDHash) > 0:
		return "qr_id_hash", a.QRIDHash
	}
	return "ticket_hash", a.TicketHash
}

// stmt is a statement being written with its arguments: arg adds a value
// and returns its placeholder, so a statement has exactly the parameters
// it uses.
type stmt struct {
	sql  strings.Builder
	args []any
}

func (q *stmt) arg(v any, typ string) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args)) + "::" + typ
}

func (q *stmt) w(parts ...string) {
	for _, p := range parts {
		q.sql.WriteString(p)
	}
}

// applyStatement writes the statement of attempt a.
func applyStatement(a *storage.Attempt) (*stmt, error) {
	switch {
	case a.ID == "" && len(a.QRIDHash) == 0 && len(a.TicketHash) == 0:
		return nil, errors.New("postgres: apply: an attempt without its login's key")
	case a.Event == storage.EventScan && (a.Subject == "" || len(a.NewTicketHash) == 0):
		return nil, errors.New("postgres: apply: a scan without subject or ticket")
	case a.Event == storage.EventSecondScan && a.Subject == "":
		return nil, errors.New("postgres: apply: a second scan without subject")
	case a.Bearer != nil && a.Bearer.TokenID == "":
		return nil, errors.New("postgres: apply: a bearer without token")
	case a.SessionChoice != "" && !storage.ValidSessionChoice(a.SessionChoice):
		return nil, fmt.Errorf("postgres: apply: session choice %q", a.SessionChoice)
	}
	q := &stmt{}
	col, key := loginKey(a)
	keyType := "bytea"
	if col == "id" {
		keyType = "text"
	}
	now := q.arg(a.Now, "timestamptz")
	q.w("WITH old AS (SELECT id, status FROM qr_logins WHERE ", col, " = ", q.arg(key, keyType), " FOR UPDATE)")
	var subject string
	if a.Event != storage.EventRedeem {
		subject = q.arg(a.Subject, "text")
	}
	// session is the attempt's session: the bearer token's, or the one
	// given (a parameter only where a guard reads it: an unused one has no
	// type).
	var sessionSQL string
	session := func() string {
		if sessionSQL == "" {
			sessionSQL = "(SELECT session_id FROM tok)"
			if a.Bearer == nil {
				sessionSQL = q.arg(a.Session, "text")
			}
		}
		return sessionSQL
	}
	if a.Bearer != nil {
		// The phone app's token: live, the subject's, with the scope, from
		// a first-party client (SPEC §2.3), and not DPoP-bound: a bound
		// token is no bearer token (RFC 9449 §7.2).
		q.w(`, tok AS (SELECT t.session_id FROM access_tokens t JOIN clients c ON c.id = t.client_id
	WHERE t.id = `, q.arg(a.Bearer.TokenID, "text"), ` AND t.jkt = '' AND NOT t.revoked AND t.expires_at > `, now,
			` AND t.subject = `, subject, ` AND c.first_party AND `, q.arg(a.Bearer.Scope, "text"), ` = ANY (t.scopes))`)
	}
	// decide is the table's decide guards (same user, same session, live,
	// holds the ticket, ticket live) on a scanned login. After the
	// decision the status is no longer scanned: the ticket is spent.
	decide := func() string {
		return "l.status = 'scanned' AND l.subject <> '' AND l.subject = " + subject +
			" AND " + session() + " <> '' AND l.scan_session = " + session() +
			" AND l.expires_at > " + now + " AND l.ticket_hash = " + q.arg(a.TicketHash, "bytea") +
			" AND l.ticket_expires_at > " + now
	}
	var set, where, audit, to, notify string
	auditSubject := "u.subject"
	switch a.Event {
	case storage.EventScan:
		// rules.Table: pending --scan--> scanned (live); scanned --scan-->
		// scanned (no other user, live). The binding never switches.
		to, audit = "scanned", "scanned"
		set = "status = 'scanned', subject = " + subject + ", scan_session = " + session() +
			", ticket_hash = " + q.arg(a.NewTicketHash, "bytea") + ", ticket_expires_at = " + q.arg(a.TicketExpiresAt, "timestamptz") +
			", scanned_at = " + now
		where = "(l.status = 'pending' AND l.expires_at > " + now + ") OR (l.status = 'scanned' AND (l.subject = '' OR l.subject = " +
			subject + ") AND l.expires_at > " + now + ")"
	case storage.EventConfirm:
		// rules.Table: scanned --confirm--> confirmed (decide, number
		// matches, choice allowed), recording the session choice.
		to, audit, notify = "confirmed", "confirmed", storage.NotificationSignIn
		match, choice := q.arg(a.MatchNumber, "smallint"), q.arg(a.SessionChoice, "text")
		set = "status = 'confirmed', decided_at = " + now + ", session_choice = coalesce(nullif(" + choice + ", ''), l.session_choice)"
		where = decide() + " AND (l.match_number = 0 OR l.match_number = " + match + ")" +
			" AND (" + choice + " = '' OR " + choice + " = l.session_choice OR l.session_choosable)"
	case storage.EventDeny:
		// rules.Table: scanned --deny--> denied (decide).
		to, audit = "denied", "denied"
		set = "status = 'denied', decided_at = " + now
		where = decide()
	case storage.EventMismatch:
		// rules.Table: scanned --mismatch--> denied (decide, wrong number):
		// number matching's one wrong choice, with its alarm.
		to, audit, notify = "denied", "wrong_number", storage.NotificationWrongNumber
		match := q.arg(a.MatchNumber, "smallint")
		set = "status = 'denied', decided_at = " + now
		where = decide() + " AND l.match_number <> 0 AND " + match + " <> 0 AND " + match + " <> l.match_number"
	case storage.EventSecondScan:
		// rules.Table: scanned, confirmed --second scan--> denied; denied
		// --second scan--> denied (other user, alarm on, live), with the
		// alarm; the audit event names the second scanner.
		to, audit, notify, auditSubject = "denied", "second_scan", storage.NotificationSecondScan, subject
		set = "status = 'denied', decided_at = CASE WHEN l.status = 'denied' THEN l.decided_at ELSE " + now + " END"
		where = "l.status IN ('scanned', 'confirmed', 'denied') AND l.subject <> '' AND l.subject <> " + subject +
			" AND l.second_scan_alarm AND l.expires_at > " + now
	case storage.EventRedeem:
		// rules.Table: confirmed --redeem--> redeemed (live, session live,
		// user active). SPEC §2.2: of concurrent redeems exactly one
		// matches; the others wait for its row lock and then match nothing.
		to, audit = "redeemed", "redeemed"
		set = "status = 'redeemed', redeemed_at = " + now
		where = "l.status = 'confirmed' AND l.expires_at > " + now +
			" AND NOT EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = l.id)" +
			" AND EXISTS (SELECT 1 FROM users x WHERE x.id = l.subject AND NOT x.disabled)"
	default:
		return nil, fmt.Errorf("postgres: apply: ApplyQR applies scan, confirm, deny, redeem, mismatch and second scan, not %s", a.Event)
	}
	if a.Bearer != nil {
		where = "EXISTS (SELECT 1 FROM tok) AND (" + where + ")"
	}
	q.w(`, u AS (UPDATE qr_logins l SET `, set, ` FROM old WHERE l.id = old.id AND (`, where, `)
	RETURNING `, qrColsL, `, old.status AS from_status
), a AS (
	INSERT INTO qr_audit_events (qr_login_id, event, client_id, subject, ip, at, detail)
	SELECT u.id, '`, audit, `', u.client_id, `, auditSubject, `, `, q.arg(a.IP, "text"), `, `, now, `, `, q.arg(a.AuditDetail, "text"), ` FROM u
	RETURNING pg_notify('`, notifyChannel, `', qr_login_id || ' `, to, `')
)`)
	if a.NotificationID != "" && notify != "" {
		// storage.Attempt.NotificationID: the notification of the kind the
		// transition records, with the client's name; a sign-in also with
		// the session its tokens will belong to and the session choice.
		sessionID, choice := "''", "''"
		if notify == storage.NotificationSignIn {
			sessionID = "coalesce((SELECT r.session_id FROM auth_requests r WHERE r.id = u.auth_request_id AND u.auth_request_id <> ''), u.id)"
			choice = "u.session_choice"
		}
		q.w(`, n AS (
	INSERT INTO notifications (`, notificationCols, `)
	SELECT `, q.arg(a.NotificationID, "text"), `, u.subject, u.client_id,
		coalesce((SELECT c.name FROM clients c WHERE c.id = u.client_id), u.client_id),
		u.requester_ip, u.requester_user_agent, u.requester_reported, `, sessionID, `,
		`, now, `, '`, notify, `', `, choice, ` FROM u
)`)
	}
	if t := a.Tokens; t != nil && a.Event == storage.EventRedeem {
		// storage.Tokens.For, in SQL: the login's client, subject and
		// scopes, its ID as the session, its confirmation as the auth time;
		// for "only this session" no refresh token, a short access token
		// and no offline_access.
		thisSession := "u.session_choice = '" + storage.SessionThisSession + "'"
		rid := q.arg(t.RefreshID, "text")
		if t.RefreshID != "" {
			q.w(`, rt AS (
	INSERT INTO refresh_tokens (`, refreshTokenCols, `, jkt)
	SELECT `, rid, `, `, q.arg(t.RefreshHash, "bytea"), `, u.id, u.client_id, u.subject, ARRAY[u.client_id], u.scopes, `,
				q.arg(list(t.AMR), "text[]"), `, u.decided_at, `, now, `, `, q.arg(t.RefreshExpiresAt, "timestamptz"), `, NULL, false, `,
				q.arg(t.JKT, "text"), `
	FROM u WHERE NOT `, thisSession, `
)`)
		}
		q.w(`, at AS (
	INSERT INTO access_tokens (`, accessTokenCols, `, jkt)
	SELECT `, q.arg(t.AccessID, "text"), `, u.client_id, u.subject, ARRAY[u.client_id],
		CASE WHEN `, thisSession, ` THEN array_remove(u.scopes, 'offline_access') ELSE u.scopes END, u.id,
		CASE WHEN `, thisSession, ` THEN '' ELSE `, rid, ` END, `, now, `,
		CASE WHEN `, thisSession, ` THEN `, q.arg(t.ThisSessionAccessExpiresAt, "timestamptz"), ` ELSE `,
			q.arg(t.AccessExpiresAt, "timestamptz"), ` END, `, q.arg(t.JKT, "text"), ` FROM u
)`)
	}
	q.w("\nSELECT ", qrColsU, ", u.from_status")
	if a.Event == storage.EventRedeem {
		q.w(", ", userColsX, " FROM u JOIN users x ON x.id = u.subject")
	} else {
		q.w(" FROM u")
	}
	return q, nil
}

// The select lists of ApplyQR's statement, qualified once: built per call
// they were 13 % of the objects a login run allocated.
var (
	qrColsL   = qrCols("l")
	qrColsU   = qrCols("u")
	userColsX = qualified("x", userCols)
)

// qualified prefixes every column of a comma-separated list with alias.
func qualified(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
