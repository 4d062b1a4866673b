package grants

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// Store is what the QR grant needs from a backend.
type Store interface {
	CreateQRLogin(ctx context.Context, l *storage.QRLogin) error
	QRLogin(ctx context.Context, id string) (*storage.QRLogin, error)
	QRLoginByQRIDHash(ctx context.Context, hash []byte) (*storage.QRLogin, error)
	QRLoginByTicketHash(ctx context.Context, hash []byte) (*storage.QRLogin, error)
	QRLoginByUserCode(ctx context.Context, code string, now time.Time) (*storage.QRLogin, error)
	PollQRLogin(ctx context.Context, deviceCodeHash []byte, clientID string, now time.Time) (*storage.QRLogin, error)
	SetQRInterval(ctx context.Context, id string, interval time.Duration) error
	RecordQRAnswer(ctx context.Context, id string, status storage.Status, at time.Time) error
	ScanQRLogin(ctx context.Context, id string, s storage.Scan) (*storage.QRLogin, error)
	DecideQRLogin(ctx context.Context, id string, d storage.Decision) (*storage.QRLogin, error)
	RedeemQRLogin(ctx context.Context, id, ip string, now time.Time) (*storage.QRLogin, error)
	SubscribeQRLogin(id string) (<-chan struct{}, func())
}

// Config configures the QR grant. Zero values mean the SPEC's defaults.
type Config struct {
	Store Store
	// Issuer prefixes verification_uri_complete: Issuer + "/q/" + qr_id.
	Issuer       string
	QRTTL        time.Duration // default 2m
	PollInterval time.Duration // default 1s
	TicketTTL    time.Duration // default 60s
	// MaxWait caps the wait parameter of a long-poll; default 30s.
	MaxWait time.Duration
	// MaxHeld caps the long-polls this instance holds at once, the token
	// endpoint's and the login page's together; default 10,000. Past it a
	// long-poll is answered at once (see Hold).
	MaxHeld int
	Now     func() time.Time
	Logger  *slog.Logger
	// Observe, when set, hears of every step of a QR login once the store
	// has committed it, whichever path caused it: the phone app, the phone
	// browser, a typed user code, a poll or the hosted login page. It is the
	// one place the funnel is counted. Called on the request's goroutine;
	// it must not block.
	Observe func(ctx context.Context, step Step, l *storage.QRLogin)
	// Refused, when set, hears of every long-poll a bound refused to hold
	// (LimitHeldPerLogin, LimitHeldPerInstance); it must not block.
	Refused func(limit string)
	// Tracer makes a span for each step (start, scan, decide, redeem),
	// with the login's public id; default: no spans.
	Tracer trace.Tracer
}

// Step is a committed change of a QR login, as Config.Observe sees it.
type Step string

const (
	StepStarted   Step = "started"
	StepScanned   Step = "scanned"   // first scan
	StepRescanned Step = "rescanned" // the same user scanned again: new ticket
	StepConfirmed Step = "confirmed"
	StepDenied    Step = "denied"
	StepRedeemed  Step = "redeemed" // tokens handed out, or the hosted page continued
)

// AttrLoginID is the span attribute naming a QR login by its row id: not
// a secret (never in the QR, useless without a device code or ticket),
// the same on the PC's requests and the phone's, so a tracing backend
// finds every request of one login by it.
const AttrLoginID = "qrlogin.login_id"

func (q *QR) observe(ctx context.Context, step Step, l *storage.QRLogin) {
	if q.cfg.Observe != nil {
		q.cfg.Observe(ctx, step, l)
	}
}

// span starts the span of a step; end records its outcome.
func (q *QR) span(ctx context.Context, name string) (context.Context, trace.Span) {
	return q.cfg.Tracer.Start(ctx, name)
}

func end(span trace.Span, l *storage.QRLogin, err error) {
	if l != nil {
		span.SetAttributes(attribute.String(AttrLoginID, l.ID), attribute.String("qrlogin.client_id", l.ClientID),
			attribute.String("qrlogin.status", l.Status.String()))
	}
	if err != nil {
		var e *oauth.Error
		if errors.As(err, &e) {
			span.SetAttributes(attribute.String("qrlogin.error", e.Code))
			if e.Status >= 500 {
				span.SetStatus(codes.Error, e.Code)
			}
		} else {
			span.SetStatus(codes.Error, "internal error")
		}
	}
	span.End()
}

// QR runs QR logins. It is safe for concurrent use.
type QR struct {
	cfg Config

	mu      sync.Mutex
	holding map[string]int    // long-polls held per login on this instance
	held    int               // long-polls held in all
	watches map[string]*watch // the shared view of each login being waited on

	drain     chan struct{} // closed by Drain
	drainOnce sync.Once
}

// New validates cfg and returns the grant.
func New(cfg Config) (*QR, error) {
	if cfg.Store == nil {
		return nil, errors.New("grants: Config.Store is required")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("grants: Config.Issuer is required")
	}
	if cfg.QRTTL == 0 {
		cfg.QRTTL = 2 * time.Minute
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.TicketTTL == 0 {
		cfg.TicketTTL = 60 * time.Second
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = 30 * time.Second
	}
	if cfg.MaxHeld <= 0 {
		cfg.MaxHeld = 10000
	}
	if cfg.QRTTL < time.Second || cfg.PollInterval < time.Second || cfg.TicketTTL < time.Second {
		return nil, errors.New("grants: QR TTL, poll interval and ticket TTL must be at least 1s")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Tracer == nil {
		cfg.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return &QR{cfg: cfg, holding: map[string]int{}, watches: map[string]*watch{}, drain: make(chan struct{})}, nil
}

// Drain starts this instance's graceful shutdown: every long-poll held
// now is answered at once with its current state (authorization_pending
// and qr_status while nothing was decided), so the client polls again —
// through the load balancer, at another instance — and loses nothing, as
// the state is in the store. Later long-polls are held at most until the
// poll interval has passed since the previous poll (so a client coming
// straight back does not spin), then answered. Safe to call more than once.
func (q *QR) Drain() { q.drainOnce.Do(func() { close(q.drain) }) }

// Draining is closed once Drain has been called. The hosted login page's
// status long-poll (idp) follows the same rule with it.
func (q *QR) Draining() <-chan struct{} { return q.drain }

func (q *QR) draining() bool {
	select {
	case <-q.drain:
		return true
	default:
		return false
	}
}

// Config returns the effective configuration.
func (q *QR) Config() Config { return q.cfg }

func (q *QR) now() time.Time { return q.cfg.Now().UTC().Truncate(time.Microsecond) }

// StartRequest is a validated request to start a QR login.
type StartRequest struct {
	ClientID           string
	Scopes             []string
	Nonce              string
	AuthRequestID      string
	RequesterIP        string
	RequesterUserAgent string
	RequesterReported  bool
}

// Started is a new QR login with its secrets, which exist only here: the
// store keeps their hashes.
type Started struct {
	QRID       string
	DeviceCode string
	UserCode   string // stored form, see FormatUserCode
	Login      *storage.QRLogin
}

// VerificationURIComplete is the QR content (RFC 8628 §3.3.1).
func (q *QR) VerificationURIComplete(qrID string) string {
	return q.cfg.Issuer + "/q/" + qrID
}

// Start creates a QR login. Every identifier is generated here from
// crypto/rand; nothing the client sends becomes an identifier (F4).
func (q *QR) Start(ctx context.Context, r StartRequest) (started *Started, err error) {
	ctx, span := q.span(ctx, "qr.start")
	defer func() {
		var l *storage.QRLogin
		if started != nil {
			l = started.Login
		}
		end(span, l, err)
	}()
	now := q.now()
	for attempt := 0; ; attempt++ {
		s := &Started{
			QRID:       storage.NewSecret(16), // 128 bits (F3)
			DeviceCode: storage.NewSecret(32), // 256 bits
			UserCode:   newUserCode(),
		}
		l := &storage.QRLogin{
			ID:                 storage.NewSecret(16),
			QRIDHash:           storage.Hash(s.QRID),
			DeviceCodeHash:     storage.Hash(s.DeviceCode),
			UserCode:           s.UserCode,
			ClientID:           r.ClientID,
			Scopes:             r.Scopes,
			Nonce:              r.Nonce,
			AuthRequestID:      r.AuthRequestID,
			RequesterIP:        r.RequesterIP,
			RequesterUserAgent: r.RequesterUserAgent,
			RequesterReported:  r.RequesterReported,
			Status:             storage.StatusPending,
			CreatedAt:          now,
			ExpiresAt:          now.Add(q.cfg.QRTTL),
			Interval:           q.cfg.PollInterval,
		}
		err := q.cfg.Store.CreateQRLogin(ctx, l)
		// A collision can only be the 34-bit user code; try a new one.
		if errors.Is(err, storage.ErrConflict) && attempt < 8 {
			continue
		}
		if err != nil {
			return nil, oauth.StoreError(err)
		}
		s.Login = l
		q.observe(ctx, StepStarted, l)
		return s, nil
	}
}

// PollRequest is one poll of the token endpoint for a QR login.
type PollRequest struct {
	DeviceCode string
	ClientID   string // the authenticated client
	Wait       time.Duration
}

// Poll answers one poll (SPEC §2.2). It returns the confirmed login when
// tokens are due: the caller mints them and then calls Redeem. Otherwise
// an *oauth.Error: authorization_pending (with qr_status), slow_down,
// access_denied, expired_token or invalid_grant.
//
// With Wait > 0 a pending or scanned login is held until it changes state
// (on any instance) or Wait elapses.
func (q *QR) Poll(ctx context.Context, p PollRequest) (*storage.QRLogin, error) {
	if p.DeviceCode == "" {
		return nil, oauth.New(oauth.InvalidRequest, "device_code is required")
	}
	now := q.now()
	prev, err := q.cfg.Store.PollQRLogin(ctx, storage.Hash(p.DeviceCode), p.ClientID, now)
	if errors.Is(err, storage.ErrNotFound) {
		// Unknown, or issued to another client: one answer for both.
		return nil, oauth.New(oauth.InvalidGrant, "unknown device_code")
	}
	if err != nil {
		return nil, oauth.StoreError(err)
	}
	if prev.AuthRequestID != "" {
		// Logins of the hosted page are finished by the page, not polled.
		return nil, oauth.New(oauth.InvalidGrant, "unknown device_code")
	}
	status := prev.StatusAt(now)
	wait := min(p.Wait, q.cfg.MaxWait)
	if q.early(prev, status, now, wait) {
		// RFC 8628 §3.5: slow_down, and every later poll must wait 5 s more.
		interval := prev.Interval + 5*time.Second
		if err := q.cfg.Store.SetQRInterval(ctx, prev.ID, interval); err != nil {
			return nil, oauth.StoreError(err)
		}
		return nil, oauth.New(oauth.SlowDown, "polling too fast").
			With("interval", int(interval/time.Second))
	}
	// A long-poll is held only while nothing changed since the previous
	// answer: a scan that happened between two polls is reported at once,
	// not swallowed until the next change.
	// Before any poll, what the client was last told is "pending" (by
	// /qr/authorize).
	reported := prev.LastPollStatus
	if reported == storage.StatusInvalid {
		reported = storage.StatusPending
	}
	changed := reported != prev.Status
	if wait <= 0 || changed || status != storage.StatusPending && status != storage.StatusScanned {
		if changed && (status == storage.StatusPending || status == storage.StatusScanned) {
			if err := q.reportedChange(ctx, prev.ID, status); err != nil {
				return nil, err
			}
		}
		return answer(prev, status)
	}
	drain := q.drain
	if q.draining() {
		// Held only until the interval since the previous poll has passed:
		// "poll again" at once, but not faster than the client may poll.
		wait = min(wait, prev.Interval-now.Sub(prev.LastPollAt))
		drain = nil
		if wait <= 0 {
			return answer(prev, status)
		}
	}
	release, err := q.Hold(prev.ID)
	if err != nil {
		return answer(prev, status) // past a bound: at once, not held
	}
	defer release()
	cur, err := q.WaitChange(ctx, prev.ID, status, wait, drain)
	if err != nil {
		return nil, err
	}
	s := cur.StatusAt(q.now())
	if s == status || status == storage.StatusScanned && s == storage.StatusPending {
		return answer(cur, status) // the wait ended, nothing changed
	}
	if s == storage.StatusPending || s == storage.StatusScanned {
		if err := q.reportedChange(ctx, prev.ID, s); err != nil {
			return nil, err
		}
	}
	return answer(cur, s)
}

// reportedChange records that an answer reported a new status, with no
// time: the client was told something changed and may come straight back
// (never slow_down), and its next long-poll is held until the next change.
// One write, at most once per state change of a login.
func (q *QR) reportedChange(ctx context.Context, id string, s storage.Status) error {
	if err := q.cfg.Store.RecordQRAnswer(ctx, id, s, time.Time{}); err != nil {
		return oauth.StoreError(err)
	}
	return nil
}

// early reports whether this poll came sooner than the interval after the
// previous one. The first poll is never early, nor is one whose previous
// answer reported a state different from the current one (the client was
// told something changed and may come straight back), nor one for a final
// state, whose answer is more useful than slow_down. A long-poll that will
// be held at least until the interval has passed is not early either: the
// server paces it, and it is answered before then only if the state
// changes.
func (q *QR) early(prev *storage.QRLogin, status storage.Status, now time.Time, wait time.Duration) bool {
	if prev.LastPollAt.IsZero() || status.Final() || prev.LastPollStatus != prev.Status {
		return false
	}
	remaining := prev.Interval - now.Sub(prev.LastPollAt)
	if remaining <= 0 {
		return false
	}
	held := wait > 0 && (status == storage.StatusPending || status == storage.StatusScanned)
	return !held || wait < remaining
}

func answer(l *storage.QRLogin, s storage.Status) (*storage.QRLogin, error) {
	switch s {
	case storage.StatusConfirmed:
		return l, nil
	case storage.StatusPending, storage.StatusScanned:
		// SPEC §2.2: scanned says nothing about the user (F6).
		return nil, oauth.New(oauth.AuthorizationPending, "the user has not confirmed yet").
			With("qr_status", s.String())
	case storage.StatusDenied:
		return nil, oauth.New(oauth.AccessDenied, "the user denied the login")
	case storage.StatusExpired:
		return nil, oauth.New(oauth.ExpiredToken, "the QR login expired")
	default: // redeemed (F2)
		return nil, oauth.New(oauth.InvalidGrant, "unknown device_code")
	}
}

// Redeem marks a confirmed login redeemed. Of concurrent callers exactly
// one succeeds; the others get invalid_grant and must discard what they
// minted.
func (q *QR) Redeem(ctx context.Context, id, ip string) (l *storage.QRLogin, err error) {
	ctx, span := q.span(ctx, "qr.redeem")
	span.SetAttributes(attribute.String(AttrLoginID, id))
	defer func() { end(span, l, err) }()
	l, err = q.cfg.Store.RedeemQRLogin(ctx, id, ip, q.now())
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		return nil, oauth.New(oauth.InvalidGrant, "unknown device_code")
	}
	if err != nil {
		return nil, oauth.StoreError(err)
	}
	q.observe(ctx, StepRedeemed, l)
	return l, nil
}

// ScanRequest is a phone scanning a QR.
type ScanRequest struct {
	Subject string // from the phone's bearer token, never from the body (F5)
	// Session is the scanning session (the bearer token's SessionID, or
	// the phone browser's session): the ticket is bound to it.
	Session string
	Payload string // the QR content or the bare qr_id
	IP      string
}

// ScanResult is a successful scan: the ticket exists only here.
type ScanResult struct {
	Ticket    string
	ExpiresIn time.Duration
	Login     *storage.QRLogin
}

// ErrNotFound is the one answer for an unknown, expired or finished QR or
// ticket: the phone learns nothing more (no oracle).
func ErrNotFound() *oauth.Error { return errNotFound() }

func errNotFound() *oauth.Error {
	return oauth.New(oauth.QRNotFound, "QR code not found or no longer valid").WithStatus(http.StatusNotFound)
}

// Scan binds the login to the user and hands out a ticket to confirm with.
func (q *QR) Scan(ctx context.Context, r ScanRequest) (res *ScanResult, err error) {
	ctx, span := q.span(ctx, "qr.scan")
	defer func() { end(span, scanned(res), err) }()
	id, ok := ParseQRPayload(r.Payload, q.cfg.Issuer)
	if !ok {
		return nil, errNotFound()
	}
	l, err := q.cfg.Store.QRLoginByQRIDHash(ctx, storage.Hash(id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNotFound()
	}
	if err != nil {
		return nil, oauth.StoreError(err)
	}
	span.SetAttributes(attribute.String(AttrLoginID, l.ID))
	return q.scanLogin(ctx, l, r.Subject, r.Session, r.IP)
}

func scanned(res *ScanResult) *storage.QRLogin {
	if res == nil {
		return nil
	}
	return res.Login
}

// ScanLogin scans a login already found (by qr_id or by user code) for
// subject, binding the ticket to session.
func (q *QR) ScanLogin(ctx context.Context, l *storage.QRLogin, subject, session, ip string) (res *ScanResult, err error) {
	ctx, span := q.span(ctx, "qr.scan")
	span.SetAttributes(attribute.String(AttrLoginID, l.ID))
	defer func() { end(span, scanned(res), err) }()
	return q.scanLogin(ctx, l, subject, session, ip)
}

func (q *QR) scanLogin(ctx context.Context, l *storage.QRLogin, subject, session, ip string) (*ScanResult, error) {
	if subject == "" || session == "" {
		return nil, errors.New("grants: a scan needs the subject and the session that scanned")
	}
	now := q.now()
	if err := scanAllowed(l, subject, now); err != nil {
		return nil, err
	}
	ticket := storage.NewSecret(32)
	expires := now.Add(q.cfg.TicketTTL)
	if l.ExpiresAt.Before(expires) {
		expires = l.ExpiresAt
	}
	updated, err := q.cfg.Store.ScanQRLogin(ctx, l.ID, storage.Scan{
		Subject:         subject,
		Session:         session,
		TicketHash:      storage.Hash(ticket),
		TicketExpiresAt: expires,
		IP:              ip,
		Now:             now,
	})
	if errors.Is(err, storage.ErrConflict) {
		// Someone changed it between our read and our update: tell which.
		cur, rerr := q.cfg.Store.QRLogin(ctx, l.ID)
		if rerr != nil {
			return nil, errNotFound()
		}
		if err := scanAllowed(cur, subject, now); err != nil {
			return nil, err
		}
		return nil, errNotFound()
	}
	if err != nil {
		return nil, oauth.StoreError(err)
	}
	step := StepScanned
	if l.StatusAt(now) == storage.StatusScanned {
		step = StepRescanned
	}
	q.observe(ctx, step, updated)
	return &ScanResult{Ticket: ticket, ExpiresIn: expires.Sub(now), Login: updated}, nil
}

func scanAllowed(l *storage.QRLogin, subject string, now time.Time) error {
	s := l.StatusAt(now)
	if s.Final() {
		return errNotFound()
	}
	if s != storage.StatusPending && l.Subject != subject {
		// The binding never switches (SPEC §2.3).
		return oauth.New(oauth.QRAlreadyScanned, "another account already scanned this QR code").WithStatus(http.StatusConflict)
	}
	if s == storage.StatusConfirmed {
		return oauth.New(oauth.QRAlreadyDecided, "this login was already confirmed").WithStatus(http.StatusConflict)
	}
	if _, err := Next(s, EventScan); err != nil {
		return errNotFound()
	}
	return nil
}

// DecideRequest confirms or denies with a ticket.
type DecideRequest struct {
	Subject string // from the bearer token (F5)
	Session string // the deciding session; must be the one that scanned
	Ticket  string
	Confirm bool
	IP      string
	// Notify, for a confirmation, returns the sign-in notification to
	// record atomically with it; ID, Subject, CreatedAt and (when empty)
	// SessionID are filled in here. May be nil.
	Notify func(*storage.QRLogin) *storage.Notification
}

// Decide confirms or denies a scanned login.
func (q *QR) Decide(ctx context.Context, r DecideRequest) (decided *storage.QRLogin, err error) {
	ctx, span := q.span(ctx, "qr.decide")
	span.SetAttributes(attribute.Bool("qrlogin.confirm", r.Confirm))
	defer func() { end(span, decided, err) }()
	if r.Ticket == "" || len(r.Ticket) > 256 {
		return nil, errNotFound()
	}
	hash := storage.Hash(r.Ticket)
	l, err := q.cfg.Store.QRLoginByTicketHash(ctx, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNotFound()
	}
	if err != nil {
		return nil, oauth.StoreError(err)
	}
	span.SetAttributes(attribute.String(AttrLoginID, l.ID))
	now := q.now()
	if err := decideAllowed(l, r.Subject, r.Session, now); err != nil {
		return nil, err
	}
	to, event := storage.StatusConfirmed, EventConfirm
	if !r.Confirm {
		to, event = storage.StatusDenied, EventDeny
	}
	if _, err := Next(storage.StatusScanned, event); err != nil {
		return nil, err
	}
	d := storage.Decision{To: to, TicketHash: hash, Subject: r.Subject, Session: r.Session, IP: r.IP, Now: now}
	if r.Confirm && r.Notify != nil {
		n := *r.Notify(l)
		n.ID = storage.NewSecret(16)
		n.Subject = r.Subject
		if n.SessionID == "" {
			n.SessionID = l.ID // the QR grant's tokens belong to the login
		}
		n.CreatedAt = now
		d.Notification = &n
	}
	updated, err := q.cfg.Store.DecideQRLogin(ctx, l.ID, d)
	if errors.Is(err, storage.ErrConflict) {
		cur, rerr := q.cfg.Store.QRLogin(ctx, l.ID)
		if rerr != nil {
			return nil, errNotFound()
		}
		if err := decideAllowed(cur, r.Subject, r.Session, now); err != nil {
			return nil, err
		}
		return nil, errNotFound() // a rescan replaced the ticket
	}
	if err != nil {
		return nil, oauth.StoreError(err)
	}
	step := StepConfirmed
	if !r.Confirm {
		step = StepDenied
	}
	q.observe(ctx, step, updated)
	return updated, nil
}

func decideAllowed(l *storage.QRLogin, subject, session string, now time.Time) error {
	if l.Subject != subject {
		return oauth.New(oauth.Forbidden, "this ticket belongs to another account").WithStatus(http.StatusForbidden)
	}
	// The ticket is the scanning session's: the same account signed in
	// elsewhere (another phone, a stolen token) cannot replay it.
	if session == "" || l.ScanSession != session {
		return oauth.New(oauth.Forbidden, "this ticket belongs to another session").WithStatus(http.StatusForbidden)
	}
	switch l.StatusAt(now) {
	case storage.StatusScanned:
		if !now.Before(l.TicketExpiresAt) {
			return errNotFound()
		}
		return nil
	case storage.StatusConfirmed, storage.StatusDenied, storage.StatusRedeemed:
		return oauth.New(oauth.QRAlreadyDecided, "this login was already decided").WithStatus(http.StatusConflict)
	default:
		return errNotFound()
	}
}
