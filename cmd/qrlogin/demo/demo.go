package demo

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/templates"
)

// scopes the demo asks for, in both flows.
var scopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail}

// contentSecurityPolicy: same-origin scripts and styles only (demo.js is a
// file, nothing inline), the QR image as a data: URL, never framed. Forms
// go to the demo itself, or through its redirect to the provider's
// /authorize (browsers apply form-action to redirects too).
func contentSecurityPolicy(issuerOrigin string) string {
	return "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
		"object-src 'none'; base-uri 'none'; form-action 'self' " + issuerOrigin + "; frame-ancestors 'none'"
}

var routePrefix = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)*$`)

// Config configures the demo site. Issuer, ClientID, ClientSecret and
// BaseURL are required; zero values of the rest mean defaults.
type Config struct {
	// Issuer is the provider, reached over HTTP like any third party would.
	Issuer string
	// ClientID and ClientSecret are the demo's confidential client.
	ClientID, ClientSecret string
	// BaseURL is where the demo is served, e.g. <issuer>/demo. Its path is
	// the prefix of every route; BaseURL+"/callback" is the redirect URI.
	BaseURL string
	// HTTPClient talks to the provider (default: a new http.Client).
	HTTPClient *http.Client
	// Logger defaults to discarding.
	Logger *slog.Logger
	// PollWait is how long one status request holds the provider's
	// long-poll (SPEC §2.2 wait, whole seconds from 1 to 30; default 25 s).
	PollWait time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Demo is the demo relying party. It is safe for concurrent use.
type Demo struct {
	cfg      Config
	csp      string
	prefix   string // BaseURL's path without a trailing slash: "/demo"
	redirect string // BaseURL + "/callback"
	tmpl     *template.Template
	sessions *sessions
	log      *slog.Logger
	mux      *http.ServeMux

	rpMu sync.Mutex
	rp   rp.RelyingParty
}

// New builds the demo. It does not contact the provider: discovery
// happens on the first request that needs it, so the demo can be built
// before the server it talks to is listening.
func New(cfg Config) (*Demo, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.BaseURL == "" {
		return nil, errors.New("demo: Issuer, ClientID, ClientSecret and BaseURL are required")
	}
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || (iss.Scheme != "http" && iss.Scheme != "https") || iss.Host == "" {
		return nil, errors.New("demo: Issuer must be an absolute http(s) URL")
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.RawQuery != "" || base.Fragment != "" {
		return nil, errors.New("demo: BaseURL must be an absolute http(s) URL without query or fragment")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PollWait == 0 {
		cfg.PollWait = 25 * time.Second
	}
	if cfg.PollWait < time.Second || cfg.PollWait > 30*time.Second || cfg.PollWait%time.Second != 0 {
		return nil, errors.New("demo: PollWait must be whole seconds from 1 to 30")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	tmpl, err := templates.Parse()
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"demo_index.html", "demo_qr.html"} {
		if tmpl.Lookup(name) == nil {
			return nil, errors.New("demo: template " + name + " is missing")
		}
	}
	prefix := strings.TrimRight(base.Path, "/")
	if !routePrefix.MatchString(prefix) {
		// The prefix goes into ServeMux patterns, which panic on "{…}".
		return nil, errors.New("demo: BaseURL's path may hold only letters, digits and -._~ between slashes")
	}
	d := &Demo{
		cfg: cfg, csp: contentSecurityPolicy(iss.Scheme + "://" + iss.Host), prefix: prefix,
		redirect: strings.TrimRight(cfg.BaseURL, "/") + "/callback", tmpl: tmpl,
		sessions: newSessions(base.Scheme == "https", cmp.Or(prefix, "/"), cfg.Now), log: cfg.Logger,
	}
	mux := http.NewServeMux()
	if prefix == "" {
		mux.HandleFunc("GET /{$}", d.index)
	} else {
		mux.HandleFunc("GET "+prefix, d.index)
		mux.HandleFunc("GET "+prefix+"/{$}", d.index)
	}
	mux.HandleFunc("POST "+prefix+"/qr/start", d.qrStart)
	mux.HandleFunc("GET "+prefix+"/qr", d.qrPage)
	mux.HandleFunc("GET "+prefix+"/qr/status", d.qrStatus)
	mux.HandleFunc("GET "+prefix+"/qr/continue", d.qrContinue)
	mux.HandleFunc("POST "+prefix+"/qr/cancel", d.qrCancel)
	mux.HandleFunc("GET "+prefix+"/login", d.login)
	mux.HandleFunc("GET "+prefix+"/callback", d.callback)
	mux.HandleFunc("POST "+prefix+"/logout", d.logout)
	d.mux = mux
	return d, nil
}

// ServeHTTP sets the security headers every demo answer carries, caps
// request bodies and routes.
func (d *Demo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", d.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// Pages show claims and carry CSRF tokens: never from a cache.
	h.Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	d.mux.ServeHTTP(w, r)
}

// relyingParty returns the zitadel relying party, running discovery the
// first time. A failure is not remembered: the next request tries again
// (the provider may not have been listening yet).
func (d *Demo) relyingParty(ctx context.Context) (rp.RelyingParty, error) {
	d.rpMu.Lock()
	defer d.rpMu.Unlock()
	if d.rp != nil {
		return d.rp, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := rp.NewRelyingPartyOIDC(ctx, d.cfg.Issuer, d.cfg.ClientID, d.cfg.ClientSecret, d.redirect, scopes,
		rp.WithHTTPClient(d.cfg.HTTPClient),
		// Explicit: auto-detect retries every failed request with the
		// other style, doubling them.
		rp.WithAuthStyle(oauth2.AuthStyleInHeader),
		// Accept the algorithms the provider says it signs with (RS256 or
		// ES256), not zitadel's RS256-only default.
		rp.WithSigningAlgsFromDiscovery(),
		rp.WithVerifierOpts(rp.WithNonce(expectedNonce)),
		rp.WithLogger(d.log),
	)
	if err != nil {
		return nil, err
	}
	d.rp = r
	return r, nil
}

// Claims are the verified ID token claims the demo shows.
type Claims struct {
	Subject, Name, Email, Issuer, Nonce string
	Audience, AMR                       []string
	AuthTime                            time.Time
	Method                              string // how the visitor signed in, for the page
}

func claimsFrom(c *oidc.IDTokenClaims, method string) *Claims {
	return &Claims{Subject: c.Subject, Name: c.Name, Email: c.Email, Issuer: c.Issuer, Nonce: c.Nonce,
		Audience: c.Audience, AMR: c.AuthenticationMethodsReferences, AuthTime: c.AuthTime.AsTime().UTC(), Method: method}
}

// page is what the demo templates get. Title is what the shared layout
// needs.
type page struct {
	Title    string
	Prefix   string // route prefix, "" or "/demo"
	Home     string // the index URL
	CSRF     string
	User     *Claims
	Flash    string
	Error    string
	QRImage  template.URL
	UserCode string
	Status   string
	Message  string
}

func (d *Demo) home() string {
	if d.prefix == "" {
		return "/"
	}
	return d.prefix
}

func (d *Demo) render(w http.ResponseWriter, status int, name string, p *page) {
	p.Prefix, p.Home = d.prefix, d.home()
	if p.Title == "" {
		p.Title = "qrlogin demo site"
	}
	var b strings.Builder
	if err := d.tmpl.ExecuteTemplate(&b, name, p); err != nil {
		d.log.Error("demo: render", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}

// fail shows the index page with an error: the visitor can start again.
func (d *Demo) fail(w http.ResponseWriter, status int, csrf, msg string) {
	d.render(w, status, "demo_index.html", &page{CSRF: csrf, Error: msg})
}

func (d *Demo) index(w http.ResponseWriter, r *http.Request) {
	sess, err := d.sessions.getOrCreate(w, r)
	if err != nil {
		d.unavailable(w, err)
		return
	}
	sess.mu.Lock()
	p := &page{CSRF: sess.csrf, User: sess.user, Flash: sess.flash}
	sess.flash = ""
	sess.mu.Unlock()
	d.render(w, http.StatusOK, "demo_index.html", p)
}

func (d *Demo) unavailable(w http.ResponseWriter, err error) {
	d.log.Warn("demo: no session", "err", err)
	http.Error(w, "the demo site is busy, try again later", http.StatusServiceUnavailable)
}

// requesterIP is the browser's address as this backend sees it: the peer
// of the connection. Forwarding headers are not trusted; behind a proxy
// the phone shows the proxy's address, which is honest if unhelpful.
func requesterIP(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return ap.Addr().Unmap().String()
}

// qrStart starts a QR login from the backend (SPEC §2.1) and sends the
// browser to the page showing it (POST-redirect-GET, so a reload does not
// start another).
func (d *Demo) qrStart(w http.ResponseWriter, r *http.Request) {
	sess := d.sessions.get(r)
	if sess == nil || !sess.checkCSRF(r.PostFormValue("csrf")) {
		http.Error(w, "missing or wrong CSRF token: reload the demo page", http.StatusForbidden)
		return
	}
	relyingParty, err := d.relyingParty(r.Context())
	if err != nil {
		d.log.Warn("demo: discovery failed", "err", err)
		d.fail(w, http.StatusBadGateway, sess.csrf, "The provider is not reachable right now.")
		return
	}
	nonce := randomString(16)
	ctx, cancel := context.WithTimeout(r.Context(), providerTimeout)
	defer cancel()
	started, err := d.startQR(ctx, relyingParty, nonce, requesterIP(r), r.UserAgent())
	if err != nil {
		d.log.Warn("demo: starting a QR login failed", "err", err)
		d.fail(w, http.StatusBadGateway, sess.csrf, "The provider did not start a QR login.")
		return
	}
	now := d.cfg.Now()
	interval := time.Duration(started.Interval) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second // RFC 8628 §3.2: the default when absent
	}
	sess.mu.Lock()
	sess.qr = &pendingQR{deviceCode: started.DeviceCode, nonce: nonce, userCode: started.UserCode, image: started.QRImage,
		expiresAt: now.Add(time.Duration(started.ExpiresIn) * time.Second), interval: interval, status: "pending",
		poll: make(chan struct{}, 1)}
	sess.mu.Unlock()
	http.Redirect(w, r, d.prefix+"/qr", http.StatusSeeOther)
}

// statusMessages are the words for each status the page shows; demo.js
// gets them in the status answer, so they are written once.
var statusMessages = map[string]string{
	"pending":   "Waiting for your phone to scan the code…",
	"scanned":   "Scanned. Check the code and confirm on your phone.",
	"denied":    "The sign-in was denied on the phone.",
	"expired":   "The code expired. Start again.",
	"signed_in": "Signed in.",
	"failed":    "The sign-in failed. Start again.",
	"none":      "There is no QR sign-in in progress.",
}

// qrPage shows the pending QR login: image, user_code, last status.
func (d *Demo) qrPage(w http.ResponseWriter, r *http.Request) {
	sess := d.sessions.get(r)
	if sess == nil {
		http.Redirect(w, r, d.home(), http.StatusSeeOther)
		return
	}
	sess.mu.Lock()
	q := sess.qr
	var p *page
	if q != nil {
		p = &page{Title: "Sign in with QR", CSRF: sess.csrf, QRImage: template.URL(q.image), // validated in startQR
			UserCode: q.userCode, Status: q.status, Message: statusMessages[q.status]}
	}
	sess.mu.Unlock()
	if p == nil {
		http.Redirect(w, r, d.home(), http.StatusSeeOther)
		return
	}
	d.render(w, http.StatusOK, "demo_qr.html", p)
}

// statusAnswer is what GET /qr/status relays to demo.js.
type statusAnswer struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// qrStatus holds a long-poll at the provider for the browser and relays
// the state: pending, scanned, denied, expired, failed, signed_in, or none
// when nothing is in progress.
func (d *Demo) qrStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	sess := d.sessions.get(r)
	status := "none"
	if sess != nil {
		var err error
		// Queue behind another tab's poll of the same login for at most
		// about as long as a poll holds: the server's write timeout is
		// not much longer than two of them.
		status, err = d.checkQR(r.Context(), w, sess, d.cfg.PollWait, d.cfg.PollWait+5*time.Second)
		if err != nil {
			if r.Context().Err() == nil {
				d.log.Warn("demo: polling the provider failed", "err", err)
			}
			w.WriteHeader(http.StatusBadGateway)
			_ = json.NewEncoder(w).Encode(statusAnswer{Status: "error", Message: "The provider is not reachable. Retrying…"})
			return
		}
	}
	_ = json.NewEncoder(w).Encode(statusAnswer{Status: status, Message: statusMessages[status]})
}

// qrContinue is the page's way forward without JavaScript: one status
// check that does not hold, then wherever the answer leads.
func (d *Demo) qrContinue(w http.ResponseWriter, r *http.Request) {
	sess := d.sessions.get(r)
	if sess == nil {
		http.Redirect(w, r, d.home(), http.StatusSeeOther)
		return
	}
	// Do not queue behind a long-poll demo.js holds: report what is known.
	status, err := d.checkQR(r.Context(), w, sess, 0, 2*time.Second)
	if err != nil {
		d.log.Warn("demo: polling the provider failed", "err", err)
		d.fail(w, http.StatusBadGateway, sess.csrf, "The provider is not reachable right now.")
		return
	}
	switch status {
	case "pending", "scanned":
		http.Redirect(w, r, d.prefix+"/qr", http.StatusSeeOther)
	case "signed_in", "none":
		http.Redirect(w, r, d.home(), http.StatusSeeOther)
	default:
		sess.mu.Lock()
		sess.flash = statusMessages[status]
		sess.mu.Unlock()
		http.Redirect(w, r, d.home(), http.StatusSeeOther)
	}
}

// qrCancel forgets the pending QR login. The provider lets it expire.
func (d *Demo) qrCancel(w http.ResponseWriter, r *http.Request) {
	sess := d.sessions.get(r)
	if sess == nil || !sess.checkCSRF(r.PostFormValue("csrf")) {
		http.Error(w, "missing or wrong CSRF token: reload the demo page", http.StatusForbidden)
		return
	}
	sess.mu.Lock()
	sess.qr = nil
	sess.mu.Unlock()
	http.Redirect(w, r, d.home(), http.StatusSeeOther)
}

// checkQR polls the provider once for the session's pending QR login,
// holding up to wait, and applies the answer to the session. busyWait
// bounds how long it queues behind another poll of the same login; when
// it gives up it reports the last known status. On tokens it verifies the ID token, signs the session in
// (with a new session id) and reports signed_in.
func (d *Demo) checkQR(ctx context.Context, w http.ResponseWriter, sess *session, wait, busyWait time.Duration) (string, error) {
	sess.mu.Lock()
	q, signedIn := sess.qr, sess.user != nil
	sess.mu.Unlock()
	if q == nil {
		if signedIn {
			return "signed_in", nil
		}
		return "none", nil
	}

	giveUp := time.NewTimer(busyWait)
	defer giveUp.Stop()
	select {
	case q.poll <- struct{}{}:
		defer func() { <-q.poll }()
	case <-giveUp.C:
		sess.mu.Lock()
		defer sess.mu.Unlock()
		return q.status, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}

	// q's fields other than poll are guarded by sess.mu; between the
	// locks below only this goroutine (holding q.poll) writes them.
	sess.mu.Lock()
	if sess.qr != q { // finished by the poll this one queued behind
		status := "none"
		if sess.user != nil {
			status = "signed_in"
		}
		sess.mu.Unlock()
		return status, nil
	}
	now := d.cfg.Now()
	if now.After(q.expiresAt.Add(30 * time.Second)) {
		// The provider says expired_token until it forgets the login; past
		// that, this side knows enough without asking.
		sess.qr = nil
		sess.mu.Unlock()
		return "expired", nil
	}
	delay := q.nextPoll.Sub(now)
	interval, deviceCode := q.interval, q.deviceCode
	sess.mu.Unlock()

	// RFC 8628 §3.5: after slow_down, wait the new interval before polling.
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		}
	}
	relyingParty, err := d.relyingParty(ctx)
	if err != nil {
		return "", err
	}
	pollCtx, cancel := context.WithTimeout(ctx, wait+15*time.Second)
	defer cancel()
	answer, httpStatus, err := d.pollQR(pollCtx, relyingParty, deviceCode, wait)
	if err != nil {
		return "", err
	}

	sess.mu.Lock()
	defer sess.mu.Unlock()
	now = d.cfg.Now()
	// A held poll is paced by the provider; one that is not must leave the
	// interval before the next (RFC 8628 §3.5).
	q.nextPoll = now
	if wait < interval {
		q.nextPoll = now.Add(interval)
	}
	switch {
	case httpStatus == http.StatusOK:
		sess.qr = nil
		claims, err := verify(ctx, relyingParty, answer.AccessToken, answer.IDToken, q.nonce)
		if err != nil {
			d.log.Warn("demo: ID token from the QR grant failed verification", "err", err)
			return "failed", nil
		}
		sess.user = claimsFrom(claims, "QR grant")
		if _, err := d.sessions.renew(w, sess); err != nil {
			return "", err
		}
		return "signed_in", nil
	case answer.Error == "authorization_pending":
		if answer.QRStatus == "pending" || answer.QRStatus == "scanned" {
			q.status = answer.QRStatus
		}
		return q.status, nil
	case answer.Error == "slow_down":
		// RFC 8628 §3.5: the answer's interval if given, else 5 s more.
		next := q.interval + 5*time.Second
		if answer.Interval > 0 {
			next = time.Duration(answer.Interval) * time.Second
		}
		q.interval = next
		q.nextPoll = now.Add(next)
		return q.status, nil
	case answer.Error == "access_denied":
		sess.qr = nil
		return "denied", nil
	case answer.Error == "expired_token", answer.Error == "invalid_grant":
		// invalid_grant: the provider no longer knows the login (redeemed
		// by another poll whose answer was lost, or cleaned up).
		sess.qr = nil
		return "expired", nil
	default:
		return "", &opError{Status: httpStatus, Code: answer.Error}
	}
}

// errorCode is the shape of RFC 6749 §4.1.2.1 error codes.
var errorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

// providerTimeout bounds a call to the provider that is not a long-poll.
const providerTimeout = 15 * time.Second

// login starts the authorization code flow (RFC 6749 §4.1) with PKCE
// (RFC 7636, S256), state (RFC 6749 §10.12) and nonce (OIDC Core §3.1.2.1),
// all kept in the session.
func (d *Demo) login(w http.ResponseWriter, r *http.Request) {
	sess, err := d.sessions.getOrCreate(w, r)
	if err != nil {
		d.unavailable(w, err)
		return
	}
	relyingParty, err := d.relyingParty(r.Context())
	if err != nil {
		d.log.Warn("demo: discovery failed", "err", err)
		d.fail(w, http.StatusBadGateway, sess.csrf, "The provider is not reachable right now.")
		return
	}
	pc := &pendingCode{state: randomString(16), nonce: randomString(16), verifier: oauth2.GenerateVerifier(),
		expiresAt: d.cfg.Now().Add(codeTTL)}
	sess.mu.Lock()
	sess.code = pc
	sess.mu.Unlock()
	u := rp.AuthURL(pc.state, relyingParty,
		rp.WithCodeChallenge(oauth2.S256ChallengeFromVerifier(pc.verifier)),
		rp.AuthURLOpt(rp.WithURLParam("nonce", pc.nonce)))
	http.Redirect(w, r, u, http.StatusFound)
}

// callback finishes the code flow: state checked, code exchanged with the
// PKCE verifier, ID token verified with the nonce, session signed in.
func (d *Demo) callback(w http.ResponseWriter, r *http.Request) {
	sess := d.sessions.get(r)
	if sess == nil {
		d.render(w, http.StatusBadRequest, "demo_index.html", &page{Error: "This sign-in was not started here (or the demo restarted). Start again."})
		return
	}
	q := r.URL.Query()
	sess.mu.Lock()
	pc := sess.code
	if pc == nil || d.cfg.Now().After(pc.expiresAt) ||
		subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(pc.state)) != 1 {
		sess.mu.Unlock()
		// RFC 6749 §10.12: a callback whose state is not ours is refused.
		d.fail(w, http.StatusBadRequest, sess.csrf, "This sign-in was not started here or took too long. Start again.")
		return
	}
	sess.code = nil // single use
	sess.mu.Unlock()

	if e := q.Get("error"); e != "" {
		// RFC 6749 §4.1.2.1: the provider refused. Only an error code is
		// shown: free text from a URL anyone can craft has no place on
		// the page.
		if !errorCode.MatchString(e) {
			e = "an error"
		}
		d.fail(w, http.StatusOK, sess.csrf, "The provider answered: "+e)
		return
	}
	relyingParty, err := d.relyingParty(r.Context())
	if err != nil {
		d.log.Warn("demo: discovery failed", "err", err)
		d.fail(w, http.StatusBadGateway, sess.csrf, "The provider is not reachable right now.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), providerTimeout)
	defer cancel()
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](withNonce(ctx, pc.nonce), q.Get("code"), relyingParty,
		rp.WithCodeVerifier(pc.verifier))
	if err != nil {
		d.log.Warn("demo: code exchange or ID token verification failed", "err", err)
		d.fail(w, http.StatusBadGateway, sess.csrf, "The sign-in could not be completed. Start again.")
		return
	}
	sess.mu.Lock()
	sess.user = claimsFrom(tokens.IDTokenClaims, "code flow")
	sess.qr = nil
	_, err = d.sessions.renew(w, sess)
	sess.mu.Unlock()
	if err != nil {
		d.unavailable(w, err)
		return
	}
	http.Redirect(w, r, d.home(), http.StatusSeeOther)
}

// logout forgets the demo session. The provider's own session is left
// alone: this is the demo site signing out, not the provider.
func (d *Demo) logout(w http.ResponseWriter, r *http.Request) {
	sess := d.sessions.get(r)
	if sess == nil || !sess.checkCSRF(r.PostFormValue("csrf")) {
		http.Error(w, "missing or wrong CSRF token: reload the demo page", http.StatusForbidden)
		return
	}
	d.sessions.drop(sess)
	d.sessions.clearCookie(w)
	http.Redirect(w, r, d.home(), http.StatusSeeOther)
}
