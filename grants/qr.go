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

	"github.com/qrlogin/qrlogin/grants/rules"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// Store is what the QR grant needs from a backend.
type Store interface {
	CreateQRLogin(ctx context.Context, l *storage.QRLogin) error
	QRLogin(ctx context.Context, id string) (*storage.QRLogin, error)
	QRLoginByQRIDHash(ctx context.Context, hash []byte) (*storage.QRLogin, error)
	QRLoginByDeviceCode(ctx context.Context, hash []byte) (*storage.QRLogin, error)
	QRLoginByTicketHash(ctx context.Context, hash []byte) (*storage.QRLogin, error)
	QRLoginByUserCode(ctx context.Context, code string, now time.Time) (*storage.QRLogin, error)
	ApplyQR(ctx context.Context, a *storage.Attempt) (*storage.Applied, error)
	SubscribeQRLogins(fn func(storage.QRChange)) (cancel func())
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
// OpenTelemetry's no-op tracer (Config's default) is skipped: its Start
// still allocates a context per step for a span that records nothing.
func (q *QR) span(ctx context.Context, name string) (context.Context, trace.Span) {
	if _, off := q.cfg.Tracer.(noop.Tracer); off {
		return ctx, noSpan
	}
	return q.cfg.Tracer.Start(ctx, name)
}

// noSpan is made once: a noop.Span in an interface would be allocated.
var noSpan trace.Span = noop.Span{}

func end(span trace.Span, l *storage.QRLogin, err error) {
	if !span.IsRecording() {
		return
	}
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

	mu       sync.Mutex
	holding  map[string]int       // long-polls held per login on this instance
	parked   map[*parked]struct{} // the held ones that are parked (park.go)
	held     int                  // long-polls held in all
	views    map[string]*view     // this instance's view of logins, by ID (view.go)
	byDevice map[string]*view     // the same, by string(DeviceCodeHash)
	expiry   []*view              // views in (nearly) expiry order, for sweep
	maxViews int                  // the bound on len(views): maxViews, lowered by tests
	seq      uint64               // changes heard so far
	log      [changeLog]change
	unsub    func()

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
	q := &QR{cfg: cfg, holding: map[string]int{}, parked: map[*parked]struct{}{}, views: map[string]*view{}, byDevice: map[string]*view{}, maxViews: maxViews,
		drain: make(chan struct{})}
	q.unsub = cfg.Store.SubscribeQRLogins(q.heard)
	return q, nil
}

// Close ends the grant's subscription to the store's announcements.
func (q *QR) Close() { q.unsub() }

// Drain starts this instance's graceful shutdown: every long-poll held
// now is answered at once with its current state (authorization_pending
// and qr_status while nothing was decided), so the client polls again —
// through the load balancer, at another instance — and loses nothing, as
// the state is in the store. Later long-polls are held at most until the
// poll interval has passed since the previous poll (so a client coming
// straight back does not spin), then answered. Safe to call more than once.
func (q *QR) Drain() {
	q.drainOnce.Do(func() {
		close(q.drain)
		q.drainParked()
	})
}

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
	// DPoPJKT binds the login to the PC's DPoP key (storage.QRLogin).
	DPoPJKT string
	// Defences are the client's (DefencesOf), kept by the login.
	Defences Defences
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
			DPoPJKT:            r.DPoPJKT,
			Status:             storage.StatusPending,
			CreatedAt:          now,
			ExpiresAt:          now.Add(q.cfg.QRTTL),
			Interval:           q.cfg.PollInterval,
		}
		r.Defences.defend(l)
		err := q.cfg.Store.CreateQRLogin(ctx, l)
		// A collision can only be the 34-bit user code; try a new one.
		if errors.Is(err, storage.ErrConflict) && attempt < 8 {
			continue
		}
		if err != nil {
			return nil, oauth.StoreError(err)
		}
		s.Login = l
		if l.AuthRequestID == "" {
			// Its polls come here first, most likely: answer them from
			// memory. (The hosted page's login is tracked when waited on.)
			q.mu.Lock()
			q.track(l, q.seq)
			q.mu.Unlock()
		}
		q.observe(ctx, StepStarted, l)
		return s, nil
	}
}

// Minter makes the tokens of a redeem. The redeem inserts them in the same
// atomic operation (storage.Attempt.Tokens), only if it applies, so of
// concurrent redeems only the winner's tokens ever exist: no loser mints
// and revokes. Implemented by idp, which knows the token formats.
type Minter interface {
	// Tokens returns the token rows to insert with the redeem of a login
	// issued to clientID with scopes.
	Tokens(clientID string, scopes []string) (*storage.Tokens, error)
	// Response is the client's answer for the applied redeem (its login
	// and user) and the tokens inserted with it.
	Response(ctx context.Context, a *storage.Applied, t *storage.Tokens) (any, error)
}

// Redeem marks confirmed login id redeemed and, with a Minter, mints its
// tokens in the same store operation and returns the client's answer. Of
// concurrent callers exactly one succeeds; the others get the answer the
// login's state calls for (invalid_grant once redeemed). The hosted login
// page redeems without a Minter: its tokens come from the authorization
// code.
func (q *QR) Redeem(ctx context.Context, id, ip string, m Minter) (any, error) {
	v, err := q.byID(ctx, id)
	if err != nil {
		return nil, notFoundAsInvalidGrant(err)
	}
	return q.redeem(ctx, v, ip, m)
}

// redeem is Redeem on a view.
func (q *QR) redeem(ctx context.Context, v *view, ip string, m Minter) (resp any, err error) {
	ctx, span := q.span(ctx, "qr.redeem")
	span.SetAttributes(attribute.String(AttrLoginID, v.id))
	var l *storage.QRLogin
	defer func() { end(span, l, err) }()
	a := &storage.Attempt{Event: storage.EventRedeem, ID: v.id, IP: ip, Now: q.now()}
	if m != nil {
		t, err := m.Tokens(v.clientID, v.scopes)
		if err != nil {
			return nil, err
		}
		a.Tokens = t
	}
	applied, err := q.cfg.Store.ApplyQR(ctx, a)
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		return nil, q.redeemRefused(ctx, v)
	}
	if err != nil {
		return nil, oauth.StoreError(err)
	}
	l = applied.Login
	q.mu.Lock()
	v.learn(l.Status)
	q.forget(v)
	q.mu.Unlock()
	q.observe(ctx, StepRedeemed, l)
	if m == nil {
		return applied, nil
	}
	return m.Response(ctx, applied, a.Tokens)
}

// redeemRefused explains a redeem the store refused from the login as it
// is now: denied (voided meanwhile), expired, or already redeemed
// (invalid_grant), or still confirmed when its session was revoked or its
// user disabled (invalid_grant).
func (q *QR) redeemRefused(ctx context.Context, v *view) error {
	l, err := q.cfg.Store.QRLogin(ctx, v.id)
	if err != nil {
		return notFoundAsInvalidGrant(err)
	}
	q.mu.Lock()
	q.merge(v, l.Status, q.seq)
	q.mu.Unlock()
	s := rules.StatusAt(l, q.now())
	if rules.Allows(s, storage.EventRedeem) {
		return oauth.New(oauth.InvalidGrant, "the grant is no longer valid (its session was revoked or its user disabled)")
	}
	return answer(s)
}

func notFoundAsInvalidGrant(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return oauth.New(oauth.InvalidGrant, "unknown device_code")
	}
	return oauth.StoreError(err)
}

// ScanRequest is a phone scanning a QR.
type ScanRequest struct {
	Subject string // from the phone's bearer token, never from the body (F5)
	// Bearer, when set, is the phone app's access token, checked in the
	// same store operation as the scan (its session is the scanning one).
	Bearer *storage.Bearer
	// Session is the scanning session without a Bearer (the phone
	// browser's session): the ticket is bound to it.
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

// Scan binds the login to the user and hands out a ticket to confirm with:
// one store operation, which finds the login by its qr_id's hash and, with
// a Bearer, checks the phone's token.
func (q *QR) Scan(ctx context.Context, r ScanRequest) (res *ScanResult, err error) {
	ctx, span := q.span(ctx, "qr.scan")
	defer func() { end(span, scanned(res), err) }()
	id, ok := ParseQRPayload(r.Payload, q.cfg.Issuer)
	if !ok {
		return nil, errNotFound()
	}
	return q.scan(ctx, &storage.Attempt{QRIDHash: storage.Hash(id)}, r)
}

func scanned(res *ScanResult) *storage.QRLogin {
	if res == nil {
		return nil
	}
	return res.Login
}

// ScanLogin scans login id, found by other means (a typed user code),
// for r (its Payload is ignored).
func (q *QR) ScanLogin(ctx context.Context, id string, r ScanRequest) (res *ScanResult, err error) {
	ctx, span := q.span(ctx, "qr.scan")
	span.SetAttributes(attribute.String(AttrLoginID, id))
	defer func() { end(span, scanned(res), err) }()
	return q.scan(ctx, &storage.Attempt{ID: id}, r)
}

func (q *QR) scan(ctx context.Context, a *storage.Attempt, r ScanRequest) (*ScanResult, error) {
	if r.Subject == "" || r.Session == "" && r.Bearer == nil {
		return nil, errors.New("grants: a scan needs the subject and the session that scanned")
	}
	now := q.now()
	ticket := storage.NewSecret(32)
	a.Event, a.Subject, a.Session, a.Bearer, a.IP, a.Now = storage.EventScan, r.Subject, r.Session, r.Bearer, r.IP, now
	a.NewTicketHash, a.TicketExpiresAt = storage.Hash(ticket), now.Add(q.cfg.TicketTTL)
	applied, err := q.cfg.Store.ApplyQR(ctx, a)
	if err != nil {
		return nil, q.scanRefused(ctx, a, err)
	}
	l := applied.Login
	q.saw(l)
	step := StepScanned
	if applied.From == storage.StatusScanned {
		step = StepRescanned
	}
	q.observe(ctx, step, l)
	// The ticket lives TicketTTL, and never past the login: a decision
	// needs both (rules.Table).
	expires := l.TicketExpiresAt
	if l.ExpiresAt.Before(expires) {
		expires = l.ExpiresAt
	}
	return &ScanResult{Ticket: ticket, ExpiresIn: expires.Sub(now), Login: l}, nil
}

// scanRefused explains a scan the store refused, from the login as it is
// now and the table (SPEC §2.3): unknown, expired or finished → 404;
// bound to another user → 409 qr_already_scanned; confirmed → 409
// qr_already_decided. When the table would allow it now, the bearer was
// refused or the login changed meanwhile: 404 (idp answers a refused
// bearer first).
func (q *QR) scanRefused(ctx context.Context, a *storage.Attempt, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return errNotFound()
	}
	if !errors.Is(err, storage.ErrConflict) {
		return oauth.StoreError(err)
	}
	var l *storage.QRLogin
	if a.ID != "" {
		l, err = q.cfg.Store.QRLogin(ctx, a.ID)
	} else {
		l, err = q.cfg.Store.QRLoginByQRIDHash(ctx, a.QRIDHash)
	}
	if err != nil {
		return notFoundOr(err)
	}
	// Another account's scan of a login already scanned or denied: the
	// alarm, when its client wants it (rules.Table's second-scan rows). The
	// scanner's answer stays the one below.
	alarmed := q.secondScan(ctx, a, l)
	if rules.Final(rules.StatusAt(l, a.Now)) {
		if alarmed {
			return errNotFound().WithCause(ErrAlarm)
		}
		return errNotFound()
	}
	t, g := rules.Check(l, a, nil)
	if alarmed {
		return oauth.New(oauth.QRAlreadyScanned, "another account already scanned this QR code; the sign-in was cancelled").WithStatus(http.StatusConflict).WithCause(ErrAlarm)
	}
	switch {
	case g == rules.NoOtherUser:
		// The binding never switches (SPEC §2.3).
		return oauth.New(oauth.QRAlreadyScanned, "another account already scanned this QR code").WithStatus(http.StatusConflict)
	case t == nil && l.Status == storage.StatusConfirmed:
		return oauth.New(oauth.QRAlreadyDecided, "this login was already confirmed").WithStatus(http.StatusConflict)
	}
	return errNotFound()
}

func notFoundOr(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return errNotFound()
	}
	return oauth.StoreError(err)
}

// DecideRequest confirms or denies with a ticket.
type DecideRequest struct {
	Subject string // from the bearer token (F5)
	// Bearer, when set, is the phone app's access token, checked in the
	// same store operation; its session must be the one that scanned.
	Bearer *storage.Bearer
	// Session is the deciding session without a Bearer; it must be the
	// one that scanned.
	Session string
	Ticket  string
	Confirm bool
	// MatchNumber (confirm) is the number the user picked, for a login of
	// a client with number matching; 0: none sent.
	MatchNumber int
	// SessionChoice (confirm) is the user's choice, storage.SessionKeep or
	// storage.SessionThisSession; "": the login's default.
	SessionChoice string
	IP            string
	// Notify records a sign-in notification with a confirmation, in the
	// same store operation (storage.Attempt.NotificationID).
	Notify bool
	// AuditDetail is recorded with the decision's audit event (idp: the
	// proximity signal).
	AuditDetail string
}

// Decide confirms or denies a scanned login: one store operation, which
// finds the login by the ticket's hash and, with a Bearer, checks the
// phone's token.
func (q *QR) Decide(ctx context.Context, r DecideRequest) (decided *storage.QRLogin, err error) {
	ctx, span := q.span(ctx, "qr.decide")
	span.SetAttributes(attribute.Bool("qrlogin.confirm", r.Confirm))
	defer func() { end(span, decided, err) }()
	if r.Ticket == "" || len(r.Ticket) > 256 {
		return nil, errNotFound()
	}
	a := &storage.Attempt{Event: storage.EventConfirm, TicketHash: storage.Hash(r.Ticket), Subject: r.Subject,
		Session: r.Session, Bearer: r.Bearer, IP: r.IP, AuditDetail: r.AuditDetail, Now: q.now()}
	if !r.Confirm {
		a.Event = storage.EventDeny
	} else {
		a.MatchNumber, a.SessionChoice = r.MatchNumber, r.SessionChoice
		if r.Notify {
			a.NotificationID = storage.NewSecret(16)
		}
	}
	applied, err := q.cfg.Store.ApplyQR(ctx, a)
	if err != nil {
		return nil, q.decideRefused(ctx, a, err)
	}
	q.saw(applied.Login)
	step := StepConfirmed
	if !r.Confirm {
		step = StepDenied
	}
	q.observe(ctx, step, applied.Login)
	return applied.Login, nil
}

// decideRefused explains a decision the store refused, from the login
// holding the ticket and the table (SPEC §2.3): another user's ticket or
// another session's → 403 forbidden; decided already → 409
// qr_already_decided; anything else (unknown, replaced or expired ticket,
// expired login) → 404.
func (q *QR) decideRefused(ctx context.Context, a *storage.Attempt, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return errNotFound()
	}
	if !errors.Is(err, storage.ErrConflict) {
		return oauth.StoreError(err)
	}
	l, err := q.cfg.Store.QRLoginByTicketHash(ctx, a.TicketHash)
	if err != nil {
		return notFoundOr(err)
	}
	if a.Bearer != nil {
		// The token's session is not known here; idp answers a refused
		// bearer first and asks again with the session (see idp).
		a.Session = l.ScanSession
	}
	t, g := rules.Check(l, a, nil)
	switch {
	case g == rules.NumberMatches && a.MatchNumber != 0:
		// Number matching (RFC 10027 §6.1.16-17): one wrong choice denies
		// the login for good and alerts its user.
		return q.wrongNumber(ctx, a)
	case g == rules.NumberMatches:
		return oauth.New(NumberRequired, "pick the number shown on the other screen (match_number)").WithStatus(http.StatusBadRequest)
	case g == rules.ChoiceAllowed:
		return oauth.New(oauth.InvalidRequest, "session_choice: this site does not let you choose").WithStatus(http.StatusBadRequest)
	case g == rules.SameUser:
		return oauth.New(oauth.Forbidden, "this ticket belongs to another account").WithStatus(http.StatusForbidden)
	case g == rules.SameSession:
		// The ticket is the scanning session's: the same account signed in
		// elsewhere (another phone, a stolen token) cannot replay it.
		return oauth.New(oauth.Forbidden, "this ticket belongs to another session").WithStatus(http.StatusForbidden)
	case t == nil && rules.Rank(l.Status) > rules.Rank(storage.StatusScanned) && rules.StatusAt(l, a.Now) != storage.StatusExpired:
		return oauth.New(oauth.QRAlreadyDecided, "this login was already decided").WithStatus(http.StatusConflict)
	}
	return errNotFound()
}
