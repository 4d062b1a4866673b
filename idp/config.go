package idp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/qrlogin/qrlogin/storage"
)

// Config configures the provider. Zero values mean the defaults given.
type Config struct {
	// Issuer is the OP's issuer URL (https, or http on a loopback host for
	// development). Required.
	Issuer string
	Store  storage.Store

	QRTTL        time.Duration // default 2m
	PollInterval time.Duration // default 1s
	TicketTTL    time.Duration // default 60s
	// SigningAlg signs the ID tokens of clients that registered no
	// algorithm (Client.IDTokenSignedResponseAlg): RS256 (default, OIDC's
	// own default), ES256 or EdDSA. Keys of every algorithm are published.
	SigningAlg string

	AccessTokenTTL  time.Duration // default 15m
	IDTokenTTL      time.Duration // default 1h
	RefreshTokenTTL time.Duration // default 30 days
	AuthRequestTTL  time.Duration // default 10m
	// KeyPublishDelay is how long a rotated key is published before it
	// signs; default 10m.
	KeyPublishDelay time.Duration
	// AuditRetention is how long QR audit events are kept; default 90 days.
	AuditRetention time.Duration
	// NotificationRetention is how long sign-in notifications (and with
	// them "this wasn't me") are kept; default 90 days.
	NotificationRetention time.Duration
	// SessionTTL is how long a browser stays signed in at the provider
	// after a password sign-in (the cookie's Max-Age and the stored
	// session's lifetime alike); default 12h. It is absolute: using the
	// session does not extend it, so auth_time and max_age stay honest.
	SessionTTL time.Duration
	// MaxSessionsPerUser caps a user's browser sessions; a sign-in beyond
	// it ends the user's oldest. Default 10.
	MaxSessionsPerUser int
	// ClientCacheTTL bounds how long a client (and its secret hash) is
	// cached per instance, sparing polls a database round trip; default
	// 5s. A deleted client or rotated secret takes effect within it.
	ClientCacheTTL time.Duration

	// RateLimit is the sustained requests per second allowed per address
	// (IPv6: per /64) on /authorize, /login, /qr/authorize for public
	// clients and new QR codes of login pages, and per phone account on
	// /qr/scan; default 20 with a burst of 40. Negative disables these
	// limits and the guess limits of /device (benchmarks); the password
	// lockout and the other bounds stay.
	RateLimit float64

	// ClientRateLimit is a confidential client's default quota at
	// /qr/authorize, in requests per second (burst twice that); a client's
	// own RateLimit, set by the admin, replaces it. Default 1000. A
	// negative RateLimit turns it off too.
	ClientRateLimit float64

	// MaxHeldPolls caps the long-polls this instance holds at once (the
	// token endpoint's and the login page's status requests); default
	// 10,000. Past it a long-poll is answered at once.
	MaxHeldPolls int
	// StatusHold is how long the hosted login page's status request is
	// held waiting for a change; default 25s, under the 30 s idle timeout
	// of common proxies. The token endpoint's wait stays capped at 30 s
	// unless StatusHold is longer.
	StatusHold time.Duration

	// PasswordAttempts is how many wrong passwords an account may take
	// before it is locked; default 5. PasswordLockout is the first lockout
	// (default 1m); each further wrong password doubles it, up to
	// PasswordLockoutMax (default 1h).
	PasswordAttempts   int
	PasswordLockout    time.Duration
	PasswordLockoutMax time.Duration
	// HashConcurrency bounds the argon2id checks (19 MiB each) running at
	// once; default twice the number of CPUs. Eight times as many may wait,
	// each at most HashWait (default 2s); beyond that a login is answered
	// 503 with Retry-After.
	HashConcurrency int
	HashWait        time.Duration

	// CryptoKey encrypts opaque access tokens and signs cookies; 32 bytes,
	// identical on every instance. When nil, the store's shared secret is
	// used (created on first start).
	CryptoKey []byte

	// TrustedProxies are the reverse proxies whose forwarding header is
	// believed (see clientip.go); empty: the peer of the connection is the
	// client, whatever headers say.
	TrustedProxies []netip.Prefix
	// ProxyHeader is the header the trusted proxies write:
	// HeaderXForwardedFor (default) or HeaderForwarded (RFC 7239).
	ProxyHeader string

	// GeoIP names an address's country for the proximity signal
	// (proximity.go); nil: networks are compared by address and prefix
	// only.
	GeoIP CountryLookup

	Logger *slog.Logger
	// TracerProvider makes the spans of HTTP requests, QR login steps and
	// store calls; default: none.
	TracerProvider trace.TracerProvider
	Now            func() time.Time
}

func (c *Config) setDefaults() error {
	if c.Store == nil {
		return errors.New("idp: Config.Store is required")
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("idp: issuer %q must be an absolute URL without query or fragment", c.Issuer)
	}
	// Plain http is accepted for development (a phone on the same network
	// reaches the machine's address); New logs a warning for it.
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("idp: issuer %q must use https", c.Issuer)
	}
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.QRTTL, 2*time.Minute)
	def(&c.PollInterval, time.Second)
	def(&c.StatusHold, 25*time.Second)
	def(&c.TicketTTL, 60*time.Second)
	def(&c.AccessTokenTTL, 15*time.Minute)
	def(&c.IDTokenTTL, time.Hour)
	def(&c.RefreshTokenTTL, 30*24*time.Hour)
	def(&c.AuthRequestTTL, 10*time.Minute)
	def(&c.KeyPublishDelay, 10*time.Minute)
	def(&c.ClientCacheTTL, 5*time.Second)
	def(&c.AuditRetention, 90*24*time.Hour)
	def(&c.NotificationRetention, 90*24*time.Hour)
	if c.AuditRetention < 0 || c.NotificationRetention < 0 {
		return errors.New("idp: retention periods must be positive")
	}
	def(&c.SessionTTL, 12*time.Hour)
	if c.MaxSessionsPerUser <= 0 {
		c.MaxSessionsPerUser = 10
	}
	if c.SigningAlg == "" {
		c.SigningAlg = "RS256"
	}
	if c.RateLimit == 0 {
		c.RateLimit = 20
	}
	if c.ClientRateLimit <= 0 {
		c.ClientRateLimit = 1000
	}
	if c.PasswordAttempts <= 0 {
		c.PasswordAttempts = 5
	}
	def(&c.PasswordLockout, time.Minute)
	def(&c.PasswordLockoutMax, time.Hour)
	if c.HashConcurrency <= 0 {
		c.HashConcurrency = 2 * runtime.GOMAXPROCS(0)
	}
	def(&c.HashWait, 2*time.Second)
	switch http.CanonicalHeaderKey(c.ProxyHeader) {
	case "":
		c.ProxyHeader = HeaderXForwardedFor
	case HeaderXForwardedFor, HeaderForwarded:
		c.ProxyHeader = http.CanonicalHeaderKey(c.ProxyHeader)
	default:
		return fmt.Errorf("idp: proxy header %q must be %s or %s", c.ProxyHeader, HeaderXForwardedFor, HeaderForwarded)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.TracerProvider == nil {
		c.TracerProvider = noop.NewTracerProvider()
	}
	if c.CryptoKey != nil && len(c.CryptoKey) != 32 {
		return errors.New("idp: CryptoKey must be 32 bytes")
	}
	return nil
}

// insecure reports whether the issuer is plain http (development only).
func (c *Config) insecure() bool { return strings.HasPrefix(c.Issuer, "http://") }

// LoopbackHost reports whether a URL's host (without port or brackets)
// names this machine only: localhost or a loopback address.
func LoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}
