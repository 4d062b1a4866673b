package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// scopes the phone app asks for: qr:approve is what the phone API checks;
// offline_access brings the refresh token that keeps the app signed in.
var loginScopes = []string{"openid", "profile", "qr:approve", "offline_access"}

// registeredRedirect is the phone app's registered redirect URI. RFC 8252
// §7.3: for a loopback redirect the provider accepts any port, so the
// interactive login listens on an ephemeral one.
const registeredRedirect = "http://127.0.0.1/callback"

// browserTimeout bounds the wait for the browser in the interactive login.
const browserTimeout = 5 * time.Minute

func runLogin(ctx context.Context, e *environment, args []string) error {
	fs, g := newFlagSet("login", e)
	username := fs.String("username", "", "sign in with this username on the login form instead of a browser")
	password := fs.String("password", "", "the password for --username (visible to other users in ps: prefer QRPHONE_PASSWORD or --password-stdin)")
	passwordStdin := fs.Bool("password-stdin", false, "read the password for --username from the first line of stdin")
	rest, err := parseFlags(fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: login takes no arguments", errUsage)
	}
	if err := g.resolve(e.getenv); err != nil {
		return err
	}

	var tok *oauth2.Token
	if *username != "" {
		pw := *password
		if *passwordStdin {
			if pw, err = readLine(e.stdin); err != nil {
				return fmt.Errorf("reading the password from stdin: %w", err)
			}
		}
		if pw == "" {
			return fmt.Errorf("%w: --username needs --password-stdin, QRPHONE_PASSWORD or --password", errUsage)
		}
		tok, err = passwordLogin(ctx, e, g, *username, pw)
	} else {
		if *passwordStdin || *password != "" {
			return fmt.Errorf("%w: a password needs --username", errUsage)
		}
		tok, err = browserLogin(ctx, e, g)
	}
	if err != nil {
		return err
	}
	if tok.RefreshToken == "" {
		fmt.Fprintln(e.stderr, "warning: no refresh token was issued; you will have to sign in again when the access token expires")
	}
	if err := saveToken(g.tokenFile, fromOAuth2(tok, g.issuer, "")); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Signed in to %s. Token saved in %s.\n", g.issuer, g.tokenFile)
	return nil
}

// discovery is the part of the provider's metadata qrphone needs.
type discovery struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
}

// oauthConfig reads the provider's discovery document and returns the
// phone app's OAuth config.
func oauthConfig(ctx context.Context, e *environment, g *globals, redirectURI string) (*oauth2.Config, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reaching the provider at %s: %w", g.issuer, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the provider at %s has no OpenID configuration (HTTP %d)", g.issuer, resp.StatusCode)
	}
	var d discovery
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&d); err != nil {
		return nil, fmt.Errorf("reading the provider's OpenID configuration: %w", err)
	}
	// OpenID Connect Discovery 1.0 §4.3: the issuer in the document must be
	// the one it was fetched for.
	if d.Issuer != g.issuer {
		return nil, fmt.Errorf("the provider calls itself %q, not %q: check --issuer", d.Issuer, g.issuer)
	}
	for _, u := range []string{d.AuthorizationEndpoint, d.TokenEndpoint} {
		if err := checkIssuer(u); err != nil {
			return nil, fmt.Errorf("the provider's OpenID configuration has a bad endpoint: %v", err)
		}
	}
	return &oauth2.Config{
		ClientID:    g.clientID,
		RedirectURL: redirectURI,
		Scopes:      loginScopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:  d.AuthorizationEndpoint,
			TokenURL: d.TokenEndpoint,
			// A public client sends its client_id in the form (RFC 6749
			// §2.3); explicit, so nothing is tried twice.
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}, nil
}

// authRequest is one authorization request: the URL to open and what the
// answer must match.
type authRequest struct {
	conf     *oauth2.Config
	url      string
	state    string
	verifier string
}

func newAuthRequest(conf *oauth2.Config) *authRequest {
	// RFC 7636 §4.1–4.2: a fresh verifier per request, sent as its S256
	// challenge; state (RFC 6749 §10.12) ties the answer to this request.
	verifier := oauth2.GenerateVerifier()
	state := randomString(16)
	return &authRequest{
		conf:     conf,
		url:      conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)),
		state:    state,
		verifier: verifier,
	}
}

// finish checks the redirect's query and exchanges the code.
func (a *authRequest) finish(ctx context.Context, e *environment, q url.Values) (*oauth2.Token, error) {
	if q.Get("state") != a.state {
		return nil, errors.New("the answer's state does not match the request (RFC 6749 §10.12): not using it")
	}
	if code := q.Get("error"); code != "" {
		return nil, fmt.Errorf("the provider refused the sign-in: %s", describe(code, q.Get("error_description")))
	}
	code := q.Get("code")
	if code == "" {
		return nil, errors.New("the provider's answer has no authorization code")
	}
	tok, err := a.conf.Exchange(clientContext(ctx, e), code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("exchanging the authorization code: %s", describe(re.ErrorCode, re.ErrorDescription))
		}
		return nil, fmt.Errorf("exchanging the authorization code: %w", err)
	}
	return tok, nil
}

// browserLogin is the RFC 8252 native-app flow: the user signs in in a
// browser, which is redirected to a one-shot listener on the loopback
// interface (§7.3), never to a public address.
func browserLogin(ctx context.Context, e *environment, g *globals) (*oauth2.Token, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the browser's redirect: %w", err)
	}
	defer ln.Close()
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", ln.Addr().(*net.TCPAddr).Port)
	conf, err := oauthConfig(ctx, e, g, redirect)
	if err != nil {
		return nil, err
	}
	a := newAuthRequest(conf)

	answers := make(chan url.Values, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		// Only the answer to this request counts; anything else that finds
		// the port is turned away without ending the wait.
		if q.Get("state") != a.state {
			http.Error(w, "This is not the sign-in qrphone is waiting for.", http.StatusBadRequest)
			return
		}
		select {
		case answers <- q:
		default:
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintln(w, "qrphone received the answer. You can close this window and return to the terminal.")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed at Shutdown
	// Shutdown, not Close: Close cuts the connection of a callback handler
	// that has handed its answer over but not yet written the page, and the
	// browser is left with an empty reply.
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	fmt.Fprintf(e.stderr, "Open this URL in a browser on this machine and sign in:\n\n  %s\n\nWaiting for the browser (%s)…\n", a.url, browserTimeout)
	ctx, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	select {
	case q := <-answers:
		return a.finish(ctx, e, q)
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer from the browser: %w", ctx.Err())
	}
}

// passwordLogin drives the hosted login page over HTTP, as a browser would:
// GET /authorize, follow it to the login form, post the form (with its
// hidden inputs: id, csrf, …) and the credentials, follow the redirects to
// the one addressed to the phone app's redirect URI, and take the code
// from it without going there.
func passwordLogin(ctx context.Context, e *environment, g *globals, username, password string) (*oauth2.Token, error) {
	conf, err := oauthConfig(ctx, e, g, registeredRedirect)
	if err != nil {
		return nil, err
	}
	a := newAuthRequest(conf)
	redirect, _ := url.Parse(registeredRedirect)

	jar, _ := cookiejar.New(nil)
	var answer *url.URL
	hc := &http.Client{Jar: jar, Timeout: e.httpClient.Timeout, Transport: e.httpClient.Transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme == redirect.Scheme && req.URL.Hostname() == redirect.Hostname() && req.URL.Path == redirect.Path {
				answer = req.URL
				return http.ErrUseLastResponse
			}
			return nil
		}}

	get, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url, nil)
	if err != nil {
		return nil, err
	}
	page, pageURL, err := fetch(hc, get)
	if err != nil {
		return nil, err
	}
	if answer == nil {
		form, err := loginForm(page, pageURL)
		if err != nil {
			return nil, err
		}
		form.values.Set("username", username)
		form.values.Set("password", password)
		post, err := http.NewRequestWithContext(ctx, http.MethodPost, form.action, strings.NewReader(form.values.Encode()))
		if err != nil {
			return nil, err
		}
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(post)
		if err != nil {
			return nil, fmt.Errorf("posting the login form: %w", err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if answer == nil {
			if resp.StatusCode == http.StatusUnauthorized {
				return nil, errors.New("wrong username or password")
			}
			return nil, fmt.Errorf("the login form answered HTTP %d at %s instead of signing in", resp.StatusCode, resp.Request.URL.Redacted())
		}
	}
	return a.finish(ctx, e, answer.Query())
}

// fetch GETs a page and returns its body (at most 1 MiB) and final URL.
func fetch(hc *http.Client, req *http.Request) ([]byte, *url.URL, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the authorization URL: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode/100 == 3 {
		return nil, resp.Request.URL, nil // stopped at the redirect URI
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("the authorization URL answered HTTP %d at %s", resp.StatusCode, resp.Request.URL.Redacted())
	}
	return body, resp.Request.URL, nil
}

// form is an HTML form to post back.
type form struct {
	action string
	values url.Values
}

var (
	formRe  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRe = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrRe  = regexp.MustCompile(`(?is)([a-z][a-z0-9_:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
)

func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRe.FindAllStringSubmatch(tag, -1) {
		name := strings.ToLower(a[1])
		if _, dup := m[name]; !dup {
			m[name] = html.UnescapeString(a[2] + a[3])
		}
	}
	return m
}

// loginForm finds the form with a password field on the login page and
// returns where it posts and its hidden inputs. The page's markup is the
// provider's; only the field names are the contract (SPEC §3: username,
// password, and hidden inputs that must be posted back).
func loginForm(page []byte, base *url.URL) (*form, error) {
	for _, f := range formRe.FindAllSubmatch(page, -1) {
		values := url.Values{}
		hasPassword := false
		for _, in := range inputRe.FindAllSubmatch(f[2], -1) {
			a := attrs(string(in[1]))
			switch {
			case a["name"] == "password":
				hasPassword = true
			case strings.EqualFold(a["type"], "hidden") && a["name"] != "":
				values.Add(a["name"], a["value"])
			}
		}
		if !hasPassword {
			continue
		}
		method := attrs(string(f[1]))["method"]
		if method != "" && !strings.EqualFold(method, "post") {
			return nil, errors.New("the login form does not post: refusing to put a password in a URL")
		}
		action, err := base.Parse(attrs(string(f[1]))["action"])
		if err != nil {
			return nil, fmt.Errorf("the login form's action is not a URL: %w", err)
		}
		// The password goes only where the login page itself came from.
		if action.Scheme != base.Scheme || action.Host != base.Host {
			return nil, fmt.Errorf("the login form posts to another site (%s): refusing to send the password there", action.Host)
		}
		return &form{action: action.String(), values: values}, nil
	}
	return nil, errors.New("no login form with a password field on the login page")
}

// readLine reads one line from r, without its line ending.
func readLine(r io.Reader) (string, error) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 4096), 64<<10)
	if !s.Scan() {
		if err := s.Err(); err != nil {
			return "", err
		}
		return "", io.EOF
	}
	return strings.TrimRight(s.Text(), "\r"), nil
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// describe renders an OAuth error code and description for a person,
// stripped of anything a terminal would interpret.
func describe(code, desc string) string {
	if desc == "" {
		return sanitize(code)
	}
	return sanitize(code) + ": " + sanitize(desc)
}
