package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap them (fmt.Errorf("...: %w", ErrNotFound));
// callers compare with errors.Is.
var (
	// ErrNotFound: no row matches, or the row exists but is revoked or
	// expired where the method says so.
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict: a unique value already exists, or a conditional update's
	// precondition no longer holds (someone else changed the row first).
	ErrConflict = errors.New("storage: conflict")
	// ErrUnavailable: the backend cannot be reached right now. The HTTP
	// layer answers 503; the request changed nothing.
	ErrUnavailable = errors.New("storage: unavailable")
)

// Store is the whole contract a backend implements.
//
// Rules every backend keeps (storagetest checks them):
//   - every method is safe for concurrent use, also across instances
//     sharing one database;
//   - every update is atomic and conditional: it applies entirely or not
//     at all, and only when its documented precondition holds at that
//     instant; otherwise ErrConflict and nothing changed;
//   - times round-trip in UTC, truncated to the microsecond;
//   - returned values are copies: mutating them changes nothing stored;
//   - nil and empty slices are equivalent.
type Store interface {
	ClientStore
	UserStore
	QRLoginStore
	AuthRequestStore
	TokenStore
	KeyStore
	AdminTokenStore
	NotificationStore
	BrowserSessionStore
	DPoPProofStore

	// Secret returns the shared secret called name, creating it with
	// generate() if it does not exist yet. Every instance sharing the
	// backend gets the same bytes (cookie keys, token encryption key).
	Secret(ctx context.Context, name string, generate func() []byte) ([]byte, error)
	// DeleteExpired removes at most limit rows of each kind whose lifetime
	// ended before 'before', and reports how many it removed. A QR login
	// removed before reaching a final state leaves an "expired" event
	// (At = its ExpiresAt) in the audit trail, in the same operation. Audit
	// events outlive their login; DeleteAuditEvents ends them.
	DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error)
	// DeleteAuditEvents removes at most limit audit events older than
	// before (the retention period) and reports how many it removed.
	DeleteAuditEvents(ctx context.Context, before time.Time, limit int) (int, error)
	// DeleteNotifications removes at most limit sign-in notifications
	// created before 'before' (their retention period) and reports how
	// many it removed.
	DeleteNotifications(ctx context.Context, before time.Time, limit int) (int, error)
	// Ping reports whether the backend is reachable.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close()
}

// ClientType is an OAuth 2.0 client type (RFC 6749 §2.1).
type ClientType string

const (
	ClientConfidential ClientType = "confidential"
	ClientPublic       ClientType = "public"
)

// Client is a registered relying party or the first-party phone app.
type Client struct {
	ID   string
	Name string
	// SecretHash is Hash(secret) for confidential clients, nil for public
	// ones. The secret itself is shown once, at creation or rotation.
	SecretHash             []byte
	Type                   ClientType
	FirstParty             bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	LogoURI                string
	ClientURI              string
	// AccessTokenType is "jwt" or "opaque".
	AccessTokenType string
	// IDTokenSignedResponseAlg is the JWS algorithm of the client's ID
	// tokens (OIDC Dynamic Client Registration §2): RS256, ES256 or EdDSA;
	// "" means the server's default (RS256 unless serve --signing-alg
	// says otherwise; OIDC's default is RS256).
	IDTokenSignedResponseAlg string
	// RateLimit is a confidential client's quota at /qr/authorize, in
	// requests per second (burst twice that); 0 means the server's
	// default. Public clients are limited per address instead.
	RateLimit float64
	CreatedAt time.Time
	// AllowedOrigins are the web origins ("https://app.example", no path)
	// whose scripts may call the provider's browser endpoints (CORS).
	AllowedOrigins []string

	// The client's defences against QR relay (README "Defences against QR
	// relay"); zero values are the defaults. A QR login copies them when
	// it starts (QRLogin).
	//
	// QRNumberMatching: once the QR is scanned, the PC shows a two-digit
	// number and the phone must pick it among three.
	QRNumberMatching bool
	// QRSession is what the phone's confirm screen offers for the tokens:
	// QRSessionKeep ("" too), QRSessionThisSession, QRSessionAsk or
	// QRSessionAskThisSession.
	QRSession string
	// QRSecondScan is what a scan by another account of an already
	// scanned QR does: QRSecondScanAlarm ("" too) or QRSecondScanRefuse.
	QRSecondScan string
	// ProximityPolicy is what the proximity signal does for the client's
	// QR logins (RFC 10027 §6.1.1; idp/proximity.go): off, warn or
	// require; "" means warn (ProximityPolicyOf).
	ProximityPolicy string
	// DPoPBoundAccessTokens is RFC 9449 §5.2's client metadata: every
	// token request of the client must carry a DPoP proof, and every QR
	// login it starts must be bound to the PC's key (a proof or dpop_jkt
	// at /qr/authorize), so its device codes are worthless if copied.
	DPoPBoundAccessTokens bool
}

// Proximity policies (Client.ProximityPolicy).
const (
	ProximityOff     = "off"
	ProximityWarn    = "warn"
	ProximityRequire = "require"
)

// ProximityPolicyOf is c's policy, "" read as warn.
func ProximityPolicyOf(c *Client) string {
	if c.ProximityPolicy == "" {
		return ProximityWarn
	}
	return c.ProximityPolicy
}

// Values of Client.QRSession.
const (
	// QRSessionKeep: "keep me signed in", no choice (the default).
	QRSessionKeep = "keep"
	// QRSessionThisSession: "only this session", no choice.
	QRSessionThisSession = "this_session"
	// QRSessionAsk: the user chooses; "keep me signed in" preselected.
	QRSessionAsk = "ask"
	// QRSessionAskThisSession: the user chooses; "only this session"
	// preselected.
	QRSessionAskThisSession = "ask_this_session"
)

// Values of Client.QRSecondScan.
const (
	// QRSecondScanAlarm: the login is killed and its user alerted (the
	// default).
	QRSecondScanAlarm = "alarm"
	// QRSecondScanRefuse: the second scanner is refused and the login goes
	// on (a screen that anyone in a room may scan first).
	QRSecondScanRefuse = "refuse"
)

// SessionPolicy is what c's QRSession gives a QR login: its default
// session choice and whether the user may change it; ok is false for a
// value that is not one of QRSession's.
func (c *Client) SessionPolicy() (choice string, choosable, ok bool) {
	switch c.QRSession {
	case "", QRSessionKeep:
		return SessionKeep, false, true
	case QRSessionThisSession:
		return SessionThisSession, false, true
	case QRSessionAsk:
		return SessionKeep, true, true
	case QRSessionAskThisSession:
		return SessionThisSession, true, true
	}
	return SessionKeep, false, false
}

// SecondScanAlarm reports whether a second account's scan of c's QR
// logins kills them and alerts their user.
func (c *Client) SecondScanAlarm() bool { return c.QRSecondScan != QRSecondScanRefuse }

// ClientStore keeps clients.
type ClientStore interface {
	// CreateClient inserts c; ErrConflict if its ID exists.
	CreateClient(ctx context.Context, c *Client) error
	Client(ctx context.Context, id string) (*Client, error)
	// ListClients returns all clients ordered by CreatedAt, then ID.
	ListClients(ctx context.Context) ([]*Client, error)
	// DeleteClient removes the client; ErrNotFound if absent.
	DeleteClient(ctx context.Context, id string) error
	// SetClientSecretHash replaces the secret hash; ErrNotFound if absent.
	SetClientSecretHash(ctx context.Context, id string, hash []byte) error
	// SetClientQRDefences replaces the client's defences against QR relay
	// (QRNumberMatching, QRSession, QRSecondScan, as d has them; its other
	// fields are ignored); ErrNotFound if absent. QR logins already started
	// keep theirs.
	SetClientQRDefences(ctx context.Context, id string, d *Client) error
	// UpdateClient applies u to client id atomically and returns the
	// client as updated; ErrNotFound if absent.
	UpdateClient(ctx context.Context, id string, u ClientUpdate) (*Client, error)
}

// ClientUpdate changes what may change after registration; nil fields
// stay as they are.
type ClientUpdate struct {
	RateLimit                *float64 // Client.RateLimit
	IDTokenSignedResponseAlg *string  // Client.IDTokenSignedResponseAlg
	ProximityPolicy          *string  // Client.ProximityPolicy
	DPoPBoundAccessTokens    *bool    // Client.DPoPBoundAccessTokens
}

// User is an end user. ID is the subject (sub) of the user's tokens.
type User struct {
	ID            string
	Username      string
	PasswordHash  string // argon2id, PHC string format
	Name          string
	Email         string
	EmailVerified bool
	// Disabled users cannot sign in, use tokens or refresh them.
	Disabled  bool
	CreatedAt time.Time
}

// UserUpdate changes a user; nil fields stay as they are.
type UserUpdate struct {
	Name          *string
	Email         *string
	EmailVerified *bool
	PasswordHash  *string
	Disabled      *bool
	// SignOut, when set, ends the user's sign-ins in the same atomic
	// operation as the update (a password change, a disable).
	SignOut *SignOut
}

// SignOut ends everything a user is signed in with, except KeepSession:
//   - every access and refresh token of the user is revoked, and each of
//     their sessions (refresh families) stays revoked until Until, so
//     nothing of it is minted or refreshed later (as RevokeSession);
//   - so does the session of every authorization request the user
//     completed, so a code not yet exchanged yields no tokens;
//   - QR logins the user scanned or confirmed, unexpired and not yet
//     redeemed, become denied (their tickets void; audit event "voided",
//     subscribers woken), and their sessions are revoked likewise.
//
// Browser sessions are BrowserSessionStore's (DeleteUserSessions).
type SignOut struct {
	// KeepSession is spared: the phone session that changed its own
	// password. "" spares nothing.
	KeepSession string
	Now         time.Time
	Until       time.Time
}

// UserStore keeps users.
type UserStore interface {
	// CreateUser inserts u; ErrConflict if its ID or Username exists.
	CreateUser(ctx context.Context, u *User) error
	User(ctx context.Context, id string) (*User, error)
	UserByUsername(ctx context.Context, username string) (*User, error)
	// ListUsers returns all users ordered by CreatedAt, then ID.
	ListUsers(ctx context.Context) ([]*User, error)
	// UpdateUser applies u to user id atomically and returns the user as
	// updated; ErrNotFound if absent.
	UpdateUser(ctx context.Context, id string, u UserUpdate) (*User, error)
	DeleteUser(ctx context.Context, id string) error
}

// Status is where a QR login is in its life. The zero value is invalid.
// Which status follows which is package grants/rules' table.
type Status uint8

const (
	StatusInvalid Status = iota
	StatusPending
	StatusScanned
	StatusConfirmed
	StatusRedeemed
	StatusDenied
	StatusExpired
)

var statusNames = [...]string{"invalid", "pending", "scanned", "confirmed", "redeemed", "denied", "expired"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "invalid"
}

// ParseStatus is the inverse of String; unknown names give StatusInvalid.
func ParseStatus(name string) Status {
	for i, n := range statusNames {
		if n == name {
			return Status(i)
		}
	}
	return StatusInvalid
}

// Event is what happens to a QR login. Which event moves which status
// where, and under which conditions, is package grants/rules' table.
type Event uint8

const (
	EventInvalid Event = iota
	EventScan          // a signed-in phone scans the QR
	EventConfirm       // the user confirms on the phone
	EventDeny          // the user denies on the phone
	EventRedeem        // the PC receives the tokens (or the hosted page continues)
	EventVoid          // the user's sign-out denies it (SignOut)
	EventExpire        // expires_at passes (DeleteExpired records it)
	// EventMismatch is a confirmation carrying the wrong number (number
	// matching): it denies the login for good and alerts its user.
	EventMismatch
	// EventSecondScan is a scan by another account of a login already
	// scanned (or denied): it kills the login and alerts its user.
	EventSecondScan
)

var eventNames = [...]string{"invalid", "scan", "confirm", "deny", "redeem", "void", "expire", "mismatch", "second_scan"}

func (e Event) String() string {
	if int(e) < len(eventNames) {
		return eventNames[e]
	}
	return "invalid"
}

// QRLogin is one QR login: one row, one status. Secrets (qr_id,
// device_code, ticket) are kept only as SHA-256 hashes.
type QRLogin struct {
	// ID is the row's internal identifier: random, not secret, never in the
	// QR. Change notifications and audit events refer to it.
	ID             string
	QRIDHash       []byte
	DeviceCodeHash []byte
	// UserCode is the short code shown beside the QR and on the phone.
	// Unique among logins that have not expired.
	UserCode string
	ClientID string
	Scopes   []string
	Nonce    string
	// AuthRequestID is set when the login belongs to an authorization
	// request shown on the hosted login page (SPEC §2.5); such a login has
	// no usable device code.
	AuthRequestID string
	// DPoPJKT is the thumbprint of the DPoP key the PC started the login
	// with (a proof or dpop_jkt at /qr/authorize): only a token request
	// with a proof of that key redeems it (RFC 9449 §10's rule for
	// codes). Empty: not bound.
	DPoPJKT string

	RequesterIP        string
	RequesterUserAgent string
	// RequesterReported: the requester fields were reported by the client
	// rather than observed by the server.
	RequesterReported bool

	// The client's defences against QR relay (README "Defences against QR
	// relay"), copied when the login starts: a login keeps the rules it
	// began with, and the store applies them without reading the client.
	//
	// MatchNumber, when not 0, is the two-digit number the PC shows once
	// the QR is scanned (never before); a confirmation must carry it, and
	// one carrying another number denies the login (EventMismatch).
	// MatchChoices are the three numbers the phone offers, MatchNumber
	// among them; empty without number matching.
	MatchNumber  int
	MatchChoices []int
	// SecondScanAlarm: a scan by another account of the login once it was
	// scanned kills it and alerts its user (EventSecondScan).
	SecondScanAlarm bool
	// SessionChoice is what the login's tokens are for: SessionKeep or
	// SessionThisSession. It starts as the client's default and a
	// confirmation records the user's choice, which it may change only
	// when SessionChoosable.
	SessionChoice    string
	SessionChoosable bool

	// Status is the stored status; rules.StatusAt gives the effective one.
	Status Status
	// Subject is the user who scanned; set once, never switched.
	Subject string
	// ScanSession is the session that scanned: the phone app's session (the
	// SessionID of its tokens, which a refresh keeps) or the phone
	// browser's session. The ticket is bound to it: another session of the
	// same user cannot decide with it. A rescan by the same user moves it.
	ScanSession     string
	TicketHash      []byte
	TicketExpiresAt time.Time

	CreatedAt  time.Time
	ExpiresAt  time.Time
	ScannedAt  time.Time
	DecidedAt  time.Time // confirmation (auth_time), denial or voiding
	RedeemedAt time.Time

	// Interval is the minimum poll interval the login was started with
	// (RFC 8628 §3.2). slow_down raises it per instance, in memory (grants).
	Interval time.Duration
}

// What a QR login's tokens are for, as the user chose on the confirm
// screen (QRLogin.SessionChoice).
const (
	// SessionKeep: "keep me signed in": a refresh token when the login
	// was granted offline_access, and the usual access token lifetime.
	SessionKeep = "keep"
	// SessionThisSession: "only this session": no refresh token and a
	// short access token.
	SessionThisSession = "this_session"
)

// ValidSessionChoice reports whether c is a session choice.
func ValidSessionChoice(c string) bool { return c == SessionKeep || c == SessionThisSession }

// Attempt is one event applied to a QR login (QRLoginStore.ApplyQR). It
// applies only when package grants/rules' table has a transition from the
// login's stored status on Event whose guards all hold; which fields a
// guard or a record reads is said there.
type Attempt struct {
	Event Event
	// The login: by ID; for a scan, by QRIDHash instead; for a decision
	// (confirm, deny), by TicketHash, the ticket presented, which must also
	// be the login's current one. Exactly one is set.
	ID         string
	QRIDHash   []byte
	TicketHash []byte

	// Bearer, when set, authenticates the attempt with a phone app's
	// access token in the same atomic operation: the token must exist,
	// not be revoked, be unexpired at Now, belong to Subject, carry
	// Bearer.Scope, have been issued to a first-party client and not be
	// DPoP-bound (a bound token is no bearer token, RFC 9449 §7.2). The
	// attempt's session is then the token's SessionID (Session is
	// ignored). A refused bearer refuses the attempt.
	Bearer *Bearer
	// Subject is who attempts it: the scanning or deciding user, or for a
	// void the user signed out.
	Subject string
	// Session is the session attempting a scan or a decision (see
	// QRLogin.ScanSession) when there is no Bearer.
	Session string
	// KeepSession (void only): the session a sign-out spares.
	KeepSession string
	// MatchNumber (confirm, mismatch): the number the user chose on the
	// phone (number matching); 0 when none was sent.
	MatchNumber int
	// SessionChoice (confirm): the user's choice, SessionKeep or
	// SessionThisSession; "" keeps the login's default.
	SessionChoice string

	// A scan's new ticket; the login's old one becomes void.
	NewTicketHash   []byte
	TicketExpiresAt time.Time
	// NotificationID, when set, records the notification the transition
	// calls for (grants/rules: Transition.Notify) with that ID, in the same
	// atomic operation: Subject the login's (after the step), ClientID the
	// login's and ClientName the client's name (its ID if the client is
	// gone), the login's requester fields, CreatedAt Now. A sign-in
	// (confirm) also has SessionID, the session its tokens will belong to
	// (the authorization request's for a login of the hosted page, else the
	// login's ID), and SessionChoice, the login's after the step; an alarm
	// (mismatch, second scan) has neither: nothing was signed in.
	NotificationID string
	// Tokens (redeem only), when set, are inserted in the same atomic
	// operation, only if the redeem applies.
	Tokens *Tokens

	IP string // for the audit trail
	// AuditDetail is recorded with the audit event (AuditEvent.Detail).
	AuditDetail string
	Now         time.Time
}

// Bearer is a phone app access token presented with an attempt.
type Bearer struct {
	TokenID string
	Scope   string
}

// Tokens are what a redeem mints. Everything else about them comes from
// the login, as Tokens.For says: a backend inserts exactly those rows.
type Tokens struct {
	AccessID        string
	AccessExpiresAt time.Time
	// RefreshID is empty when no refresh token is issued.
	RefreshID        string
	RefreshHash      []byte
	RefreshExpiresAt time.Time
	AMR              []string
	// ThisSessionAccessExpiresAt is the access token's expiry when the
	// user chose "only this session" (QRLogin.SessionChoice): the redeem
	// learns the choice only from the row it updates.
	ThisSessionAccessExpiresAt time.Time
	// JKT is the DPoP key both tokens are bound to (the redeeming
	// request's proof's, RFC 9449 §5); empty for bearer tokens.
	JKT string
}

// For returns the token rows t stands for, minted at now for login l: the
// login's client (the only audience), subject and scopes; its ID as the
// session ("this wasn't me" revokes it); its confirmation as auth time;
// t's DPoP key as their binding. refresh is nil without a RefreshID. When the user chose "only this
// session" there is no refresh token, the access token expires at
// ThisSessionAccessExpiresAt, and its scopes lack offline_access.
func (t *Tokens) For(l *QRLogin, now time.Time) (access *AccessToken, refresh *RefreshToken) {
	aud := []string{l.ClientID}
	access = &AccessToken{ID: t.AccessID, ClientID: l.ClientID, Subject: l.Subject, Audience: aud,
		Scopes: l.Scopes, SessionID: l.ID, RefreshTokenID: t.RefreshID, JKT: t.JKT, CreatedAt: now, ExpiresAt: t.AccessExpiresAt}
	if l.SessionChoice == SessionThisSession {
		access.Scopes = WithoutOfflineAccess(l.Scopes)
		access.RefreshTokenID, access.ExpiresAt = "", t.ThisSessionAccessExpiresAt
		return access, nil
	}
	if t.RefreshID != "" {
		refresh = &RefreshToken{ID: t.RefreshID, TokenHash: t.RefreshHash, SessionID: l.ID, ClientID: l.ClientID,
			Subject: l.Subject, Audience: aud, Scopes: l.Scopes, AMR: t.AMR, AuthTime: l.DecidedAt, JKT: t.JKT,
			CreatedAt: now, ExpiresAt: t.RefreshExpiresAt}
	}
	return access, refresh
}

// WithoutOfflineAccess returns scopes less offline_access (OIDC Core
// §11): what a login for "only this session" grants.
func WithoutOfflineAccess(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if s != "offline_access" {
			out = append(out, s)
		}
	}
	return out
}

// Applied is an attempt that applied.
type Applied struct {
	Login *QRLogin // as it is now
	From  Status   // its stored status before
	// User is the subject, for a redeem (the ID token's claims).
	User *User
}

// QRChange is a committed change of a QR login, as subscribers hear it.
// ID "" means that changes may have been missed (a reconnect): every
// login may have changed. Status is the new stored status, or
// StatusInvalid when the notifier did not say (read the login).
type QRChange struct {
	ID     string
	Status Status
}

// AuditEvent is one entry of a QR login's audit trail.
type AuditEvent struct {
	QRLoginID string
	// Event is created, or a transition's audit event (grants/rules):
	// scanned, confirmed, denied, redeemed, voided (denied by a sign-out:
	// see SignOut), wrong_number (denied by a wrong number), second_scan
	// (killed, or alarmed after a denial, by another account's scan) or
	// expired.
	Event    string
	ClientID string
	Subject  string
	IP       string
	At       time.Time
	// Detail is what the attempt recorded with the event
	// (Attempt.AuditDetail): for a decision, the proximity signal.
	Detail string
}

// QRLoginStore keeps QR logins. Each transition appends its audit event in
// the same atomic operation and is announced to the subscribers of every
// instance sharing the backend.
type QRLoginStore interface {
	// CreateQRLogin inserts l (audit: created, with RequesterIP and no
	// subject); ErrConflict if a hash collides, or if the user code is held
	// by a login still unexpired at l.CreatedAt.
	CreateQRLogin(ctx context.Context, l *QRLogin) error
	QRLogin(ctx context.Context, id string) (*QRLogin, error)
	QRLoginByQRIDHash(ctx context.Context, hash []byte) (*QRLogin, error)
	// QRLoginByDeviceCode finds the login with that device code hash.
	QRLoginByDeviceCode(ctx context.Context, hash []byte) (*QRLogin, error)
	// QRLoginByTicketHash finds the login holding that ticket, also after
	// the ticket was spent by a decision (so a second confirm can be told
	// qr_already_decided); a ticket replaced by a rescan is not found.
	QRLoginByTicketHash(ctx context.Context, hash []byte) (*QRLogin, error)
	// QRLoginByUserCode finds the unexpired login (at now) with that code.
	QRLoginByUserCode(ctx context.Context, code string, now time.Time) (*QRLogin, error)
	// QRLoginByAuthRequest finds the newest login made for that
	// authorization request.
	QRLoginByAuthRequest(ctx context.Context, authRequestID string) (*QRLogin, error)

	// ApplyQR applies a scan, confirmation, denial or redeem (see Attempt)
	// atomically: the transition of grants/rules' table, what it records,
	// its audit event and its announcement. ErrNotFound when no login has
	// the key; ErrConflict when the table refuses the attempt or its bearer
	// is refused. Nothing changed then.
	ApplyQR(ctx context.Context, a *Attempt) (*Applied, error)

	// SubscribeQRLogins calls fn with every committed change of any QR
	// login, made on any instance sharing the backend, and with ID "" when
	// changes may have been missed. fn runs on the notifier's goroutine and
	// must not block. cancel ends the subscription; it may be called twice.
	SubscribeQRLogins(fn func(QRChange)) (cancel func())

	// QRAuditEvents lists the login's audit trail, oldest first.
	QRAuditEvents(ctx context.Context, qrLoginID string) ([]AuditEvent, error)
}

// AuthRequest is an OpenID Connect authorization request (code flow).
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	State               string
	Nonce               string
	Scopes              []string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	LoginHint           string
	MaxAge              *uint
	// Filled by CompleteAuthRequest.
	Subject  string
	AuthTime time.Time
	AMR      []string
	Done     bool
	// SessionChoice is the session choice of the QR login that completed
	// it (QRLogin.SessionChoice): SessionThisSession, or "" (keep).
	SessionChoice string
	// SessionID groups the tokens this request leads to.
	SessionID string
	CodeHash  []byte
	// DPoPJKT is the request's dpop_jkt (RFC 9449 §10): its code is
	// exchanged only with a DPoP proof of that key. Empty: not bound.
	DPoPJKT   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuthRequestStore keeps authorization requests and their codes.
type AuthRequestStore interface {
	CreateAuthRequest(ctx context.Context, a *AuthRequest) error
	// AuthRequest returns the unexpired request; ErrNotFound otherwise.
	AuthRequest(ctx context.Context, id string, now time.Time) (*AuthRequest, error)
	// CompleteAuthRequest records the authenticated user once, with the
	// session choice of a QR login ("" otherwise); a second call gets
	// ErrConflict.
	CompleteAuthRequest(ctx context.Context, id, subject string, authTime time.Time, amr []string, sessionChoice string) error
	// SaveAuthCode attaches the code's hash; ErrConflict if a code is
	// already attached.
	SaveAuthCode(ctx context.Context, id string, codeHash []byte) error
	// ConsumeAuthCode returns the unexpired request holding that code and
	// detaches the code in the same atomic operation: a code is usable
	// once (RFC 6749 §4.1.2). The code is remembered as spent, with the
	// request's SessionID (the tokens issued from it), until the request's
	// ExpiresAt, also after DeleteAuthRequest. A spent code presented
	// again gets ErrConflict and, in the same atomic operation, revokes
	// that session as RevokeSession(SessionID, revokeUntil) does: RFC 6749
	// §4.1.2 wants the tokens issued from a replayed code revoked, and
	// tokens being minted from it meanwhile are then refused. Any other
	// code: ErrNotFound.
	ConsumeAuthCode(ctx context.Context, codeHash []byte, now, revokeUntil time.Time) (*AuthRequest, error)
	DeleteAuthRequest(ctx context.Context, id string) error
}

// AccessToken is an issued access token, by ID (the opaque token encrypts
// the ID, a JWT carries it as jti).
type AccessToken struct {
	ID       string
	ClientID string
	Subject  string
	Audience []string
	Scopes   []string
	// SessionID groups all tokens that stem from one login (one QR login
	// or one authorization request): revoking a session, or reuse of a
	// rotated refresh token, revokes them all.
	SessionID      string
	RefreshTokenID string
	// JKT is the thumbprint of the DPoP key the token is bound to (RFC
	// 9449 §6): it is presented only with a proof of that key. Empty: a
	// bearer token.
	JKT       string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RefreshToken is one link of a rotating refresh token chain. All links of
// one chain share SessionID (the family).
type RefreshToken struct {
	ID        string
	TokenHash []byte
	SessionID string
	ClientID  string
	Subject   string
	Audience  []string
	Scopes    []string
	AMR       []string
	AuthTime  time.Time
	// JKT is the thumbprint of the DPoP key of the request that made the
	// token (RFC 9449 §5); empty when it came without a proof.
	JKT       string
	CreatedAt time.Time
	ExpiresAt time.Time
	// RotatedAt is set when the token was exchanged for its successor.
	RotatedAt time.Time
	Revoked   bool
}

// TokenStore keeps access and refresh tokens.
type TokenStore interface {
	// CreateAccessToken inserts t; ErrConflict if its session was revoked
	// (see RevokeSession).
	CreateAccessToken(ctx context.Context, t *AccessToken) error
	// AccessToken returns the token if it exists, is not revoked and is
	// unexpired at now; ErrNotFound otherwise.
	AccessToken(ctx context.Context, id string, now time.Time) (*AccessToken, error)
	RevokeAccessToken(ctx context.Context, id string) error

	// CreateRefreshToken inserts t; ErrConflict if its session was revoked.
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// RefreshTokenByHash returns the token whatever its state (rotated,
	// revoked, expired), so the caller can detect reuse.
	RefreshTokenByHash(ctx context.Context, hash []byte) (*RefreshToken, error)
	// RotateRefreshToken marks the token with oldHash rotated and inserts
	// next, atomically, only if the old one is unrotated, unrevoked and
	// unexpired at now; ErrConflict otherwise.
	RotateRefreshToken(ctx context.Context, oldHash []byte, next *RefreshToken, now time.Time) error
	// RevokeRefreshToken revokes one refresh token and the access tokens
	// issued with it.
	RevokeRefreshToken(ctx context.Context, id string) error
	// RevokeSession revokes every access and refresh token of the session
	// (RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the
	// whole family) and keeps the session revoked until 'until': tokens for
	// it created later are refused with ErrConflict, so a login confirmed
	// but not yet redeemed, or a code not yet exchanged, yields nothing
	// after "this wasn't me".
	RevokeSession(ctx context.Context, sessionID string, until time.Time) error
	// RevokeUserClientSessions revokes every token of subject issued to
	// clientID (end_session).
	RevokeUserClientSessions(ctx context.Context, subject, clientID string) error
}

// SigningKey is a key the OP signs tokens with. The backend encrypts
// PrivateKey at rest where it persists it.
type SigningKey struct {
	ID        string
	Algorithm string // RS256, ES256
	// PrivateKey is PKCS #8 DER.
	PrivateKey []byte
	CreatedAt  time.Time
	// NotBefore is when the key starts signing. Keys are published in
	// /keys from creation, so a key is visible before it signs.
	NotBefore time.Time
}

// KeyStore keeps signing keys.
type KeyStore interface {
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// SigningKeys returns all keys, oldest first.
	SigningKeys(ctx context.Context) ([]*SigningKey, error)
	DeleteSigningKey(ctx context.Context, id string) error
}

// AdminToken is an admin listener access token, kept by hash.
type AdminToken struct {
	AccessHash []byte
	ClientID   string
	Scope      string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// AdminTokenStore keeps admin tokens.
type AdminTokenStore interface {
	CreateAdminToken(ctx context.Context, t *AdminToken) error
	// AdminToken returns the unexpired token; ErrNotFound otherwise.
	AdminToken(ctx context.Context, accessHash []byte, now time.Time) (*AdminToken, error)
	DeleteAdminToken(ctx context.Context, accessHash []byte) error
}

// Notification tells a user that their account signed in somewhere, or
// that wrong passwords locked it.
type Notification struct {
	ID      string
	Subject string
	// Kind is NotificationSignIn (also when empty) or
	// NotificationPasswordLockout; a lockout names no client or session,
	// only the requester of the last wrong password.
	Kind               string
	ClientID           string
	ClientName         string
	RequesterIP        string
	RequesterUserAgent string
	ReportedByClient   bool
	// SessionID is the session the sign-in created ("this wasn't me"
	// revokes it).
	SessionID string
	// SessionChoice is what a QR sign-in's tokens are for (SessionKeep or
	// SessionThisSession); "" for other kinds and sign-ins without one.
	SessionChoice string
	CreatedAt     time.Time
}

// Kinds of notification.
const (
	NotificationSignIn          = "sign_in"
	NotificationPasswordLockout = "password_lockout"
	// NotificationWrongNumber: a wrong number was chosen on the phone for
	// a QR sign-in of the user (number matching), which is denied.
	NotificationWrongNumber = "qr_wrong_number"
	// NotificationSecondScan: another account scanned the QR of a sign-in
	// the user had scanned (or denied); it is cancelled.
	NotificationSecondScan = "qr_second_scan"
)

// NotificationKind is kind as stored: NotificationSignIn when empty.
func NotificationKind(kind string) string {
	if kind == "" {
		return NotificationSignIn
	}
	return kind
}

// NotificationStore keeps sign-in notifications.
type NotificationStore interface {
	CreateNotification(ctx context.Context, n *Notification) error
	// Notifications lists the subject's notifications, newest first, at
	// most limit.
	Notifications(ctx context.Context, subject string, limit int) ([]*Notification, error)
	Notification(ctx context.Context, id string) (*Notification, error)
}

// DPoPProofStore spends DPoP proofs, so that a proof replayed within its
// acceptance window is refused on every instance (RFC 9449 §11.1).
type DPoPProofStore interface {
	// UseDPoPProof records the proof named by key (a hash of its key's
	// thumbprint and its jti) as spent until 'until'. ErrConflict if key
	// was recorded before and that record is unexpired at now: a replay.
	// Of concurrent calls with one key exactly one succeeds. DeleteExpired
	// removes records past their until.
	UseDPoPProof(ctx context.Context, key []byte, until, now time.Time) error
}
