package demo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// GrantQR is the provider's QR grant type (SPEC §2.2).
const GrantQR = "urn:qrlogin:params:oauth:grant-type:qr"

// maxResponse caps what the demo reads from the provider.
const maxResponse = 1 << 20

// qrStarted is the answer of POST /qr/authorize (SPEC §2.1, RFC 8628 §3.2).
type qrStarted struct {
	DeviceCode string `json:"device_code"`
	UserCode   string `json:"user_code"`
	QRImage    string `json:"qr_image"`
	ExpiresIn  int    `json:"expires_in"`
	Interval   int    `json:"interval"`
}

// tokenAnswer is either side of a token endpoint answer: RFC 6749 §5.1
// tokens or a §5.2 error with the QR grant's qr_status and RFC 8628 §3.5's
// interval.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	IDToken     string `json:"id_token"`
	Error       string `json:"error"`
	QRStatus    string `json:"qr_status"`
	Interval    int    `json:"interval"`
}

// opError is an OAuth error answer the demo did not expect (bad client
// credentials, a server error). Its text is safe to log.
type opError struct {
	Status int
	Code   string
}

func (e *opError) Error() string { return fmt.Sprintf("provider answered %d %s", e.Status, e.Code) }

// basicAuth sets client_secret_basic; RFC 6749 §2.3.1 says id and secret
// are form-urlencoded before they go into the header.
func (d *Demo) basicAuth(req *http.Request) {
	req.SetBasicAuth(url.QueryEscape(d.cfg.ClientID), url.QueryEscape(d.cfg.ClientSecret))
}

// post sends a form to the provider and decodes its JSON answer into v,
// whatever the status; it returns the status.
func (d *Demo) post(ctx context.Context, endpoint string, form url.Values, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	d.basicAuth(req)
	resp, err := d.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return resp.StatusCode, fmt.Errorf("provider answered %d with a body that is not JSON", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// startQR starts a QR login for the browser behind r. The requester fields
// are what this backend saw of the browser: a confidential client may
// report them and the phone shows them labelled as reported by the client
// (SPEC §2.1).
func (d *Demo) startQR(ctx context.Context, relyingParty rp.RelyingParty, nonce, requesterIP, userAgent string) (*qrStarted, error) {
	endpoint := relyingParty.GetDeviceAuthorizationEndpoint()
	if endpoint == "" {
		return nil, errors.New("the provider advertises no device_authorization_endpoint")
	}
	form := url.Values{"scope": {strings.Join(scopes, " ")}, "nonce": {nonce}}
	if requesterIP != "" {
		form.Set("requester_ip", requesterIP)
	}
	if ua := cleanUserAgent(userAgent); ua != "" {
		form.Set("requester_user_agent", ua)
	}
	var answer struct {
		qrStarted
		Error string `json:"error"`
	}
	status, err := d.post(ctx, endpoint, form, &answer)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &opError{Status: status, Code: answer.Error}
	}
	s := &answer.qrStarted
	if s.DeviceCode == "" || s.UserCode == "" || s.ExpiresIn <= 0 {
		return nil, errors.New("the provider's QR answer lacks device_code, user_code or expires_in")
	}
	if !validPNGDataURI(s.QRImage) {
		return nil, errors.New("the provider's qr_image is not a PNG data URI")
	}
	return s, nil
}

// pollQR asks the token endpoint once about a QR login, holding up to
// wait (SPEC §2.2 long-poll).
func (d *Demo) pollQR(ctx context.Context, relyingParty rp.RelyingParty, deviceCode string, wait time.Duration) (*tokenAnswer, int, error) {
	form := url.Values{"grant_type": {GrantQR}, "device_code": {deviceCode}}
	if wait > 0 {
		form.Set("wait", strconv.Itoa(int(wait/time.Second)))
	}
	var answer tokenAnswer
	status, err := d.post(ctx, relyingParty.OAuthConfig().Endpoint.TokenURL, form, &answer)
	return &answer, status, err
}

// verify checks an ID token and its access token (OIDC Core §3.1.3.7,
// §3.1.3.8 at_hash) and that it carries the nonce this login sent
// (§3.1.3.7 step 11).
func verify(ctx context.Context, relyingParty rp.RelyingParty, accessToken, idToken, nonce string) (*oidc.IDTokenClaims, error) {
	if idToken == "" {
		return nil, rp.ErrMissingIDToken
	}
	return rp.VerifyTokens[*oidc.IDTokenClaims](withNonce(ctx, nonce), accessToken, idToken, relyingParty.IDTokenVerifier())
}

type nonceKey struct{}

// withNonce carries the nonce the verifier must find: zitadel's verifier
// asks for it through a func of the context (rp.WithNonce).
func withNonce(ctx context.Context, nonce string) context.Context {
	return context.WithValue(ctx, nonceKey{}, nonce)
}

func expectedNonce(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey{}).(string)
	return n
}

const pngDataPrefix = "data:image/png;base64,"

// validPNGDataURI accepts only a base64 PNG: the value goes into an img
// src the template cannot check (html/template refuses data: URLs unless
// told they are safe).
func validPNGDataURI(s string) bool {
	b64, ok := strings.CutPrefix(s, pngDataPrefix)
	if !ok || len(b64) > maxResponse {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	return err == nil && len(raw) > 8 && string(raw[:8]) == "\x89PNG\r\n\x1a\n"
}

// cleanUserAgent makes the browser's User-Agent fit what the provider
// accepts (SPEC §2.1: at most 512 printable characters): control
// characters dropped, cut at a character boundary.
func cleanUserAgent(ua string) string {
	var b strings.Builder
	for _, r := range ua {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > 512 {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
