package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/qrlogin/qrlogin/idp"
)

// The admin commands (SPEC §5) are clients of the admin API (SPEC §4):
// they get a client_credentials token from the admin listener and call
// /admin/v1 over HTTP, so they work against any instance, local or not.

// adminStdin is where --password-stdin reads; tests replace it.
var adminStdin io.Reader = os.Stdin

const defaultAdminURL = "http://127.0.0.1:8081"

// defaultAdminClientID is the bootstrap admin client's id: serve's
// --admin-client-id and the admin commands' default, so that setting the
// secret alone is enough on both sides.
const defaultAdminClientID = "admin"

// adminTimeout bounds one admin command's HTTP exchanges.
const adminTimeout = 30 * time.Second

type subcommand struct {
	summary string
	run     func(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error
}

func runClients(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "clients", map[string]subcommand{
		"create":        {"register a client (prints its secret once)", clientsCreate},
		"list":          {"list clients", clientsList},
		"get":           {"show one client: get <client-id>", clientsGet},
		"delete":        {"delete a client: delete <client-id>", clientsDelete},
		"rotate-secret": {"issue a new secret, voiding the old one: rotate-secret <client-id>", clientsRotateSecret},
		"update":        {"change a confidential client's quota: update <client-id> --quota N", clientsUpdate},
	}, args, env, stdout, stderr)
}

func runUsers(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "users", map[string]subcommand{
		"create": {"create a user", usersCreate},
		"list":   {"list users", usersList},
		"update": {"change a user: update <user-id> [--name] [--email] [--password|--password-stdin] [--disable|--enable]", usersUpdate},
		"delete": {"delete a user: delete <user-id>", usersDelete},
	}, args, env, stdout, stderr)
}

func runKeys(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "keys", map[string]subcommand{
		"rotate": {"create a new signing key", keysRotate},
		"list":   {"list signing keys", keysList},
	}, args, env, stdout, stderr)
}

func dispatch(ctx context.Context, group string, subs map[string]subcommand, args []string, env func(string) string, stdout, stderr io.Writer) error {
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	sort.Strings(names)
	usage := func() {
		fmt.Fprintf(stderr, "usage: qrlogin %s <%s> [flags]\n\n", group, strings.Join(names, "|"))
		for _, n := range names {
			fmt.Fprintf(stderr, "  %-14s %s\n", n, subs[n].summary)
		}
	}
	if len(args) == 0 {
		usage()
		return fmt.Errorf("%w: qrlogin %s needs a subcommand", errUsage, group)
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		usage()
		return nil
	}
	sub, ok := subs[args[0]]
	if !ok {
		usage()
		return fmt.Errorf("%w: unknown subcommand %q of %s", errUsage, args[0], group)
	}
	return sub.run(ctx, args[1:], env, stdout, stderr)
}

// adminFlags are the flags every admin subcommand takes.
type adminFlags struct {
	url          string
	clientID     string
	clientSecret string
	json         bool
}

func (f *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "admin-url", defaultAdminURL, "base URL of the admin listener")
	fs.StringVar(&f.clientID, "admin-client-id", defaultAdminClientID, "admin client ID (serve's --admin-client-id)")
	fs.StringVar(&f.clientSecret, "admin-client-secret", "", "admin client secret (prefer the environment variable: flags show in ps)")
	fs.BoolVar(&f.json, "json", false, "print the API's JSON instead of a table")
}

// parseAdmin parses args (flags and positional arguments in any order)
// and checks the number of positional arguments.
func parseAdmin(fs *flag.FlagSet, args []string, env func(string) string, positional ...string) ([]string, error) {
	if len(positional) > 0 {
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "usage: qrlogin %s [flags] <%s>\n\nflags:\n", fs.Name(), strings.Join(positional, "> <"))
			fs.PrintDefaults()
		}
	}
	if err := parseFlags(fs, permute(fs, args, len(positional)), env); err != nil {
		return nil, err
	}
	if fs.NArg() != len(positional) {
		want := "no arguments"
		if len(positional) > 0 {
			want = "<" + strings.Join(positional, "> <") + ">"
		}
		return nil, fmt.Errorf("%w: %s takes %s, got %d", errUsage, fs.Name(), want, fs.NArg())
	}
	return fs.Args(), nil
}

// permute moves flags ahead of positional arguments, so that
// "clients get ID --json" works; package flag stops at the first
// positional argument. Everything after "--" is positional, and so is a
// word that looks like a flag but names none while positional arguments
// are still expected: generated ids are base64url and one in 64 begins
// with "-". The help flags (-h, -help, --help) are never an argument:
// "clients delete --help" must print the usage, not delete "--help".
func permute(fs *flag.FlagSet, args []string, positional int) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			if len(pos) < positional && name != "h" && name != "help" {
				flags = flags[:len(flags)-1]
				pos = append(pos, a)
			}
			continue // otherwise Parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return append(append(flags, "--"), pos...)
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// adminAPI is an authenticated client of /admin/v1.
type adminAPI struct {
	base string
	http *http.Client
}

func (f *adminFlags) api(ctx context.Context, stderr io.Writer) (*adminAPI, error) {
	u, err := url.Parse(f.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: --admin-url %q is not an http(s) base URL", errUsage, f.url)
	}
	if f.clientID == "" || f.clientSecret == "" {
		return nil, fmt.Errorf("%w: the admin credentials are missing: set --admin-client-id and --admin-client-secret (or QRLOGIN_ADMIN_CLIENT_ID and QRLOGIN_ADMIN_CLIENT_SECRET)", errUsage)
	}
	if u.Scheme == "http" && !idp.LoopbackHost(u.Hostname()) {
		fmt.Fprintf(stderr, "warning: sending the admin secret to %s without TLS\n", u.Host)
	}
	base := strings.TrimSuffix(u.String(), "/")
	cc := &clientcredentials.Config{
		ClientID:     f.clientID,
		ClientSecret: f.clientSecret,
		TokenURL:     base + "/oauth/token",
		// Explicit: with auto-detection a refused secret is retried with
		// the other style, doubling the failed attempts the server sees.
		AuthStyle: oauth2.AuthStyleInHeader,
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Timeout: adminTimeout})
	hc := cc.Client(ctx)
	hc.Timeout = adminTimeout
	return &adminAPI{base: base, http: hc}, nil
}

// apiError is an error answer of the admin API, shown as
// "code: description".
type apiError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *apiError) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// call sends body (if any) as JSON and returns the answer's body. Error
// answers become *apiError; a refused token request says so.
func (c *adminAPI) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			e := &apiError{Status: re.Response.StatusCode, Code: re.ErrorCode, Description: re.ErrorDescription}
			if e.Code == "" {
				e.Code = re.Response.Status
			}
			return nil, fmt.Errorf("admin token: %w", e)
		}
		return nil, fmt.Errorf("admin API unreachable: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("admin API: reading the answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Code == "" {
			e.Code = resp.Status
			e.Description = ""
		}
		return nil, e
	}
	return b, nil
}

// client mirrors the admin API's client object.
type client struct {
	ClientID               string    `json:"client_id"`
	ClientSecret           string    `json:"client_secret,omitempty"`
	Name                   string    `json:"name"`
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	GrantTypes             []string  `json:"grant_types"`
	Type                   string    `json:"type"`
	FirstParty             bool      `json:"first_party"`
	LogoURI                string    `json:"logo_uri,omitempty"`
	ClientURI              string    `json:"client_uri,omitempty"`
	AccessTokenType        string    `json:"access_token_type"`
	RateLimit              float64   `json:"rate_limit"`
	AllowedOrigins         []string  `json:"allowed_origins"`
	QRNumberMatching       bool      `json:"qr_number_matching"`
	QRSession              string    `json:"qr_session"`
	QRSecondScan           string    `json:"qr_second_scan"`
	IDTokenAlg             string    `json:"id_token_signed_response_alg"`
	ProximityPolicy        string    `json:"proximity_policy"`
	DPoPBoundAccessTokens  bool      `json:"dpop_bound_access_tokens"`
	CreatedAt              time.Time `json:"created_at"`
}

type user struct {
	ID            string    `json:"id"`
	Username      string    `json:"username"`
	Name          string    `json:"name"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	Disabled      bool      `json:"disabled"`
	CreatedAt     time.Time `json:"created_at"`
}

type keyInfo struct {
	ID        string    `json:"id"`
	Algorithm string    `json:"algorithm"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	NotBefore time.Time `json:"not_before"`
}

func clientsCreate(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("clients create", stderr)
	var af adminFlags
	af.register(fs)
	var (
		req struct {
			ClientID        string   `json:"client_id,omitempty"`
			Name            string   `json:"name"`
			RedirectURIs    []string `json:"redirect_uris,omitempty"`
			PostLogout      []string `json:"post_logout_redirect_uris,omitempty"`
			GrantTypes      []string `json:"grant_types,omitempty"`
			Type            string   `json:"type,omitempty"`
			FirstParty      bool     `json:"first_party,omitempty"`
			LogoURI         string   `json:"logo_uri,omitempty"`
			ClientURI       string   `json:"client_uri,omitempty"`
			AccessTokenType string   `json:"access_token_type,omitempty"`
			RateLimit       float64  `json:"rate_limit,omitempty"`
			AllowedOrigins  []string `json:"allowed_origins,omitempty"`
			// README "Defences against QR relay".
			QRNumberMatching bool   `json:"qr_number_matching,omitempty"`
			QRSession        string `json:"qr_session,omitempty"`
			QRSecondScan     string `json:"qr_second_scan,omitempty"`
			IDTokenAlg       string `json:"id_token_signed_response_alg,omitempty"`
			ProximityPolicy  string `json:"proximity_policy,omitempty"`
			DPoPBound        bool   `json:"dpop_bound_access_tokens,omitempty"`
		}
		redirects, postLogout, grants, origins stringList
	)
	fs.StringVar(&req.Name, "name", "", "display name shown to users (required)")
	fs.Var(&redirects, "redirect-uri", "redirect URI (repeatable)")
	fs.Var(&postLogout, "post-logout-redirect-uri", "post-logout redirect URI (repeatable)")
	fs.Var(&grants, "grant-type", "grant type (repeatable; default: all that apply)")
	fs.Var(&origins, "allowed-origin", "web origin whose scripts may call the token, userinfo, keys, discovery\nand revocation endpoints (CORS), e.g. https://app.example (repeatable)")
	fs.StringVar(&req.Type, "type", "confidential", "confidential or public")
	fs.BoolVar(&req.FirstParty, "first-party", false, "the first-party phone app")
	fs.StringVar(&req.LogoURI, "logo-uri", "", "https URL of the client's logo")
	fs.StringVar(&req.ClientURI, "client-uri", "", "https URL of the client's home page")
	fs.StringVar(&req.AccessTokenType, "access-token-type", "opaque", "jwt or opaque")
	fs.StringVar(&req.ClientID, "client-id", "", "client ID (default: generated)")
	fs.StringVar(&req.ProximityPolicy, "proximity-policy", "warn", "off, warn or require: what a phone on another network than the screen that\nasked does to the confirm screen (README \"Defences against QR relay\")")
	fs.BoolVar(&req.DPoPBound, "dpop-bound-access-tokens", false, "every token request needs a DPoP proof and every QR login a DPoP key\n(RFC 9449 §5.2; README \"Defences against QR relay\")")
	fs.Float64Var(&req.RateLimit, "quota", 0, "confidential clients: QR logins per second at /qr/authorize (0: the server's --client-rate-limit)")
	fs.BoolVar(&req.QRNumberMatching, "qr-number-matching", false, "QR logins: once scanned, the PC shows a two-digit number the phone must pick among three\n(needs the QR grant or the hosted login page)")
	fs.StringVar(&req.QRSession, "qr-session", "keep", "QR logins: what the phone's confirm screen offers for the tokens:\nkeep, this_session, ask or ask_this_session")
	fs.StringVar(&req.QRSecondScan, "qr-second-scan", "alarm", "QR logins: another account scanning a scanned QR: alarm (kill the login, alert the user) or refuse")
	fs.StringVar(&req.IDTokenAlg, "id-token-alg", "", "the ID tokens' signature: ES256 (recommended), EdDSA or RS256 (default: the server's --signing-alg, RS256)")
	if _, err := parseAdmin(fs, args, env); err != nil {
		return err
	}
	if req.Name == "" {
		return fmt.Errorf("%w: clients create needs --name", errUsage)
	}
	req.RedirectURIs, req.PostLogout, req.GrantTypes, req.AllowedOrigins = redirects, postLogout, grants, origins
	api, err := af.api(ctx, stderr)
	if err != nil {
		return err
	}
	b, err := api.call(ctx, http.MethodPost, "/admin/v1/clients", req)
	if err != nil {
		return err
	}
	if err := printClient(stdout, &af, b); err != nil {
		return err
	}
	if !af.json {
		fmt.Fprintln(stderr, "The client secret is shown only once: store it now.")
	}
	return nil
}

func clientsList(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	b, err := adminCall(ctx, "clients list", http.MethodGet, "/admin/v1/clients", args, env, stdout, stderr)
	if err != nil || b == nil {
		return err
	}
	var list struct{ Clients []client }
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("admin API: unexpected answer: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tNAME\tTYPE\tFIRST PARTY\tGRANT TYPES\tREDIRECT URIS\tCREATED")
	for _, c := range list.Clients {
		row(tw, c.ClientID, c.Name, c.Type, yesNo(c.FirstParty), shortGrants(c.GrantTypes),
			strings.Join(c.RedirectURIs, " "), c.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func clientsGet(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	return clientByID(ctx, "clients get", http.MethodGet, "", args, env, stdout, stderr)
}

func clientsRotateSecret(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	return clientByID(ctx, "clients rotate-secret", http.MethodPost, "/secret", args, env, stdout, stderr)
}

func clientByID(ctx context.Context, name, method, suffix string, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stderr)
	var af adminFlags
	af.register(fs)
	pos, err := parseAdmin(fs, args, env, "client-id")
	if err != nil {
		return err
	}
	api, err := af.api(ctx, stderr)
	if err != nil {
		return err
	}
	b, err := api.call(ctx, method, "/admin/v1/clients/"+url.PathEscape(pos[0])+suffix, nil)
	if err != nil {
		return err
	}
	return printClient(stdout, &af, b)
}

// clientsUpdate changes what may change after registration: the quota,
// the defences against QR relay and the ID token algorithm. Only the
// flags given are sent.
func clientsUpdate(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("clients update", stderr)
	var af adminFlags
	af.register(fs)
	quota := fs.Float64("quota", -1, "QR logins per second at /qr/authorize; 0 goes back to the server's --client-rate-limit")
	numberMatching := fs.Bool("qr-number-matching", false, "QR logins: number matching on (=true) or off (=false)")
	session := fs.String("qr-session", "", "QR logins: keep, this_session, ask or ask_this_session")
	secondScan := fs.String("qr-second-scan", "", "QR logins: alarm or refuse")
	alg := fs.String("id-token-alg", "", "the ID tokens' signature: ES256, EdDSA or RS256; \"default\" goes back to the server's --signing-alg")
	proximity := fs.String("proximity-policy", "", "QR logins from a phone on another network: off, warn or require")
	dpopBound := fs.Bool("dpop-bound-access-tokens", false, "every token request needs a DPoP proof (=true) or not (=false)")
	pos, err := parseAdmin(fs, args, env, "client-id")
	if err != nil {
		return err
	}
	body := map[string]any{}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "quota":
			body["rate_limit"] = *quota
		case "qr-number-matching":
			body["qr_number_matching"] = *numberMatching
		case "qr-session":
			body["qr_session"] = *session
		case "qr-second-scan":
			body["qr_second_scan"] = *secondScan
		case "id-token-alg":
			if *alg == "default" {
				body["id_token_signed_response_alg"] = ""
			} else {
				body["id_token_signed_response_alg"] = *alg
			}
		case "proximity-policy":
			body["proximity_policy"] = *proximity
		case "dpop-bound-access-tokens":
			body["dpop_bound_access_tokens"] = *dpopBound
		}
	})
	if q, ok := body["rate_limit"].(float64); len(body) == 0 || ok && q < 0 {
		return fmt.Errorf("%w: clients update needs --quota (0 or more), --qr-number-matching, --qr-session, --qr-second-scan, --id-token-alg, --proximity-policy or --dpop-bound-access-tokens", errUsage)
	}
	api, err := af.api(ctx, stderr)
	if err != nil {
		return err
	}
	b, err := api.call(ctx, http.MethodPatch, "/admin/v1/clients/"+url.PathEscape(pos[0]), body)
	if err != nil {
		return err
	}
	return printClient(stdout, &af, b)
}

func clientsDelete(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	return deleteByID(ctx, "clients delete", "client-id", "/admin/v1/clients/", args, env, stdout, stderr)
}

func usersDelete(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	return deleteByID(ctx, "users delete", "user-id", "/admin/v1/users/", args, env, stdout, stderr)
}

func deleteByID(ctx context.Context, name, what, prefix string, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stderr)
	var af adminFlags
	af.register(fs)
	pos, err := parseAdmin(fs, args, env, what)
	if err != nil {
		return err
	}
	api, err := af.api(ctx, stderr)
	if err != nil {
		return err
	}
	if _, err := api.call(ctx, http.MethodDelete, prefix+url.PathEscape(pos[0]), nil); err != nil {
		return err
	}
	if !af.json {
		fmt.Fprintf(stdout, "deleted %s\n", clean(pos[0]))
	}
	return nil
}

func printClient(w io.Writer, af *adminFlags, b []byte) error {
	if af.json {
		return printJSON(w, b)
	}
	var c client
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("admin API: unexpected answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row(tw, "client_id:", c.ClientID)
	if c.ClientSecret != "" {
		row(tw, "client_secret:", c.ClientSecret)
	}
	row(tw, "name:", c.Name)
	row(tw, "type:", c.Type)
	row(tw, "first_party:", yesNo(c.FirstParty))
	row(tw, "redirect_uris:", strings.Join(c.RedirectURIs, " "))
	row(tw, "post_logout_redirect_uris:", strings.Join(c.PostLogoutRedirectURIs, " "))
	row(tw, "grant_types:", strings.Join(c.GrantTypes, " "))
	row(tw, "access_token_type:", c.AccessTokenType)
	row(tw, "allowed_origins:", strings.Join(c.AllowedOrigins, " "))
	row(tw, "qr_number_matching:", yesNo(c.QRNumberMatching))
	row(tw, "qr_session:", c.QRSession)
	row(tw, "qr_second_scan:", c.QRSecondScan)
	alg := c.IDTokenAlg
	if alg == "" {
		alg = "server default"
	}
	row(tw, "id_token_signed_response_alg:", alg)
	row(tw, "proximity_policy:", c.ProximityPolicy)
	row(tw, "dpop_bound_access_tokens:", yesNo(c.DPoPBoundAccessTokens))
	row(tw, "logo_uri:", c.LogoURI)
	row(tw, "client_uri:", c.ClientURI)
	if c.Type == "confidential" {
		quota := "server default"
		if c.RateLimit > 0 {
			quota = strconv.FormatFloat(c.RateLimit, 'g', -1, 64) + "/s"
		}
		row(tw, "quota:", quota)
	}
	row(tw, "created_at:", c.CreatedAt.UTC().Format(time.RFC3339))
	return tw.Flush()
}

func usersCreate(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("users create", stderr)
	var af adminFlags
	af.register(fs)
	var req struct {
		Username      string `json:"username"`
		Password      string `json:"password"`
		Name          string `json:"name,omitempty"`
		Email         string `json:"email,omitempty"`
		EmailVerified bool   `json:"email_verified,omitempty"`
	}
	var fromStdin bool
	fs.StringVar(&req.Username, "username", "", "login name (required)")
	fs.StringVar(&req.Password, "password", "", "password (visible in ps: prefer --password-stdin or QRLOGIN_PASSWORD)")
	fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
	fs.StringVar(&req.Name, "name", "", "full name")
	fs.StringVar(&req.Email, "email", "", "email address")
	fs.BoolVar(&req.EmailVerified, "email-verified", false, "mark the email address as verified")
	if _, err := parseAdmin(fs, args, env); err != nil {
		return err
	}
	if req.Username == "" {
		return fmt.Errorf("%w: users create needs --username", errUsage)
	}
	switch {
	case fromStdin && req.Password != "":
		return fmt.Errorf("%w: give --password or --password-stdin, not both", errUsage)
	case fromStdin:
		pw, err := readPasswordLine(adminStdin)
		if err != nil {
			return err
		}
		req.Password = pw
	case req.Password == "":
		return fmt.Errorf("%w: users create needs --password or --password-stdin", errUsage)
	}
	api, err := af.api(ctx, stderr)
	if err != nil {
		return err
	}
	b, err := api.call(ctx, http.MethodPost, "/admin/v1/users", req)
	if err != nil {
		return err
	}
	return printUser(stdout, &af, b)
}

func printUser(w io.Writer, af *adminFlags, b []byte) error {
	if af.json {
		return printJSON(w, b)
	}
	var u user
	if err := json.Unmarshal(b, &u); err != nil {
		return fmt.Errorf("admin API: unexpected answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row(tw, "id:", u.ID)
	row(tw, "username:", u.Username)
	row(tw, "name:", u.Name)
	row(tw, "email:", u.Email)
	row(tw, "email_verified:", yesNo(u.EmailVerified))
	row(tw, "disabled:", yesNo(u.Disabled))
	row(tw, "created_at:", u.CreatedAt.UTC().Format(time.RFC3339))
	return tw.Flush()
}

// usersUpdate changes a user (PATCH /admin/v1/users/{id}): only the
// fields given are sent. A new password or --disable ends every sign-in
// of the user (browser sessions, tokens, pending QR approvals).
func usersUpdate(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("users update", stderr)
	var af adminFlags
	af.register(fs)
	var name, email, pw string
	var verified, fromStdin, disable, enable bool
	fs.StringVar(&name, "name", "", "new full name (\"\" clears it)")
	fs.StringVar(&email, "email", "", "new email address, unverified unless --email-verified (\"\" clears it)")
	fs.BoolVar(&verified, "email-verified", false, "mark the email address as verified (--email-verified=false: unverified)")
	fs.StringVar(&pw, "password", "", "new password; signs the user out everywhere (visible in ps: prefer --password-stdin)")
	fs.BoolVar(&fromStdin, "password-stdin", false, "read the new password from the first line of standard input")
	fs.BoolVar(&disable, "disable", false, "disable the account: it cannot sign in, and every sign-in of it ends")
	fs.BoolVar(&enable, "enable", false, "enable a disabled account")
	pos, err := parseAdmin(fs, args, env, "user-id")
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	req := map[string]any{}
	if set["name"] {
		req["name"] = name
	}
	if set["email"] {
		req["email"] = email
	}
	if set["email-verified"] {
		req["email_verified"] = verified
	}
	switch {
	case fromStdin && pw != "":
		return fmt.Errorf("%w: give --password or --password-stdin, not both", errUsage)
	case fromStdin:
		if pw, err = readPasswordLine(adminStdin); err != nil {
			return err
		}
		req["password"] = pw
	case pw != "":
		req["password"] = pw
	}
	switch {
	case disable && enable:
		return fmt.Errorf("%w: give --disable or --enable, not both", errUsage)
	case disable:
		req["disabled"] = true
	case enable:
		req["disabled"] = false
	}
	if len(req) == 0 {
		return fmt.Errorf("%w: users update needs something to change: --name, --email, --email-verified, --password, --password-stdin, --disable or --enable", errUsage)
	}
	api, err := af.api(ctx, stderr)
	if err != nil {
		return err
	}
	b, err := api.call(ctx, http.MethodPatch, "/admin/v1/users/"+url.PathEscape(pos[0]), req)
	if err != nil {
		return err
	}
	return printUser(stdout, &af, b)
}

// readPasswordLine reads the first line of r, without its line ending.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", fmt.Errorf("%w: --password-stdin: standard input has no password", errUsage)
	}
	return line, nil
}

func usersList(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	b, err := adminCall(ctx, "users list", http.MethodGet, "/admin/v1/users", args, env, stdout, stderr)
	if err != nil || b == nil {
		return err
	}
	var list struct{ Users []user }
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("admin API: unexpected answer: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSERNAME\tNAME\tEMAIL\tVERIFIED\tDISABLED\tCREATED")
	for _, u := range list.Users {
		row(tw, u.ID, u.Username, u.Name, u.Email, yesNo(u.EmailVerified), yesNo(u.Disabled), u.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func keysRotate(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys rotate", stderr)
	var af adminFlags
	af.register(fs)
	alg := fs.String("alg", "", "rotate the keys of this algorithm only (RS256, ES256 or EdDSA; default: every algorithm)")
	if _, err := parseAdmin(fs, args, env); err != nil {
		return err
	}
	path := "/admin/v1/keys/rotate"
	if *alg != "" {
		path += "?alg=" + url.QueryEscape(*alg)
	}
	api, err := af.api(ctx, stderr)
	if err != nil {
		return err
	}
	b, err := api.call(ctx, http.MethodPost, path, nil)
	if err != nil {
		return err
	}
	if af.json {
		return printJSON(stdout, b)
	}
	return printKeys(stdout, b)
}

func keysList(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	return keysCall(ctx, "keys list", http.MethodGet, "/admin/v1/keys", args, env, stdout, stderr)
}

func keysCall(ctx context.Context, name, method, path string, args []string, env func(string) string, stdout, stderr io.Writer) error {
	b, err := adminCall(ctx, name, method, path, args, env, stdout, stderr)
	if err != nil || b == nil {
		return err
	}
	return printKeys(stdout, b)
}

// printKeys prints the admin API's {"keys": [...]} as a table.
func printKeys(stdout io.Writer, b []byte) error {
	var list struct{ Keys []keyInfo }
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("admin API: unexpected answer: %w", err)
	}
	keys := list.Keys
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY ID\tALGORITHM\tSTATUS\tCREATED\tNOT BEFORE")
	for _, k := range keys {
		row(tw, k.ID, k.Algorithm, k.Status, k.CreatedAt.UTC().Format(time.RFC3339), k.NotBefore.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func printJSON(w io.Writer, b []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(b), "", "  "); err != nil {
		return fmt.Errorf("admin API: unexpected answer: %w", err)
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// row writes one tab-separated table row of cleaned cells.
// adminCall runs an admin command that takes no arguments: parse its
// flags, call method path, and with --json print the answer as is. It
// returns the body for the caller to show as a table, or nil when the
// answer was already printed.
func adminCall(ctx context.Context, name, method, path string, args []string, env func(string) string, stdout, stderr io.Writer) ([]byte, error) {
	fs := newFlagSet(name, stderr)
	var af adminFlags
	af.register(fs)
	if _, err := parseAdmin(fs, args, env); err != nil {
		return nil, err
	}
	api, err := af.api(ctx, stderr)
	if err != nil {
		return nil, err
	}
	b, err := api.call(ctx, method, path, nil)
	if err != nil {
		return nil, err
	}
	if af.json {
		return nil, printJSON(stdout, b)
	}
	return b, nil
}

func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(w, "\t")
		}
		io.WriteString(w, clean(c))
	}
	io.WriteString(w, "\n")
}

// clean replaces control characters (and tabs, the column separator) so
// that a value from the server cannot rewrite the terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// shortGrants abbreviates the URN grant types for the table.
func shortGrants(gs []string) string {
	out := make([]string, len(gs))
	for i, g := range gs {
		switch g {
		case "urn:ietf:params:oauth:grant-type:device_code":
			g = "device_code"
		case "urn:qrlogin:params:oauth:grant-type:qr":
			g = "qr"
		}
		out[i] = g
	}
	return strings.Join(out, ",")
}
