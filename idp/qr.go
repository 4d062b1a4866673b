package idp

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	qrcode "github.com/skip2/go-qrcode"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/time/rate"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/idp/display"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// qrAuthorizeResponse is RFC 8628 §3.2's answer plus qr_image.
type qrAuthorizeResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	QRImage                 string `json:"qr_image,omitempty"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// handleQRAuthorize starts a QR login (SPEC §2.1, RFC 8628 §3.1).
func (s *Server) handleQRAuthorize(w http.ResponseWriter, r *http.Request) {
	// F4: the server chooses every identifier.
	for _, k := range []string{"qr_id", "device_code", "user_code"} {
		if _, ok := r.PostForm[k]; ok {
			oauth.WriteError(w, s.log, oauth.New(oauth.InvalidRequest, k+" is chosen by the server and must not be sent"))
			return
		}
	}
	c, err := s.authenticateClient(r)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	if !hasGrant(c, GrantQR) && !hasGrant(c, GrantDeviceCode) {
		oauth.WriteError(w, s.log, oauth.New(oauth.UnauthorizedClient, "the client may not use QR login"))
		return
	}
	ip := clientIP(r)
	if err := s.qrQuota(c, ip); err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	scopes, err := parseScopes(c, r.PostForm.Get("scope"), true)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	nonce := r.PostForm.Get("nonce")
	if len(nonce) > 512 || !printable(nonce) {
		oauth.WriteError(w, s.log, oauth.New(oauth.InvalidRequest, "nonce must be at most 512 printable characters"))
		return
	}
	jkt, err := s.qrAuthorizeJKT(r, c)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	withImage, err := wantsQRImage(c, r.PostForm)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	// What qrlogin observed: the address and User-Agent of whoever called
	// (for a website, its backend). Kept cleaned: it is shown on the phone.
	start := grants.StartRequest{ClientID: c.ID, Scopes: scopes, Nonce: nonce, DPoPJKT: jkt,
		RequesterIP: ip, RequesterUserAgent: display.Clean(r.UserAgent(), display.MaxUserAgent),
		Defences: grants.DefencesOf(c)}
	rip, rua := r.PostForm.Get("requester_ip"), r.PostForm.Get("requester_user_agent")
	if rip != "" || rua != "" {
		// Only a confidential client's word is worth showing, labelled as
		// reported by it (SPEC §2.1).
		if c.Type != storage.ClientConfidential {
			oauth.WriteError(w, s.log, oauth.New(oauth.InvalidRequest, "requester_ip and requester_user_agent are for confidential clients"))
			return
		}
		if rip != "" {
			a, err := netip.ParseAddr(rip)
			if err != nil {
				oauth.WriteError(w, s.log, oauth.New(oauth.InvalidRequest, "requester_ip is not an IP address"))
				return
			}
			rip = a.Unmap().String()
		}
		if len(rua) > display.MaxUserAgent || !utf8.ValidString(rua) {
			oauth.WriteError(w, s.log, oauth.New(oauth.InvalidRequest, "requester_user_agent must be valid UTF-8 of at most 512 bytes"))
			return
		}
		// Stripped of control, format and bidi characters: the phone shows
		// it, and a reported "\u202E…" must not reorder the confirm screen.
		start.RequesterIP, start.RequesterUserAgent, start.RequesterReported = rip, display.Clean(rua, display.MaxUserAgent), true
	}
	started, err := s.qr.Start(r.Context(), start)
	if err != nil {
		oauth.WriteError(w, s.log, s.mapErr(err))
		return
	}
	cfg := s.qr.Config()
	resp := qrAuthorizeResponse{
		DeviceCode:              started.DeviceCode,
		UserCode:                grants.FormatUserCode(started.UserCode),
		VerificationURI:         s.cfg.Issuer + "/device",
		VerificationURIComplete: s.qr.VerificationURIComplete(started.QRID),
		ExpiresIn:               int(cfg.QRTTL / time.Second),
		Interval:                int(cfg.PollInterval / time.Second),
	}
	if withImage {
		png, err := qrPNG(resp.VerificationURIComplete)
		if err != nil {
			oauth.WriteError(w, s.log, err)
			return
		}
		resp.QRImage = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	}
	b := jsonBufs.Get().(*[]byte)
	*b = resp.appendJSON((*b)[:0])
	oauth.WriteEncoded(w, http.StatusOK, *b)
	if cap(*b) <= 16<<10 { // a qr_image answer is ~2 KiB; nothing larger is kept
		jsonBufs.Put(b)
	}
}

// wantsQRImage decides whether /qr/authorize renders qr_image, the one
// part of its answer that costs more than the login itself (the QR
// encoder's error correction and mask search). A client asks with the
// qr_image parameter ("true" or "false"); without it, a client
// registered for the QR grant gets the image, as SPEC §2.1 promises it,
// and one registered only for RFC 8628's device_code grant does not: a
// stock device-flow client knows no qr_image (RFC 8628 §3.2) and renders
// verification_uri_complete itself if it shows a QR at all (§3.3.1).
func wantsQRImage(c *storage.Client, form url.Values) (bool, error) {
	if _, asked := form["qr_image"]; !asked {
		return hasGrant(c, GrantQR), nil
	}
	switch form.Get("qr_image") {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, oauth.New(oauth.InvalidRequest, "qr_image must be true or false")
}

// qrPNG renders the QR as a 1-bit greyscale PNG, 4 pixels per module with
// the standard quiet zone. skip2/go-qrcode makes the matrix; the PNG is
// written here, because both skip2's PNG path (an RGBA image at the
// default compression) and image/png on a paletted image (a call per
// pixel) cost more than signing an ES256 token, while the 1-bit rows of a
// QR code are a few kilobytes to deflate.
//
// What is left is skip2's encoder: Reed–Solomon over each block and the
// eight masks each built and scored (ISO/IEC 18004 §8.8), behind an API
// that takes only the content and the level, so nothing in it can be
// cached or skipped from here (the content is new for every login).
// The level is the lever: qrLevel.
func qrPNG(content string) ([]byte, error) {
	return qrPNGAt(content, qrLevel)
}

// qrLevel is error correction level L (about 7 % of the symbol
// recoverable; ISO/IEC 18004 §4.11) rather than the usual M (15 %): the
// code is shown on a screen, not printed where it gets torn or smudged,
// and a typical verification_uri_complete then fits version 3 (29×29
// modules) instead of version 4 (33×33), so the encoder does half the
// work (BenchmarkQRPNG) and, at the same displayed size, each module is
// larger for the phone's camera.
const qrLevel = qrcode.Low

func qrPNGAt(content string, level qrcode.RecoveryLevel) ([]byte, error) {
	q, err := qrcode.New(content, level)
	if err != nil {
		return nil, err
	}
	return bitmapPNG(q.Bitmap(), 4)
}

// bitmapPNG encodes a square bitmap (true = dark) as a 1-bit greyscale PNG
// (PNG spec §11.2.2: colour type 0, bit depth 1; 0 is black), each module
// scale×scale pixels.
func bitmapPNG(bits [][]bool, scale int) ([]byte, error) {
	n := len(bits) * scale
	stride := (n + 7) / 8
	raw := make([]byte, 0, (stride+1)*n)
	row := make([]byte, stride)
	for _, modules := range bits {
		clear(row)
		for x := range n {
			if !modules[x/scale] { // light pixel: bit set
				row[x/8] |= 0x80 >> (x % 8)
			}
		}
		for range scale {
			raw = append(raw, 0) // filter type None
			raw = append(raw, row...)
		}
	}
	var idat bytes.Buffer
	// A deflate writer holds about a megabyte of state: reuse them.
	zw, _ := zlibWriters.Get().(*zlib.Writer)
	if zw == nil {
		var err error
		if zw, err = zlib.NewWriterLevel(&idat, zlib.BestSpeed); err != nil {
			return nil, err
		}
	} else {
		zw.Reset(&idat)
	}
	defer zlibWriters.Put(zw)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(n))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(n))
	ihdr[8], ihdr[9] = 1, 0 // bit depth 1, greyscale; compression, filter, interlace 0
	pngChunk(&out, "IHDR", ihdr)
	pngChunk(&out, "IDAT", idat.Bytes())
	pngChunk(&out, "IEND", nil)
	return out.Bytes(), nil
}

var zlibWriters sync.Pool

func pngChunk(w *bytes.Buffer, kind string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	w.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(kind))
	crc.Write(data)
	w.WriteString(kind)
	w.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	w.Write(n[:])
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// rateLimit takes a token from each key's bucket at the server's rate
// (Config.RateLimit per second, burst twice that); the first empty bucket
// refuses the request, named by limit.
func (s *Server) rateLimit(limit string, keys ...string) *oauth.Error {
	r := rate.Limit(s.cfg.RateLimit)
	for _, k := range keys {
		if ok, retry := s.limiter.allow(k, r, max(1, int(2*s.cfg.RateLimit))); !ok {
			return s.refused(limit, retry)
		}
	}
	return nil
}

// qrQuota takes one QR login of /qr/authorize's limits. A confidential
// client has a quota of its own (Client.RateLimit, else
// Config.ClientRateLimit): one busy website is one client, often calling
// from one address, and must not be held to a rate meant for strangers. A
// public client has no secret, so anyone can use its client_id: limiting
// it per client would let any stranger block its QR logins for everybody;
// it is limited per address instead, in the bucket new QR codes of login
// pages also take.
func (s *Server) qrQuota(c *storage.Client, ip string) *oauth.Error {
	if c.Type != storage.ClientConfidential {
		return s.rateLimit(limitQRAddress, "ip:"+limitKey(ip))
	}
	q := c.RateLimit
	if q <= 0 {
		q = s.cfg.ClientRateLimit
	}
	if s.cfg.RateLimit < 0 {
		q = -1
	}
	if ok, retry := s.limiter.allow("client:"+c.ID, rate.Limit(q), max(1, int(2*q))); !ok {
		return s.refused(limitQRClient, retry)
	}
	return nil
}

// guess takes one of key's guesses: five at once, then one per 10 s
// (typed user codes, new QR codes of a login page). A negative RateLimit
// turns it off with the rest.
func (s *Server) guess(limit, key string) *oauth.Error {
	if s.cfg.RateLimit < 0 {
		return nil
	}
	if ok, retry := s.guesses.allow(key, 0.1, 5); !ok {
		return s.refused(limit, retry)
	}
	return nil
}

// --- phone API (SPEC §2.3) --------------------------------------------------

// phoneToken is an authenticated phone app request.
type phoneToken struct {
	token  *storage.AccessToken
	client *storage.Client
}

// authenticatePhone checks the bearer token of the phone API: issued by
// this OP, live, to a first-party client, with scope qr:approve. The
// subject comes from the token only (F5), never from the body.
func (s *Server) authenticatePhone(r *http.Request) (*phoneToken, error) {
	raw, err := bearerToken(r, false)
	if err != nil {
		return nil, err
	}
	id, sub, ok := s.parseAccessToken(r.Context(), raw)
	if !ok {
		return nil, invalidToken("the access token is invalid")
	}
	t, err := s.store.AccessToken(r.Context(), id, s.cfg.Now())
	if err != nil {
		if e := storeErr(err); e != nil {
			return nil, e
		}
		return nil, invalidToken("the access token is invalid, expired or revoked")
	}
	if t.Subject != sub {
		return nil, invalidToken("the access token is invalid")
	}
	if t.JKT != "" {
		// A DPoP-bound token is no bearer token (RFC 9449 §7.2), and the
		// phone API takes only bearer tokens: refused, or a stolen bound
		// token would work here without its key.
		return nil, invalidToken("the access token is DPoP-bound; the phone API takes bearer tokens only")
	}
	c, err := s.clients.get(r.Context(), t.ClientID, false)
	if err != nil {
		if e := storeErr(err); e != nil {
			return nil, e
		}
		return nil, invalidToken("the access token's client no longer exists")
	}
	if !c.FirstParty || !slices.Contains(t.Scopes, ScopeQRApprove) {
		e := oauth.New(oauth.InsufficientScope, "the token needs scope qr:approve from the first-party app").WithStatus(http.StatusForbidden)
		e.Challenge = "Bearer"
		return nil, e
	}
	setClientID(r.Context(), c.ID)
	return &phoneToken{token: t, client: c}, nil
}

// parseAccessToken finds the token ID and subject in an opaque (encrypted)
// or JWT access token (RFC 9068: typ at+jwt, signature, issuer, expiry).
// Every endpoint that takes an access token reads it here.
func (s *Server) parseAccessToken(ctx context.Context, raw string) (id, sub string, ok bool) {
	if raw == "" || len(raw) > 4096 {
		return "", "", false
	}
	if plain, err := s.provider.Crypto().Decrypt(raw); err == nil {
		id, sub, ok = strings.Cut(plain, ":")
		return id, sub, ok
	}
	if !isAccessJWT(raw) {
		return "", "", false
	}
	claims, err := op.VerifyAccessToken[*oidc.AccessTokenClaims](ctx, raw, s.provider.AccessTokenVerifier(ctx))
	if err != nil {
		return "", "", false
	}
	return claims.JWTID, claims.Subject, true
}

type scanBody struct {
	QR string `json:"qr"`
}

type scanClient struct {
	ClientID  string `json:"client_id"`
	Name      string `json:"name"`
	LogoURI   string `json:"logo_uri"`
	ClientURI string `json:"client_uri"`
}

// scanRequester is the browser that asked to sign in. IP and UserAgent
// were reported by the client when ReportedByClient, else observed by
// qrlogin; the phone must say which.
type scanRequester struct {
	IP               string `json:"ip"`
	UserAgent        string `json:"user_agent"`
	UserAgentSummary string `json:"user_agent_summary"` // "Chrome on Windows"
	ReportedByClient bool   `json:"reported_by_client"`
	// Network compares the requester's network with the scanning phone's
	// (proximity.go): same_address, same_network, same_country,
	// other_country, different or unknown; NetworkSummary says it in words
	// ("this network"). Absent where no phone scanned (notifications).
	Network        string `json:"network,omitempty"`
	NetworkSummary string `json:"network_summary,omitempty"`
}

// newRequester describes a requester for the phone, whatever was stored:
// an address that does not parse is left out, and the user agent is
// cleaned again (rows written before display rules existed) and
// summarised.
func newRequester(ip, userAgent string, reported bool) scanRequester {
	if a, err := netip.ParseAddr(ip); err == nil {
		ip = a.Unmap().String()
	} else {
		ip = ""
	}
	ua := display.ParseUserAgent(userAgent)
	return scanRequester{IP: ip, UserAgent: ua.Raw, UserAgentSummary: ua.Summary, ReportedByClient: reported}
}

// newScanClient is the client as the confirm screen shows it. Registration
// refuses unsafe characters (idp/admin); a client registered before that
// rule is cleaned here, and a URI that is not clean is left out rather
// than shown altered.
func newScanClient(c *storage.Client) scanClient {
	uri := func(u string) string {
		if display.Check(u) != nil {
			return ""
		}
		return u
	}
	return scanClient{ClientID: c.ID, Name: display.Clean(c.Name, 200), LogoURI: uri(c.LogoURI), ClientURI: uri(c.ClientURI)}
}

type scanResponse struct {
	Ticket    string        `json:"ticket"`
	ExpiresIn int           `json:"expires_in"`
	UserCode  string        `json:"user_code"`
	Client    scanClient    `json:"client"`
	Scopes    []string      `json:"scopes"`
	Requester scanRequester `json:"requester"`
	CreatedAt time.Time     `json:"created_at"`
	// MatchChoices, for a client with number matching, are the three
	// numbers to offer: the user picks the one the other screen shows,
	// and the confirmation carries it (match_number).
	MatchChoices []int `json:"match_choices,omitempty"`
	// Session is what the confirm screen offers for the tokens.
	Session sessionOffer `json:"session"`
	// ProximityPolicy is the client's (off, warn, require): under
	// require, a confirmation from another network than the requester's
	// (requester.network not same_address or same_network) is refused
	// with 403 proximity_required and the login denied.
	ProximityPolicy string `json:"proximity_policy"`

	proximity proximity // for the hosted confirm screen
}

// sessionOffer is the session choice of the confirm screen: the
// preselected one (keep: "keep me signed in", this_session: "only this
// session") and whether the user may change it (session_choice).
type sessionOffer struct {
	Default   string `json:"default"`
	Choosable bool   `json:"choosable"`
}

// phoneBearer reads the phone API's bearer token without the store: the
// token ID and subject it carries (opaque tokens are encrypted and
// authenticated by this OP, JWTs signed by it). Whether the token is still
// live, has scope qr:approve and belongs to the first-party app is checked
// by the store in the same statement as the scan or decision
// (storage.Attempt.Bearer); when that statement is refused,
// authenticatePhone says why.
func (s *Server) phoneBearer(r *http.Request) (id, sub string, err error) {
	raw, err := bearerToken(r, false) // no token: a bare challenge (RFC 6750 §3.1)
	if err != nil {
		return "", "", err
	}
	id, sub, ok := s.parseAccessToken(r.Context(), raw)
	if !ok {
		return "", "", invalidToken("the access token is invalid")
	}
	return id, sub, nil
}

// phoneRefused explains a phone API step the store refused (err): a
// refused bearer token first (RFC 6750 §3.1), read from the store as
// authenticatePhone does; otherwise the token is good and the step is
// tried again with the token's session, without the bearer, so grants
// explains the refusal from the login itself. Both run only on this path.
// A store failure is not a refusal: it is answered as it is.
func (s *Server) phoneRefused(r *http.Request, err error, retry func(session string) error) error {
	if e := s.mapErr(err); e.Status >= http.StatusInternalServerError || errors.Is(err, grants.ErrAlarm) {
		// An alarm was raised: the step was the token's (the store checked
		// it), and trying again would raise it twice.
		return e
	}
	pt, err := s.authenticatePhone(r)
	if err != nil {
		return err
	}
	return retry(pt.token.SessionID)
}

func (s *Server) handleScan(w http.ResponseWriter, r *http.Request) {
	tokenID, sub, err := s.phoneBearer(r)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	if err := s.rateLimit(limitScanAccount, "scan:"+sub); err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	var body scanBody
	if err := jsonBody(r, &body); err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	// The ticket is bound to this phone session (the token's SessionID,
	// which every refresh of it keeps), not only to the user.
	req := grants.ScanRequest{Subject: sub, Bearer: &storage.Bearer{TokenID: tokenID, Scope: ScopeQRApprove},
		Payload: body.QR, IP: clientIP(r)}
	res, err := s.qr.Scan(r.Context(), req)
	if err != nil {
		err = s.phoneRefused(r, err, func(session string) error {
			req.Bearer, req.Session = nil, session
			res, err = s.qr.Scan(r.Context(), req)
			return err
		})
	}
	if err != nil {
		oauth.WriteError(w, s.log, s.mapErr(err))
		return
	}
	resp, err := s.scanAnswer(r.Context(), res, clientIP(r))
	if err != nil {
		oauth.WriteError(w, s.log, s.mapErr(err))
		return
	}
	oauth.WriteJSON(w, http.StatusOK, resp)
}

// scanAnswer describes the login for the confirm screen: who asks (the
// client as registered, the requester as seen or as reported), for what.
func (s *Server) scanAnswer(ctx context.Context, res *grants.ScanResult, phoneIP string) (*scanResponse, error) {
	l := res.Login
	c, err := s.clients.get(ctx, l.ClientID, false)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, grants.ErrNotFound() // the client was deleted meanwhile
	}
	if err != nil {
		return nil, err
	}
	req := newRequester(l.RequesterIP, l.RequesterUserAgent, l.RequesterReported)
	prox := proximityOf(l.RequesterIP, phoneIP, s.cfg.GeoIP)
	req.Network, req.NetworkSummary = prox.Signal, prox.Summary()
	now := s.cfg.Now()
	s.scans.put(res.Ticket, scanFacts{requesterIP: l.RequesterIP, clientID: l.ClientID, expires: now.Add(res.ExpiresIn)}, now)
	return &scanResponse{
		ProximityPolicy: storage.ProximityPolicyOf(c), proximity: prox,
		Ticket:    res.Ticket,
		ExpiresIn: int(res.ExpiresIn.Round(time.Second) / time.Second),
		UserCode:  grants.FormatUserCode(l.UserCode),
		Client:    newScanClient(c),
		Scopes:    l.Scopes,
		Requester: req,
		CreatedAt: l.CreatedAt,
		// Only the choices: the number itself is the PC's to show.
		MatchChoices: l.MatchChoices,
		Session:      sessionOffer{Default: l.SessionChoice, Choosable: l.SessionChoosable},
	}, nil
}

type ticketBody struct {
	Ticket string `json:"ticket"`
	// MatchNumber and SessionChoice are for /qr/confirm (grants.DecideRequest).
	MatchNumber   int    `json:"match_number"`
	SessionChoice string `json:"session_choice"`
}

// checkDecision validates a confirmation's number and session choice.
func checkDecision(match int, choice string) error {
	if !grants.ValidMatchNumber(match) {
		return oauth.New(oauth.InvalidRequest, "match_number must be one of the two-digit numbers offered")
	}
	if choice != "" && !storage.ValidSessionChoice(choice) {
		return oauth.New(oauth.InvalidRequest, "session_choice must be keep or this_session")
	}
	return nil
}

func (s *Server) handleDecide(confirm bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tokenID, sub, err := s.phoneBearer(r)
		if err != nil {
			oauth.WriteError(w, s.log, err)
			return
		}
		var body ticketBody
		if err := jsonBody(r, &body); err != nil {
			oauth.WriteError(w, s.log, err)
			return
		}
		if err := checkDecision(body.MatchNumber, body.SessionChoice); err != nil {
			oauth.WriteError(w, s.log, err)
			return
		}
		req := grants.DecideRequest{Subject: sub, Bearer: &storage.Bearer{TokenID: tokenID, Scope: ScopeQRApprove},
			Ticket: body.Ticket, Confirm: confirm, MatchNumber: body.MatchNumber, SessionChoice: body.SessionChoice,
			IP: clientIP(r), Notify: true}
		refused, err := s.nearDecision(r.Context(), &req)
		if err != nil {
			oauth.WriteError(w, s.log, s.mapErr(err))
			return
		}
		l, err := s.qr.Decide(r.Context(), req)
		if err != nil {
			err = s.phoneRefused(r, err, func(session string) error {
				req.Bearer, req.Session = nil, session
				l, err = s.qr.Decide(r.Context(), req)
				return err
			})
		}
		if err == nil && refused != nil {
			err = refused // denied instead
		}
		if err != nil {
			oauth.WriteError(w, s.log, s.mapErr(err))
			return
		}
		oauth.WriteJSON(w, http.StatusOK, decideResponse{Status: l.Status.String()})
	}
}

// decideResponse is the answer of /qr/confirm and /qr/deny: the login's
// status after the decision.
type decideResponse struct {
	Status string `json:"status"`
}

// decide confirms or denies as subject's browser session, recording the
// sign-in notification with the confirmation.
func (s *Server) decide(ctx context.Context, subject, session, ticket string, confirm bool, match int, choice, ip string) (*storage.QRLogin, error) {
	req := grants.DecideRequest{Subject: subject, Session: session, Ticket: ticket, Confirm: confirm, MatchNumber: match,
		SessionChoice: choice, IP: ip, Notify: true}
	refused, err := s.nearDecision(ctx, &req)
	if err != nil {
		return nil, err
	}
	l, err := s.qr.Decide(ctx, req)
	if err == nil && refused != nil {
		return nil, refused // denied instead
	}
	return l, err
}

// --- account API -------------------------------------------------------------

type notificationJSON struct {
	ID string `json:"id"`
	// Kind is sign_in, password_lockout (wrong passwords locked the
	// account; no client, no session to revoke), qr_wrong_number (a wrong
	// number was picked for a QR sign-in, which was cancelled) or
	// qr_second_scan (another account scanned the QR of a sign-in the user
	// scanned or denied; it was cancelled).
	Kind string `json:"kind"`
	// SessionChoice, for a QR sign-in, is what the user chose on the
	// phone: keep ("keep me signed in") or this_session ("only this
	// session").
	SessionChoice    string        `json:"session_choice,omitempty"`
	CreatedAt        time.Time     `json:"created_at"`
	ClientID         string        `json:"client_id,omitempty"`
	ClientName       string        `json:"client_name,omitempty"`
	Requester        scanRequester `json:"requester"`
	RevokeSessionURI string        `json:"revoke_session_uri,omitempty"`
}

// handleNotifications lists the user's sign-in notifications (SPEC §3).
func (s *Server) handleNotifications(w http.ResponseWriter, r *http.Request) {
	pt, err := s.authenticatePhone(r)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	list, err := s.store.Notifications(r.Context(), pt.token.Subject, 100)
	if err != nil {
		oauth.WriteError(w, s.log, s.mapErr(err))
		return
	}
	out := make([]notificationJSON, 0, len(list))
	for _, n := range list {
		j := notificationJSON{
			ID: n.ID, Kind: storage.NotificationKind(n.Kind), SessionChoice: n.SessionChoice, CreatedAt: n.CreatedAt, ClientID: n.ClientID,
			ClientName: display.Clean(n.ClientName, 200),
			Requester:  newRequester(n.RequesterIP, n.RequesterUserAgent, n.ReportedByClient),
		}
		if j.Kind == storage.NotificationSignIn {
			j.RevokeSessionURI = s.cfg.Issuer + "/account/notifications/" + n.ID + "/revoke"
		}
		out = append(out, j)
	}
	oauth.WriteJSON(w, http.StatusOK, map[string]any{"notifications": out})
}

// handleRevokeSession is "this wasn't me": it revokes every token the
// notified sign-in created.
func (s *Server) handleRevokeSession(w http.ResponseWriter, r *http.Request) {
	pt, err := s.authenticatePhone(r)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	n, err := s.store.Notification(r.Context(), r.PathValue("id"))
	if err != nil || n.Subject != pt.token.Subject {
		if e := storeErr(err); e != nil {
			oauth.WriteError(w, s.log, e)
			return
		}
		oauth.WriteError(w, s.log, oauth.New("not_found", "no such notification").WithStatus(http.StatusNotFound))
		return
	}
	if err := s.store.RevokeSession(r.Context(), n.SessionID, tombstone(&s.cfg)); err != nil && !errors.Is(err, storage.ErrNotFound) {
		oauth.WriteError(w, s.log, s.mapErr(err))
		return
	}
	s.securityEvent(r.Context(), eventSessionRevokedByUser, "session revoked by its user (\"this wasn't me\")",
		slog.String("sub", n.Subject), slog.String("client_id", n.ClientID), slog.String("ip", clientIP(r)))
	oauth.WriteJSON(w, http.StatusOK, map[string]string{"status": "revoked"})
}
