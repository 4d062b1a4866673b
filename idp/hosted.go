package idp

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/grants/rules"
	"github.com/qrlogin/qrlogin/idp/display"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// QR login inside the authorization code flow (SPEC §2.5) and the phone
// browser path (SPEC §2.4).
//
// The hosted login page shows a QR for its authorization request. Which QR
// login belongs to which page is kept in the browser's session cookie
// (encrypted and signed): the live status endpoint finds the login through
// the cookie, never through an identifier in the URL, so knowing an
// authorization request id gives nothing.

// qrBinding is the session's record of the QR shown for one authorization
// request: the login's row id and its qr_id (needed to redraw the QR; the
// store keeps only its hash).
type qrBinding struct {
	loginID string
	qrID    string
	seq     int // order of creation: the oldest binding goes first
}

const bindingPrefix = "qr:"

// maxBindings is how many login pages of one browser keep their QR: tabs
// open at once. Each costs about 100 bytes of the cookie (4 KiB at most).
const maxBindings = 8

func binding(sess *sessions.Session, authRequestID string) *qrBinding {
	v, _ := sess.Values[bindingPrefix+authRequestID].(string)
	return parseBinding(v)
}

// parseBinding reads "loginID qrID seq"; a cookie from before seq has no
// seq and counts as oldest.
func parseBinding(v string) *qrBinding {
	f := strings.Fields(v)
	if len(f) < 2 || len(f) > 3 {
		return nil
	}
	b := &qrBinding{loginID: f[0], qrID: f[1]}
	if len(f) == 3 {
		b.seq, _ = strconv.Atoi(f[2])
	}
	return b
}

// setBinding records b as the newest binding, dropping the oldest ones
// beyond maxBindings so the cookie stays small when a browser opens many
// login pages. Every other page's binding is kept: a second tab must not
// lose the first tab's login.
func setBinding(sess *sessions.Session, authRequestID string, b qrBinding) {
	key := bindingPrefix + authRequestID
	delete(sess.Values, key)
	type entry struct {
		key string
		seq int
	}
	var others []entry
	next := 1
	for k, v := range sess.Values {
		ks, ok := k.(string)
		if !ok || !strings.HasPrefix(ks, bindingPrefix) {
			continue
		}
		vs, _ := v.(string)
		seq := 0
		if ob := parseBinding(vs); ob != nil {
			seq = ob.seq
		}
		others = append(others, entry{ks, seq})
		next = max(next, seq+1)
	}
	slices.SortFunc(others, func(a, b entry) int { return a.seq - b.seq })
	for len(others) >= maxBindings {
		delete(sess.Values, others[0].key)
		others = others[1:]
	}
	sess.Values[key] = b.loginID + " " + b.qrID + " " + strconv.Itoa(next)
}

// pageQR is what the login page shows of its QR.
type pageQR struct {
	Image    template.URL // data: URI of the PNG
	URL      string       // the QR's content, shown under it for a second tab or a phone's browser
	UserCode string
	Status   string
	Message  string
	// Dead: the QR can no longer be used (denied); the page hides it, with
	// its URL and code, and offers a new one. A QR that stays visible
	// would still be scanned, and the scan would fail.
	Dead bool
	// ExpiresIn is the QR's remaining life in seconds: the page's script
	// hides it then even if no status answer arrives.
	ExpiresIn int
	StatusURL string
	NewURL    string
	RenewURL  string
	ReloadURL string
	// MatchNumber is the number to pick on the phone (number matching),
	// once the QR is scanned; 0 otherwise.
	MatchNumber int
}

var statusMessages = map[storage.Status]string{
	storage.StatusPending: "Waiting for your phone to scan…",
	storage.StatusScanned: "Scanned — confirm on your phone",
	storage.StatusDenied:  "Denied on the phone. This code no longer works.",
}

// loginQR returns the QR for the page of authorization request a, making
// a new QR login when there is none, it expired, or fresh is set. When the
// bound login was confirmed it finishes the authorization request instead
// and returns where to continue.
func (s *Server) loginQR(ctx context.Context, r *http.Request, sess *sessions.Session, a *storage.AuthRequest, fresh bool) (*pageQR, string, error) {
	if !s.qrAllowed(ctx, a) {
		return nil, "", nil // the page shows the password form only
	}
	b := binding(sess, a.ID)
	if b != nil && !fresh {
		l, err := s.store.QRLogin(ctx, b.loginID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, "", err
		}
		if err == nil && l.AuthRequestID == a.ID {
			switch st := rules.StatusAt(l, s.cfg.Now()); st {
			case storage.StatusConfirmed, storage.StatusRedeemed:
				next, err := s.finishQR(ctx, r, sess, a, l)
				return nil, next, err
			case storage.StatusPending, storage.StatusScanned, storage.StatusDenied:
				q, err := s.pageQR(a, b.qrID, l, st)
				return q, "", err
			}
		}
	}
	// Each new QR is a row and a PNG: limit them per address (the bucket of
	// /qr/authorize) and per authorization request, or a loop reloading
	// the page without its cookie would mint them at will. When limited,
	// the page offers the password form alone.
	if s.rateLimit(limitQRAddress, "ip:"+limitKey(clientIP(r))) != nil {
		return nil, "", nil
	}
	if s.guess(limitQRPage, "qrpage:"+a.ID) != nil {
		return nil, "", nil
	}
	c, err := s.clients.get(ctx, a.ClientID, false)
	if err != nil {
		return nil, "", err
	}
	// The page's login keeps the client's defences; its session choice
	// reaches the code's tokens through the authorization request
	// (finishQR).
	started, err := s.qr.Start(ctx, grants.StartRequest{
		ClientID: a.ClientID, Scopes: a.Scopes, Nonce: a.Nonce, AuthRequestID: a.ID,
		RequesterIP: clientIP(r), RequesterUserAgent: display.Clean(r.UserAgent(), display.MaxUserAgent),
		Defences: grants.DefencesOf(c),
	})
	if err != nil {
		return nil, "", err
	}
	setBinding(sess, a.ID, qrBinding{loginID: started.Login.ID, qrID: started.QRID})
	q, err := s.pageQR(a, started.QRID, started.Login, storage.StatusPending)
	return q, "", err
}

// qrAllowed reports whether an authorization request may be completed by
// a QR scanned with another device. Not for the first-party phone app and
// not for scope qr:approve: whoever shows such a QR ("link your new
// phone") would receive a token that approves sign-ins as the person who
// scanned it — QRLJacking turned into account takeover.
func (s *Server) qrAllowed(ctx context.Context, a *storage.AuthRequest) bool {
	c, err := s.clients.get(ctx, a.ClientID, false)
	if err != nil || c.FirstParty {
		return false
	}
	_, err = grantScopes(c, a.Scopes, true) // the scope policy of every QR login
	return err == nil
}

func (s *Server) pageQR(a *storage.AuthRequest, qrID string, l *storage.QRLogin, st storage.Status) (*pageQR, error) {
	uri := s.qr.VerificationURIComplete(qrID)
	png, err := qrPNG(uri)
	if err != nil {
		return nil, err
	}
	id := url.QueryEscape(a.ID)
	match := 0
	if st == storage.StatusScanned {
		match = l.MatchNumber
	}
	return &pageQR{
		MatchNumber: match,
		Image:       template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		URL:         uri,
		UserCode:    grants.FormatUserCode(l.UserCode),
		Status:      st.String(),
		Message:     statusMessages[st],
		Dead:        st == storage.StatusDenied,
		ExpiresIn:   max(0, int(l.ExpiresAt.Sub(s.cfg.Now()).Round(time.Second)/time.Second)),
		StatusURL:   "/login/status?id=" + id,
		NewURL:      "/login/qr?id=" + id,
		RenewURL:    "/login?id=" + id + "&new=1",
		ReloadURL:   "/login?id=" + id,
	}, nil
}

// finishQR completes authorization request a with the user who confirmed
// QR login l and returns zitadel's callback URL, which issues the code.
// The redeem makes it happen once; a reload after it (or a second tab)
// finds the request already done by the same user and continues too.
func (s *Server) finishQR(ctx context.Context, r *http.Request, sess *sessions.Session, a *storage.AuthRequest, l *storage.QRLogin) (string, error) {
	if !s.qrAllowed(ctx, a) {
		return "", oauth.New(oauth.InvalidRequest, "this sign-in cannot be completed by QR").WithStatus(http.StatusBadRequest)
	}
	if l.Status == storage.StatusConfirmed {
		if _, err := s.qr.Redeem(ctx, l.ID, clientIP(r), nil); err != nil {
			var oe *oauth.Error
			if !errors.As(err, &oe) {
				return "", err
			}
		}
	}
	err := s.store.CompleteAuthRequest(ctx, a.ID, l.Subject, l.DecidedAt, []string{amrQR}, l.SessionChoice)
	if errors.Is(err, storage.ErrConflict) {
		cur, rerr := s.store.AuthRequest(ctx, a.ID, s.cfg.Now())
		if rerr != nil || !cur.Done || cur.Subject != l.Subject {
			return "", oauth.New(oauth.InvalidRequest, "this sign-in was completed another way").WithStatus(http.StatusConflict)
		}
	} else if err != nil {
		return "", err
	}
	// The PC's browser gets no session of the user: it may be a shared
	// computer, and the user is signed in to the relying party, not here.
	delete(sess.Values, bindingPrefix+a.ID)
	s.log.InfoContext(ctx, "qr login", "sub", l.Subject, "client_id", a.ClientID)
	return s.legacy.AuthCallbackURL()(ctx, a.ID), nil
}

// handleLoginStatus is the login page's live status: a long-poll bound to
// the session cookie. It answers when the status differs from since, or
// after 25 s; a confirmation finishes the request and says where to go.
//
// Held requests are bounded (SPEC §7): per browser session
// (held_polls_per_session) and per login (held_polls_per_login) a request
// past the bound is answered 429 with Retry-After at once — one cookie
// held 10,000 of them — and past the instance's bound
// (held_polls_per_instance) it gets the current status at once, with
// retry_after for the page. The requests held for one login wait on the
// instance's view of it, which the store's announcement of a change
// updates with the new status: no read per change (grants.QR.Wait).
func (s *Server) handleLoginStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	sess := s.session(r)
	a, err := s.store.AuthRequest(ctx, q.Get("id"), s.cfg.Now())
	b := binding(sess, q.Get("id"))
	if err != nil || b == nil {
		if e := storeErr(err); e != nil {
			oauth.WriteError(w, s.log, e)
			return
		}
		oauth.WriteError(w, s.log, oauth.New("not_found", "no QR login on this page").WithStatus(http.StatusNotFound))
		return
	}
	since := storage.ParseStatus(q.Get("since"))
	releaseSession, ok := s.sessionHolds.hold(sessionHoldKey(sess))
	if !ok {
		oauth.WriteError(w, s.log, s.refused(limitHeldPerSession, retryHeld))
		return
	}
	defer releaseSession()
	release, err := s.qr.Hold(b.loginID)
	switch {
	case errors.Is(err, grants.ErrHeldPerLogin): // counted by grants
		oauth.WriteError(w, s.log, tooMany(retryHeld))
		return
	case err != nil: // the instance's bound: the current status, at once
		l, err := s.store.QRLogin(ctx, b.loginID)
		if err != nil {
			oauth.WriteError(w, s.log, s.mapErr(err))
			return
		}
		s.loginStatusAnswer(w, r, sess, a, b.loginID, rules.StatusAt(l, s.cfg.Now()), retryHeld)
		return
	}
	defer release()
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	// While the instance drains, a status request held now is answered at
	// once with the current status (the page asks again, at another
	// instance); one arriving during the drain is held one poll interval
	// at most, so the page's immediate re-poll does not spin.
	hold, drain := s.cfg.StatusHold, s.qr.Draining()
	if s.draining() {
		hold, drain = s.cfg.PollInterval, nil
	}
	st, err := s.qr.Wait(ctx, b.loginID, since, hold, drain)
	if err != nil {
		if ctx.Err() == nil {
			oauth.WriteError(w, s.log, s.mapErr(err))
		}
		return
	}
	s.loginStatusAnswer(w, r, sess, a, b.loginID, st, 0)
}

// retryHeld is the Retry-After of a status request past a bound on held
// requests, in seconds.
const retryHeld = 3

// loginStatusAnswer tells the login page that its login is at status st:
// a confirmation finishes the authorization request and gives the page
// where to go; retryAfter, when positive, asks the page to wait that many
// seconds before it asks again.
func (s *Server) loginStatusAnswer(w http.ResponseWriter, r *http.Request, sess *sessions.Session, a *storage.AuthRequest, loginID string, st storage.Status, retryAfter int) {
	if st == storage.StatusConfirmed || st == storage.StatusRedeemed {
		l, err := s.store.QRLogin(r.Context(), loginID)
		if err != nil {
			oauth.WriteError(w, s.log, s.mapErr(err))
			return
		}
		next, err := s.finishQR(r.Context(), r, sess, a, l)
		if err != nil {
			oauth.WriteError(w, s.log, s.mapErr(err))
			return
		}
		if err := sess.Save(r, w); err != nil {
			oauth.WriteError(w, s.log, err)
			return
		}
		oauth.WriteJSON(w, http.StatusOK, map[string]string{"status": storage.StatusConfirmed.String(), "redirect": next})
		return
	}
	body := map[string]any{"status": st.String()}
	if st == storage.StatusScanned {
		// Number matching: the number to pick on the phone, shown once
		// scanned; the instance's view of the login knows it.
		n, err := s.qr.MatchNumber(r.Context(), loginID)
		if err != nil {
			oauth.WriteError(w, s.log, s.mapErr(err))
			return
		}
		if n != 0 {
			body["match_number"] = n
		}
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		body["retry_after"] = retryAfter
	}
	oauth.WriteJSON(w, http.StatusOK, body)
}

// handleLoginNewQR replaces the page's QR (after expiry or denial) without
// reloading the page. CSRF token in the X-CSRF-Token header.
func (s *Server) handleLoginNewQR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := s.session(r)
	if !checkCSRF(sess, r.Header.Get("X-CSRF-Token")) {
		oauth.WriteError(w, s.log, oauth.New(oauth.InvalidRequest, "missing or wrong CSRF token").WithStatus(http.StatusForbidden))
		return
	}
	a, err := s.store.AuthRequest(ctx, r.URL.Query().Get("id"), s.cfg.Now())
	if err != nil {
		if e := storeErr(err); e != nil {
			oauth.WriteError(w, s.log, e)
			return
		}
		oauth.WriteError(w, s.log, oauth.New("not_found", "unknown or expired sign-in request").WithStatus(http.StatusNotFound))
		return
	}
	q, _, err := s.loginQR(ctx, r, sess, a, true)
	if err != nil {
		oauth.WriteError(w, s.log, s.mapErr(err))
		return
	}
	if q == nil {
		e := oauth.New(oauth.TooManyRequests, "too many new codes; wait a moment").WithStatus(http.StatusTooManyRequests)
		e.RetryAfter = 10
		oauth.WriteError(w, s.log, e)
		return
	}
	if err := sess.Save(r, w); err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	oauth.WriteJSON(w, http.StatusOK, map[string]any{"qr_image": string(q.Image), "qr_url": q.URL, "user_code": q.UserCode,
		"status": q.Status, "expires_in": q.ExpiresIn})
}

// --- phone browser path (SPEC §2.4) -----------------------------------------

// approval is what the phone browser's sign-in page says it is for.
type approval struct {
	// Client is the name of the site asking, when the QR is known and
	// still live; "" otherwise (the page still says what it is for).
	Client string
	Device bool // reached from "type a code instead" (/device)
}

// approving describes the sign-in that the phone browser's login (return
// path ret, already valid) will approve: which site asks. Only a holder
// of the QR's secret URL learns the client's name, as the confirm screen
// would show it after the sign-in; nothing about the requester is shown
// before it.
func (s *Server) approving(r *http.Request, ret string) *approval {
	qrID, ok := strings.CutPrefix(ret, "/q/")
	if !ok {
		return &approval{Device: true}
	}
	a := &approval{}
	l, err := s.store.QRLoginByQRIDHash(r.Context(), storage.Hash(qrID))
	if err != nil || rules.Final(rules.StatusAt(l, s.cfg.Now())) {
		return a
	}
	if c, err := s.clients.get(r.Context(), l.ClientID, false); err == nil {
		a.Client = newScanClient(c).Name
	}
	return a
}

// returnPath matches where a login without an authorization request may
// send the browser back to: only this site's confirm pages, so /login is
// no open redirect.
var returnPath = regexp.MustCompile(`^/(q/[A-Za-z0-9_-]{22}|device)$`)

func validReturn(p string) bool { return returnPath.MatchString(p) }

// confirmView is the confirm screen: the same facts the app shows.
type confirmView struct {
	Ticket      string
	ClientName  string
	LogoURI     string
	ClientURI   string
	UserCode    string
	RequesterIP string
	RequesterUA string // the raw user agent, cleaned: one tap away
	// RequesterSummary is what the person reads: the browser and where it
	// is from this phone's point of view, "Chrome on Windows · this
	// network"; the address and the raw user agent are one tap away.
	RequesterSummary string
	// NetworkDiffers: the requester is on another network than this phone
	// and the client's proximity policy warns (or requires);
	// ConfirmRefused: the require policy will refuse a confirmation.
	NetworkDiffers, ConfirmRefused bool
	// RequesterLabel says whose word the requester is: "reported by
	// <client>" or "observed by qrlogin".
	RequesterLabel string
	CreatedAt      string
	CreatedAtISO   string
	Scopes         string
	// MatchChoices: number matching's three buttons, in place of Confirm.
	MatchChoices []int
	// The session choice: the preselected one, and whether to offer it.
	SessionDefault   string
	SessionChoosable bool
}

type confirmPage struct {
	Title   string
	CSRF    string
	Confirm confirmView
}

// handleQRPage is what a phone's camera opens: after a login if needed,
// the scan happens (the PC sees "scanned") and the confirm screen shows.
func (s *Server) handleQRPage(w http.ResponseWriter, r *http.Request) {
	qrID := r.PathValue("qr_id")
	sess := s.session(r)
	sub, sid, err := s.approver(r)
	if err != nil {
		s.storePage(w, r, err)
		return
	}
	if sub == "" {
		if !validReturn("/q/" + qrID) {
			s.errorPage(w, r, http.StatusNotFound, probQRUnknown)
			return
		}
		http.Redirect(w, r, "/login?return="+url.QueryEscape("/q/"+qrID), http.StatusSeeOther)
		return
	}
	if err := s.rateLimit(limitScanAccount, "scan:"+sub); err != nil {
		s.limitPage(w, r, err, probTooManyAttempts)
		return
	}
	res, err := s.qr.Scan(r.Context(), grants.ScanRequest{Subject: sub, Session: sid, Payload: qrID, IP: clientIP(r)})
	s.showConfirm(w, r, sess, res, err)
}

func (s *Server) showConfirm(w http.ResponseWriter, r *http.Request, sess *sessions.Session, res *grants.ScanResult, err error) {
	if err != nil {
		s.scanErrorPage(w, r, err)
		return
	}
	ans, err := s.scanAnswer(r.Context(), res, clientIP(r))
	if err != nil {
		s.scanErrorPage(w, r, err)
		return
	}
	label := "observed by qrlogin"
	if ans.Requester.ReportedByClient {
		label = "reported by " + ans.Client.Name
	}
	v := confirmView{
		Ticket: ans.Ticket, ClientName: ans.Client.Name, ClientURI: ans.Client.ClientURI, UserCode: ans.UserCode,
		RequesterIP: ans.Requester.IP, RequesterUA: ans.Requester.UserAgent,
		RequesterLabel: label, RequesterSummary: requesterSummary(ans.Requester),
		NetworkDiffers: ans.ProximityPolicy != storage.ProximityOff && ans.proximity.differs(),
		ConfirmRefused: confirmRefused(ans.ProximityPolicy, ans.proximity),
		CreatedAt:      ans.CreatedAt.Format("2 Jan 2006 15:04:05 MST"), CreatedAtISO: ans.CreatedAt.Format(time.RFC3339),
		Scopes:       strings.Join(ans.Scopes, " "),
		MatchChoices: ans.MatchChoices, SessionDefault: ans.Session.Default, SessionChoosable: ans.Session.Choosable,
	}
	if strings.HasPrefix(ans.Client.LogoURI, "https://") {
		v.LogoURI = ans.Client.LogoURI
	}
	data := confirmPage{Title: "Confirm sign-in", CSRF: csrfToken(sess), Confirm: v}
	if err := sess.Save(r, w); err != nil {
		s.internalPage(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "confirm.html", data)
}

// requesterSummary is "Chrome on Windows · this network": the browser as
// summarised (display.ParseUserAgent) and the network as compared with the
// phone's (proximity.go).
func requesterSummary(r scanRequester) string {
	ua := r.UserAgentSummary
	if ua == "" {
		ua = "Unknown browser"
	}
	if r.NetworkSummary == "" {
		return ua
	}
	return ua + " · " + r.NetworkSummary
}

// scanErrorPage shows the phone what went wrong, without more detail than
// the phone API gives.
func (s *Server) scanErrorPage(w http.ResponseWriter, r *http.Request, err error) {
	e := s.mapErr(err)
	if e.Status >= http.StatusInternalServerError {
		s.failurePage(w, r, e)
		return
	}
	p, ok := map[string]problem{
		oauth.QRNotFound:         probQRUnknown,
		oauth.QRAlreadyScanned:   probQRScannedByOther,
		oauth.QRAlreadyDecided:   probQRDecided,
		oauth.Forbidden:          probQROtherSession,
		grants.WrongNumber:       probWrongNumber,
		grants.NumberRequired:    probNumberRequired,
		oauth.TemporarilyUnavail: probUnavailable,
		oauth.TooManyRequests:    probTooManyAttempts,
		errProximityRequired:     probProximityRequired,
	}[e.Code]
	if !ok {
		p = probCannotContinue
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	s.errorPage(w, r, e.Status, p)
}

// handleDecidePage confirms or denies from the confirm screen: a POST with
// the session's CSRF token; the user is the session's, never the form's.
func (s *Server) handleDecidePage(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	sub, sid, err := s.approver(r)
	if err != nil {
		s.storePage(w, r, err)
		return
	}
	if sub == "" || !checkCSRF(sess, r.PostForm.Get("csrf")) {
		s.errorPage(w, r, http.StatusForbidden, probFormExpired("Scan the QR code again."))
		return
	}
	var confirm bool
	match, choice := 0, r.PostForm.Get("session_choice")
	switch r.PostForm.Get("action") {
	case "confirm":
		confirm = true
	case "deny":
	case "":
		// Number matching: each of the three buttons confirms with its number.
		n, err := strconv.Atoi(r.PostForm.Get("match_number"))
		if err != nil || n == 0 {
			s.errorPage(w, r, http.StatusBadRequest, probChooseDecision)
			return
		}
		confirm, match = true, n
	default:
		s.errorPage(w, r, http.StatusBadRequest, probChooseDecision)
		return
	}
	if err := checkDecision(match, choice); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, probChooseNumber)
		return
	}
	if _, err := s.decide(r.Context(), sub, sid, r.PostForm.Get("ticket"), confirm, match, choice, clientIP(r)); err != nil {
		s.scanErrorPage(w, r, err)
		return
	}
	msg := "Denied. Nobody was signed in."
	if confirm {
		msg = "Confirmed. You are signed in on the other screen."
	}
	s.render(w, http.StatusOK, "done.html", map[string]string{"Title": "Done", "Message": msg})
}

// handleDevicePage shows the form to type a user code.
func (s *Server) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	sub, _, err := s.approver(r)
	if err != nil {
		s.storePage(w, r, err)
		return
	}
	if sub == "" {
		http.Redirect(w, r, "/login?return=%2Fdevice", http.StatusSeeOther)
		return
	}
	data := pageData{Title: "Enter the code", CSRF: csrfToken(sess)}
	if err := sess.Save(r, w); err != nil {
		s.internalPage(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "device.html", data)
}

// handleDevice takes a typed user code (RFC 8628 §3.3): case and dashes
// do not matter; guesses are rate-limited per address and per account, as
// the code space is only about 2^34.
func (s *Server) handleDevice(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	sub, sid, err := s.approver(r)
	if err != nil {
		s.storePage(w, r, err)
		return
	}
	if sub == "" || !checkCSRF(sess, r.PostForm.Get("csrf")) {
		s.errorPage(w, r, http.StatusForbidden, probFormExpired("Go back, reload the page and type the code again."))
		return
	}
	for _, key := range []string{"device:ip:" + limitKey(clientIP(r)), "device:sub:" + sub} {
		if s.guess(limitDeviceGuesses, key) != nil {
			s.render(w, http.StatusTooManyRequests, "device.html", pageData{Title: "Enter the code", CSRF: csrfToken(sess),
				Error: "Too many attempts. Wait a minute and try again."})
			return
		}
	}
	code, ok := grants.NormalizeUserCode(r.PostForm.Get("user_code"))
	var l *storage.QRLogin
	if ok {
		l, err = s.store.QRLoginByUserCode(r.Context(), code, s.cfg.Now())
	}
	if !ok || err != nil {
		if e := storeErr(err); e != nil {
			s.storePage(w, r, err)
			return
		}
		s.render(w, http.StatusBadRequest, "device.html", pageData{Title: "Enter the code", CSRF: csrfToken(sess),
			Error: "That code is unknown or expired. Check it and try again."})
		return
	}
	res, err := s.qr.ScanLogin(r.Context(), l.ID, grants.ScanRequest{Subject: sub, Session: sid, IP: clientIP(r)})
	s.showConfirm(w, r, sess, res, err)
}
