package load

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// maxBody caps every response read: a token response is a few KB, a QR
// login's answer with its PNG under 10 KB.
const maxBody = 1 << 20

// setupClient is the client of the set-up: the phone's sign-in and the
// issuer's discovery document and keys, a few requests before the clock
// starts.
func setupClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:              nil, // loopback benchmarks must not detour through $HTTP_PROXY
		DisableCompression: true,
	}}
}

// Content types of the requests.
const (
	formType = "application/x-www-form-urlencoded"
	jsonType = "application/json"
)

// requestError is one failed request: the step it belonged to and either
// the server's answer or the transport's error. Its kind groups failures
// for the report without the details that differ between them.
type requestError struct {
	step   string
	status int    // 0 when the request got no answer
	code   string // the OAuth "error" field, or what was wrong with a 2xx answer
	err    error  // transport or decoding error, for the example message
}

func (e *requestError) Error() string {
	if e.err != nil {
		return e.kind() + ": " + e.err.Error()
	}
	return e.kind()
}

func (e *requestError) Unwrap() error { return e.err }

// IsRateLimited reports whether err is a 429 answer: the server's rate
// limit (SPEC §7), which a bench must switch off.
func IsRateLimited(err error) bool {
	var re *requestError
	return errors.As(err, &re) && re.status == http.StatusTooManyRequests
}

// kind is the error's group in the report: "scan: 409 qr_already_scanned",
// "start: transport".
func (e *requestError) kind() string {
	switch {
	case e.status == 0:
		return e.step + ": transport"
	case e.code == "":
		return fmt.Sprintf("%s: %d", e.step, e.status)
	default:
		return fmt.Sprintf("%s: %d %s", e.step, e.status, e.code)
	}
}

// oauthError is the body of every error answer (RFC 6749 §5.2 and the
// phone API), with the QR grant's qr_status (SPEC §2.2).
type oauthError struct {
	Error    string `json:"error"`
	QRStatus string `json:"qr_status"`
	Interval int    `json:"interval"` // slow_down: the new interval in seconds (RFC 8628 §3.5)
}

// call posts to the issuer's path on c and turns anything but a 200 into a
// *requestError. The body it returns is valid until c's next request.
func (d *driver) call(ctx context.Context, c *conn, step, path, contentType, auth string, body []byte) ([]byte, error) {
	status, raw, err := c.post(ctx, d.prefix+path, contentType, auth, body)
	if err != nil {
		return nil, &requestError{step: step, err: err}
	}
	if status != http.StatusOK {
		var e oauthError
		_ = decode(raw, &e) // a body that is not JSON leaves the code empty
		return nil, &requestError{step: step, status: status, code: e.Error}
	}
	return raw, nil
}

// basicAuth is client_secret_basic: RFC 6749 §2.3.1 form-encodes the id
// and secret before Base64, which stock clients skip only because typical
// values need no encoding.
func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// phoneToken is the phone app's access token and its lifetime.
type phoneToken struct {
	accessToken string
	expiresIn   time.Duration
}

// signInPhone signs the phone app in the way the real app does: the
// authorization code flow with PKCE (RFC 7636, RFC 8252) through the
// hosted login page, then the code exchange. The redirect to the app's
// redirect URI is not followed: the code is read from its Location.
func signInPhone(ctx context.Context, base string, transport http.RoundTripper, clientID, redirectURI, username, password string) (*phoneToken, error) {
	baseURL, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	jar, _ := cookiejar.New(nil) // never fails without options
	hc := &http.Client{Transport: transport, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Scheme != baseURL.Scheme || req.URL.Host != baseURL.Host {
				return http.ErrUseLastResponse // the app's redirect URI, or a foreign host
			}
			return nil
		}}

	verifier := rand.Text() + rand.Text() // 52 characters from RFC 7636's unreserved set, 260 bits
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {clientID}, "response_type": {"code"}, "scope": {"openid qr:approve"},
		"redirect_uri": {redirectURI}, "state": {rand.Text()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	page, resp, err := fetch(ctx, hc, http.MethodGet, base+"/authorize?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("phone sign-in: %w", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login" {
		return nil, fmt.Errorf("phone sign-in: /authorize led to %d at %s, not the login page under %s "+
			"(is --issuer the server's issuer, and --phone-client-id/--phone-redirect-uri registered?)",
			resp.StatusCode, resp.Request.URL.Redacted(), base)
	}
	m := csrfRe.FindSubmatch(page)
	if m == nil {
		return nil, errors.New("phone sign-in: the login page has no csrf input")
	}
	form := url.Values{"id": {resp.Request.URL.Query().Get("id")}, "csrf": {string(m[1])},
		"username": {username}, "password": {password}}
	_, resp, err = fetch(ctx, hc, http.MethodPost, base+"/login", form)
	if err != nil {
		return nil, fmt.Errorf("phone sign-in: %w", err)
	}
	loc, err := resp.Location()
	if err != nil || loc.Query().Get("code") == "" {
		// The password is wrong, or the server refused the app's request.
		return nil, fmt.Errorf("phone sign-in as %q: no authorization code (HTTP %d at %s): check --username and --password",
			username, resp.StatusCode, resp.Request.URL.Path)
	}
	tokenForm := url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
		"code": {loc.Query().Get("code")}, "code_verifier": {verifier}}
	raw, resp, err := fetch(ctx, hc, http.MethodPost, base+"/oauth/token", tokenForm)
	if err != nil {
		return nil, fmt.Errorf("phone sign-in: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
	}
	if err := json.Unmarshal(raw, &tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		return nil, fmt.Errorf("phone sign-in: code exchange answered %d %s", resp.StatusCode, tok.Error)
	}
	return &phoneToken{accessToken: tok.AccessToken, expiresIn: time.Duration(tok.ExpiresIn) * time.Second}, nil
}

// fetch sends a GET, or a POST of form, and reads the answer.
func fetch(ctx context.Context, hc *http.Client, method, u string, form url.Values) ([]byte, *http.Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return raw, resp, err
}
