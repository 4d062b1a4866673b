package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	demosite "github.com/qrlogin/qrlogin/cmd/qrlogin/demo"
	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/idp/admin"
	"github.com/qrlogin/qrlogin/idp/password"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/memory"
)

// serveConfig is what serve's flags and QRLOGIN_* variables set.
type serveConfig struct {
	addr, issuer, adminAddr  string
	config                   string
	databaseURL              string
	databasePassword         string
	dbStatementTimeout       time.Duration
	qrTTL, pollInterval      time.Duration
	ticketTTL                time.Duration
	signingAlg               string
	adminClientID            string
	adminClientSecret        string
	keyEncryptionKey         string
	logLevel, logFormat      string
	limits                   *limitConfig
	net                      *netConfig
	demo, noDemo             bool
	pprof                    bool
	keyPublishDelay          time.Duration
	accessTokenTTL, idTokTTL time.Duration
	refreshTokenTTL          time.Duration
	shutdownDelay            time.Duration
	shutdownGrace            time.Duration
	auditRetention           time.Duration
	notificationRetention    time.Duration
	sessionTTL               time.Duration
	maxSessions              int
	geoipDB                  string
	gcHeapFloorMiB           int
}

// Demo data seeded by --demo. Fixed values so the README's walk-through
// can be pasted as written: known to everyone, hence only ever seeded for
// an issuer on this machine or a private network (demoIssuer).
const (
	demoSiteID     = "demo-site"
	demoSiteSecret = "demo-site-secret"
	phoneAppID     = "qrphone"
	demoUser       = "demo"
	demoPassword   = "demo-password"
)

func serveFlagSet(stderr io.Writer) (*flag.FlagSet, *serveConfig) {
	c := &serveConfig{}
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&c.config, "config", "", "TOML file of settings, keys named like the flags; environment and flags override it")
	fs.StringVar(&c.addr, "addr", ":8080", "public listener address")
	fs.StringVar(&c.issuer, "issuer", "", "issuer URL (default http://localhost:<port>)")
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:8081", "admin listener address (keep it private)")
	fs.StringVar(&c.databaseURL, "database-url", "", "PostgreSQL URL; empty runs on the in-memory store")
	fs.StringVar(&c.databasePassword, "database-password", "", "password for --database-url (replaces the URL's); e.g. file:/run/secrets/db_password")
	fs.DurationVar(&c.dbStatementTimeout, "db-statement-timeout", 0,
		"bound on every SQL statement (PostgreSQL statement_timeout); past it the request answers 503. 0: the URL's statement_timeout, else 5s; negative: none")
	fs.DurationVar(&c.qrTTL, "qr-ttl", 2*time.Minute, "lifetime of a QR login")
	fs.DurationVar(&c.pollInterval, "poll-interval", time.Second, "minimum poll interval (RFC 8628 interval)")
	fs.DurationVar(&c.ticketTTL, "ticket-ttl", 60*time.Second, "lifetime of the phone's confirmation ticket")
	fs.StringVar(&c.signingAlg, "signing-alg", "RS256", "ID token signing algorithm of clients that registered none:\nRS256 (OIDC's default), ES256 or EdDSA; a client's own (clients create --id-token-alg) wins")
	fs.StringVar(&c.adminClientID, "admin-client-id", defaultAdminClientID, "bootstrap admin client id")
	fs.StringVar(&c.adminClientSecret, "admin-client-secret", "", "bootstrap admin client secret (generated and printed when empty)")
	fs.StringVar(&c.keyEncryptionKey, "key-encryption-key", "", "base64 32-byte key encrypting signing keys at rest (PostgreSQL)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error; debug adds QR login steps, store failures and User-Agents")
	fs.StringVar(&c.logFormat, "log-format", "text", "text (logfmt) or json (one object a line)")
	c.limits = limitFlags(fs)
	c.net = netFlags(fs)
	fs.BoolVar(&c.demo, "demo", false, "seed the demo site, phone app and user (known secrets: development only); "+
		"implied without --database-url when the issuer is loopback")
	fs.BoolVar(&c.noDemo, "no-demo", false, "same as --demo=false")
	fs.BoolVar(&c.pprof, "pprof", false, "serve Go's profiler at /debug/pprof/ on the admin listener")
	fs.DurationVar(&c.keyPublishDelay, "key-publish-delay", 10*time.Minute, "how long a rotated key is published before it signs")
	fs.DurationVar(&c.accessTokenTTL, "access-token-ttl", 15*time.Minute, "access token lifetime")
	fs.DurationVar(&c.idTokTTL, "id-token-ttl", time.Hour, "ID token lifetime")
	fs.DurationVar(&c.refreshTokenTTL, "refresh-token-ttl", 30*24*time.Hour, "refresh token lifetime")
	fs.DurationVar(&c.shutdownDelay, "shutdown-delay", 5*time.Second, "on SIGTERM, keep accepting this long with /ready at 503 so load balancers take the instance out")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 20*time.Second, "then wait this long for in-flight requests before closing them")
	fs.DurationVar(&c.auditRetention, "audit-retention", 90*24*time.Hour, "how long QR audit events are kept")
	fs.DurationVar(&c.notificationRetention, "notification-retention", 90*24*time.Hour, "how long sign-in notifications are kept")
	fs.DurationVar(&c.sessionTTL, "session-ttl", 12*time.Hour, "how long a password sign-in keeps the browser signed in at the provider (single sign-on)")
	fs.IntVar(&c.maxSessions, "max-sessions-per-user", 10, "browser sessions kept per user; a sign-in beyond it ends the oldest")
	fs.StringVar(&c.geoipDB, "geoip-db", "", "MaxMind-format country database (.mmdb, e.g. GeoLite2-Country) for the proximity signal's "+
		"country comparison; empty: the PC's and the phone's networks are compared by address and prefix only")
	fs.IntVar(&c.gcHeapFloorMiB, "gc-heap-floor", defaultGCHeapFloorMiB, "MiB the heap may grow between garbage collections however small it is "+
		"(fewer collections of a small heap); 0, or GOGC set in the environment, leaves the collector to Go's defaults")
	return fs, c
}

func runServe(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs, c := serveFlagSet(stderr)
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if c.gcHeapFloorMiB < 0 {
		return fmt.Errorf("%w: --gc-heap-floor must be 0 or more", errUsage)
	}
	defer tuneGC(c.gcHeapFloorMiB, env("GOGC"))()
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level %q", errUsage, c.logLevel)
	}
	log, err := newLogger(stderr, level, c.logFormat)
	if err != nil {
		return err
	}
	// zitadel logs through slog's default logger: route registrations at
	// info, every client error at warn. Send it to stderr too, from warn;
	// its records of a request (logged with the request's context) carry
	// the request's id like ours.
	zlog, _ := newLogger(stderr, max(level, slog.LevelWarn), c.logFormat)
	slog.SetDefault(idp.LogWithRequestIDs(zlog))
	tracer, stopTracing, err := newTracing(ctx, env)
	if err != nil {
		return err
	}
	if stopTracing != nil {
		log.Info("tracing: exporting spans over OTLP/HTTP")
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := stopTracing(sctx); err != nil {
				log.Warn("tracing: flushing spans failed", "err", err)
			}
		}()
	}

	if err := c.net.parse(); err != nil {
		return err
	}
	var cert *certificate
	if c.net.tls() {
		var err error
		if cert, err = loadCertificate(c.net.tlsCert, c.net.tlsKey); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	issuer := c.issuer
	if issuer == "" {
		scheme := "http"
		if cert != nil {
			scheme = "https"
		}
		issuer = scheme + "://localhost:" + portOf(ln.Addr())
	}

	demo, implied, err := demoMode(c, explicit(fs), issuer)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, c, log)
	if err != nil {
		return err
	}
	defer store.Close()

	cfg := c.idpConfig(issuer, store)
	cfg.Logger, cfg.TracerProvider = log, tracer
	if c.geoipDB != "" {
		geo, err := idp.OpenGeoIP(c.geoipDB)
		if err != nil {
			return err
		}
		defer geo.Close()
		cfg.GeoIP = geo
		log.Info("proximity signal: countries from a GeoIP database", "path", c.geoipDB)
	}
	srv, err := idp.New(ctx, cfg)
	if err != nil {
		return err
	}

	adminSecret, generated := c.adminClientSecret, false
	if adminSecret == "" {
		adminSecret, generated = storage.NewSecret(32), true
	}
	adminHandler, err := admin.New(admin.Config{
		Store: store, AdminClientID: c.adminClientID, AdminSecretHash: storage.Hash(adminSecret),
		Keys: srv.Keys(), Users: srv.Users(), Metrics: srv.Metrics(), Logger: idp.LogWithRequestIDs(log),
	})
	if err != nil {
		return err
	}
	// The admin listener's answers and log lines carry request ids too.
	adminHandler = idp.RequestIDs(adminHandler)
	if c.pprof {
		adminHandler = withPprof(adminHandler)
	}
	adminLn, err := net.Listen("tcp", c.adminAddr)
	if err != nil {
		return err
	}
	defer adminLn.Close()

	var public http.Handler = srv
	if demo {
		if err := seedDemo(ctx, store, issuer); err != nil {
			return err
		}
		// The demo site reaches the provider over HTTP at the issuer, like
		// any relying party; it only shares the listener.
		site, err := demosite.New(demosite.Config{Issuer: issuer, ClientID: demoSiteID, ClientSecret: demoSiteSecret,
			BaseURL: issuer + "/demo", Logger: log})
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/demo", site)
		mux.Handle("/demo/", site)
		mux.Handle("/", srv)
		public = mux
	}
	b := banner{issuer: issuer, addr: ln.Addr(), adminAddr: adminLn.Addr(), adminID: c.adminClientID, config: c.config,
		demo: demo, demoImplied: implied, memory: c.databaseURL == ""}
	if generated {
		b.adminSecret = adminSecret
	}
	if cert != nil {
		leaf := cert.current.Load().Leaf
		b.tls = fmt.Sprintf("%s (%s, until %s; SIGHUP reloads)", c.net.tlsCert, leaf.Subject, leaf.NotAfter.Format(time.DateOnly))
	}
	b.print(stdout)

	// The public listener within its connection bounds, and timeouts that
	// bound what an idle or slow connection holds: headers within 5 s and
	// 64 KiB (the body cap), a keep-alive connection idle at most 60 s;
	// reads and writes leave room for a 30 s long-poll.
	limited := srv.LimitListener(ln, c.limits.listener(cert != nil))
	publicSrv := &http.Server{Handler: public, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 45 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: idp.MaxBody,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	private := &http.Server{Handler: adminHandler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 2)
	// SIGHUP reloads the certificate, if any; it never stops serve.
	reloadCtx, stopReload := context.WithCancel(context.Background())
	defer stopReload()
	cert.reloadOnSIGHUP(reloadCtx, log)
	if cert != nil {
		// ServeTLS, not Serve on a TLS listener: it also offers HTTP/2.
		publicSrv.TLSConfig = cert.tlsConfig()
		go func() { errc <- publicSrv.ServeTLS(limited, "", "") }()
	} else {
		go func() { errc <- publicSrv.Serve(limited) }()
	}
	go func() { errc <- private.Serve(adminLn) }()
	go cleanupLoop(ctx, srv, log)

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return drain(srv, log, c.shutdownDelay, c.shutdownGrace, publicSrv, private)
}

// drain is serve's graceful shutdown, started by SIGTERM or SIGINT:
//
//  1. at once: /ready answers 503, held long-polls are answered with their
//     current state (idp.Server.Drain), and connections are closed after
//     their next answer, so a client's next request goes through the load
//     balancer again, to another instance;
//  2. for delay the listeners keep accepting, so the requests a load
//     balancer sends before it sees /ready fail are still served;
//  3. then the listeners close and in-flight requests have grace to
//     finish; what is left after it is cut.
//
// A second signal ends the delay at once; a third cuts the grace too.
func drain(srv *idp.Server, log *slog.Logger, delay, grace time.Duration, servers ...*http.Server) error {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)

	log.Info("draining: /ready answers 503, held long-polls answered; a second signal ends the delay",
		"shutdown_delay", delay, "shutdown_grace", grace)
	srv.Drain()
	for _, s := range servers {
		s.SetKeepAlivesEnabled(false)
	}
	wait := time.NewTimer(delay)
	select {
	case <-wait.C:
	case <-signals:
		wait.Stop()
	}

	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	go func() {
		select {
		case <-signals:
			cancel()
		case <-ctx.Done():
		}
	}()
	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errs <- s.Shutdown(ctx) }()
	}
	var cut bool
	for range servers {
		if err := <-errs; err != nil {
			cut = true
		}
	}
	// Parked long-polls (answered at the drain) are on hijacked
	// connections, which Shutdown does not wait for.
	if srv.WaitParked(ctx) != nil {
		cut = true
	}
	if cut {
		log.Warn("shutdown grace over: closing the requests still in flight", "shutdown_grace", grace)
		for _, s := range servers {
			_ = s.Close()
		}
	}
	log.Info("stopped")
	return nil
}

// openStore picks the backend: an explicit switch, no registration magic.
func openStore(ctx context.Context, c *serveConfig, log *slog.Logger) (storage.Store, error) {
	switch {
	case c.databaseURL == "":
		log.Warn("no --database-url: running on the in-memory store; state is lost at exit")
		return memory.New(), nil
	default:
		dbURL, err := withPassword(c.databaseURL, c.databasePassword)
		if err != nil {
			return nil, err
		}
		return openPostgres(ctx, dbURL, c.keyEncryptionKey, c.dbStatementTimeout, log)
	}
}

func portOf(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	return port
}

// cleanupLoop removes expired rows every minute.
func cleanupLoop(ctx context.Context, srv *idp.Server, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := srv.Cleanup(ctx); err != nil {
				log.Warn("cleanup failed", "err", err)
			} else if n > 0 {
				log.Debug("cleanup", "deleted", n)
			}
		}
	}
}

// demoMode decides whether serve seeds the demo data. --demo (from any
// source) decides; unset, it is implied for the README's first command:
// no database and an issuer on this machine. Demo data is refused for any
// other issuer than loopback or a private-network address literal (the
// README's "real phone on the same network"): its secrets are public.
func demoMode(c *serveConfig, set map[string]bool, issuer string) (demo, implied bool, err error) {
	if c.demo && c.noDemo {
		return false, false, fmt.Errorf("%w: --demo and --no-demo contradict each other", errUsage)
	}
	demo = c.demo
	if !set["demo"] && !c.noDemo && c.databaseURL == "" && loopbackIssuer(issuer) {
		demo, implied = true, true
	}
	if demo && !demoIssuer(issuer) {
		return false, false, fmt.Errorf("%w: refusing to seed demo data (publicly known secrets, user demo/demo-password) "+
			"for issuer %s: --demo is for an issuer on this machine (localhost, 127.0.0.1, [::1]) or a private-network address", errUsage, issuer)
	}
	return demo, implied, nil
}

func loopbackIssuer(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && idp.LoopbackHost(u.Hostname())
}

// demoIssuer: loopback, or an address literal of a private network
// (RFC 1918, RFC 4193, link-local) — never a DNS name other than
// localhost, never a public address.
func demoIssuer(issuer string) bool {
	u, err := url.Parse(issuer)
	if err != nil {
		return false
	}
	if idp.LoopbackHost(u.Hostname()) {
		return true
	}
	a, err := netip.ParseAddr(u.Hostname())
	return err == nil && (a.Unmap().IsPrivate() || a.Unmap().IsLinkLocalUnicast())
}

// explicit is the set of flags given on the command line or through the
// environment (or a config file): parseFlags sets those with fs.Set.
func explicit(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// seedDemo creates the demo relying party, the phone app and a user.
func seedDemo(ctx context.Context, store storage.Store, issuer string) error {
	now := time.Now().UTC()
	hash, err := password.Hash(demoPassword)
	if err != nil {
		return err
	}
	all := []string{"authorization_code", "refresh_token", idp.GrantDeviceCode, idp.GrantQR}
	for _, c := range []*storage.Client{
		{ID: demoSiteID, Name: "qrlogin demo site", SecretHash: storage.Hash(demoSiteSecret), Type: storage.ClientConfidential,
			RedirectURIs: []string{issuer + "/demo/callback"}, GrantTypes: all, AccessTokenType: "opaque",
			ClientURI: issuer + "/demo", CreatedAt: now},
		{ID: phoneAppID, Name: "qrlogin phone app", Type: storage.ClientPublic, FirstParty: true,
			RedirectURIs: []string{"http://127.0.0.1/callback"}, GrantTypes: []string{"authorization_code", "refresh_token"},
			AccessTokenType: "opaque", CreatedAt: now},
	} {
		if err := store.CreateClient(ctx, c); err != nil && !errors.Is(err, storage.ErrConflict) {
			return err
		}
	}
	u := &storage.User{ID: storage.NewSecret(12), Username: demoUser, PasswordHash: hash, Name: "Demo User",
		Email: "demo@example.com", EmailVerified: true, CreatedAt: now}
	if err := store.CreateUser(ctx, u); err != nil && !errors.Is(err, storage.ErrConflict) {
		return err
	}
	return nil
}

// banner is what serve prints once it listens.
type banner struct {
	issuer          string
	config          string
	addr, adminAddr net.Addr
	adminID         string
	adminSecret     string // only when generated
	tls             string
	demo            bool
	demoImplied     bool // not asked for: no database, loopback issuer
	memory          bool
}

func (bn banner) print(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "qrlogin %s\n", version)
	fmt.Fprintf(&b, "  issuer:          %s\n", bn.issuer)
	if bn.config != "" {
		path := bn.config
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		fmt.Fprintf(&b, "  config:          %s\n", path)
	}
	fmt.Fprintf(&b, "  listening on:    %s (public), %s (admin)\n", bn.addr, bn.adminAddr)
	if bn.tls != "" {
		fmt.Fprintf(&b, "  tls:             %s\n", bn.tls)
	}
	fmt.Fprintf(&b, "  admin client:    %s\n", bn.adminID)
	if bn.adminSecret != "" {
		fmt.Fprintf(&b, "  admin secret:    %s   (generated; set QRLOGIN_ADMIN_CLIENT_SECRET to keep one)\n", bn.adminSecret)
	}
	if bn.demo {
		where := "in the database"
		if bn.memory {
			where = "in memory only"
		}
		fmt.Fprintf(&b, "\nDemo data (%s; known secrets, for development only):\n", where)
		if bn.demoImplied {
			fmt.Fprintf(&b, "  implied:         no --database-url and a loopback issuer imply --demo (--demo=false turns it off)\n")
		}
		fmt.Fprintf(&b, "  demo site:       client_id=%s client_secret=%s\n", demoSiteID, demoSiteSecret)
		fmt.Fprintf(&b, "  phone app:       client_id=%s (public, first party, redirect http://127.0.0.1/callback)\n", phoneAppID)
		fmt.Fprintf(&b, "  user:            username=%s password=%s\n", demoUser, demoPassword)
		fmt.Fprintf(&b, "  demo site:       %s/demo\n", bn.issuer)
	}
	fmt.Fprint(w, b.String())
}

// withPprof adds Go's profiler under /debug/pprof/ to the admin listener,
// for profiling a server under load (qrlogin bench). Off by default.
func withPprof(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", next)
	return mux
}

// newLogger makes serve's logger: text (logfmt, for people) or json (one
// object a line, for a log pipeline), both with slog's stable keys (time,
// level, msg) and qrlogin's snake_case fields.
func newLogger(w io.Writer, level slog.Level, format string) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want text or json", errUsage, format)
}

// idpConfig is the server's configuration as serve's flags set it.
func (c *serveConfig) idpConfig(issuer string, store storage.Store) idp.Config {
	cfg := idp.Config{
		Issuer: issuer, Store: store, QRTTL: c.qrTTL, PollInterval: c.pollInterval, TicketTTL: c.ticketTTL,
		SigningAlg: c.signingAlg, KeyPublishDelay: c.keyPublishDelay, AccessTokenTTL: c.accessTokenTTL,
		IDTokenTTL: c.idTokTTL, RefreshTokenTTL: c.refreshTokenTTL,
		AuditRetention: c.auditRetention, NotificationRetention: c.notificationRetention,
		SessionTTL: c.sessionTTL, MaxSessionsPerUser: c.maxSessions,
	}
	c.limits.apply(&cfg)
	c.net.apply(&cfg)
	return cfg
}
