package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/qrlogin/qrlogin/idp/display"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// A client may be registered for exactly the grant and response types the
// provider serves and discovery lists: oauth.GrantTypes and
// oauth.ResponseTypes, the one table of both.

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{3,64}$`)

const (
	maxNameLen = 200
	maxURILen  = 2000
	maxURIs    = 32
)

// clientRequest is the body of POST /admin/v1/clients.
type clientRequest struct {
	ClientID               string   `json:"client_id"`
	Name                   string   `json:"name"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	ResponseTypes          []string `json:"response_types"`
	Type                   string   `json:"type"`
	FirstParty             bool     `json:"first_party"`
	LogoURI                string   `json:"logo_uri"`
	ClientURI              string   `json:"client_uri"`
	AccessTokenType        string   `json:"access_token_type"`
	RateLimit              float64  `json:"rate_limit"`
	AllowedOrigins         []string `json:"allowed_origins"`
	// The defences against QR relay (README "Defences against QR relay").
	QRNumberMatching bool   `json:"qr_number_matching"`
	QRSession        string `json:"qr_session"`
	QRSecondScan     string `json:"qr_second_scan"`
	// IDTokenSignedResponseAlg: RS256 (the default), ES256 or EdDSA.
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg"`
	ProximityPolicy          string `json:"proximity_policy"`
	// RFC 9449 §5.2: token requests need a DPoP proof, QR logins a key.
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens"`
}

// clientJSON is a client as the API shows it. ClientSecret is set only in
// the answers to creation and rotation.
type clientJSON struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	// RFC 7591 §3.2.1: REQUIRED when a secret is issued; 0 = never expires.
	ClientSecretExpiresAt  *int64   `json:"client_secret_expires_at,omitempty"`
	Name                   string   `json:"name"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	ResponseTypes          []string `json:"response_types"`
	Type                   string   `json:"type"`
	FirstParty             bool     `json:"first_party"`
	LogoURI                string   `json:"logo_uri,omitempty"`
	ClientURI              string   `json:"client_uri,omitempty"`
	AccessTokenType        string   `json:"access_token_type"`
	// RateLimit is the quota at /qr/authorize (requests/s); absent: the
	// server's default.
	RateLimit      float64  `json:"rate_limit,omitempty"`
	AllowedOrigins []string `json:"allowed_origins"`
	// The defences against QR relay, with their defaults spelled out.
	QRNumberMatching bool   `json:"qr_number_matching"`
	QRSession        string `json:"qr_session"`
	QRSecondScan     string `json:"qr_second_scan"`
	// IDTokenSignedResponseAlg is absent when the client registered none:
	// its ID tokens use the server's default (RS256 unless serve
	// --signing-alg says otherwise).
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg,omitempty"`
	// ProximityPolicy: off, warn or require (README "Defences against QR
	// relay").
	ProximityPolicy string `json:"proximity_policy"`
	// RFC 9449 §5.2 (idp/dpop.go).
	DPoPBoundAccessTokens bool      `json:"dpop_bound_access_tokens"`
	CreatedAt             time.Time `json:"created_at"`
}

func toClientJSON(c *storage.Client, secret string) clientJSON {
	j := clientJSON{
		ClientID:                 c.ID,
		Name:                     c.Name,
		RedirectURIs:             nonNil(c.RedirectURIs),
		PostLogoutRedirectURIs:   nonNil(c.PostLogoutRedirectURIs),
		GrantTypes:               nonNil(c.GrantTypes),
		ResponseTypes:            oauth.ResponseTypesFor(c.GrantTypes),
		Type:                     string(c.Type),
		FirstParty:               c.FirstParty,
		LogoURI:                  c.LogoURI,
		ClientURI:                c.ClientURI,
		AccessTokenType:          c.AccessTokenType,
		RateLimit:                c.RateLimit,
		AllowedOrigins:           nonNil(c.AllowedOrigins),
		IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg,
		QRNumberMatching:         c.QRNumberMatching,
		QRSession:                c.QRSession,
		QRSecondScan:             c.QRSecondScan,
		ProximityPolicy:          storage.ProximityPolicyOf(c),
		DPoPBoundAccessTokens:    c.DPoPBoundAccessTokens,
		CreatedAt:                c.CreatedAt,
	}
	if j.QRSession == "" {
		j.QRSession = storage.QRSessionKeep
	}
	if j.QRSecondScan == "" {
		j.QRSecondScan = storage.QRSecondScanAlarm
	}
	if secret != "" {
		var never int64
		j.ClientSecret, j.ClientSecretExpiresAt = secret, &never
	}
	return j
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// metadataError is a rejected registration field: RFC 7591 §3.2.2 code
// and a description naming the field.
type metadataError struct{ code, desc string }

func (e *metadataError) Error() string { return e.code + ": " + e.desc }

func badMetadata(format string, args ...any) error {
	return &metadataError{"invalid_client_metadata", fmt.Sprintf(format, args...)}
}

func badRedirect(format string, args ...any) error {
	return &metadataError{"invalid_redirect_uri", fmt.Sprintf(format, args...)}
}

// newClient validates req and builds the client to store, without ID
// defaulting or secret (the handler does those).
func newClient(req *clientRequest) (*storage.Client, error) {
	c := &storage.Client{
		ID:              req.ClientID,
		Name:            req.Name,
		FirstParty:      req.FirstParty,
		LogoURI:         req.LogoURI,
		ClientURI:       req.ClientURI,
		AccessTokenType: req.AccessTokenType,
		// RFC 9449 §5.2; any client may ask for it.
		DPoPBoundAccessTokens: req.DPoPBoundAccessTokens,
	}
	if c.ID != "" && !clientIDPattern.MatchString(c.ID) {
		return nil, badMetadata("client_id must be 3 to 64 characters of A-Z a-z 0-9 . _ -")
	}
	if err := checkText("name", c.Name, maxNameLen); err != nil {
		return nil, badMetadata("%v", err)
	}

	switch t := storage.ClientType(req.Type); t {
	case "":
		c.Type = storage.ClientConfidential
	case storage.ClientConfidential, storage.ClientPublic:
		c.Type = t
	default:
		return nil, badMetadata("type must be confidential or public")
	}

	switch c.AccessTokenType {
	case "":
		c.AccessTokenType = "opaque"
	case "jwt", "opaque":
	default:
		return nil, badMetadata("access_token_type must be jwt or opaque")
	}

	if err := checkRateLimit(c.Type, req.RateLimit); err != nil {
		return nil, err
	}
	c.ProximityPolicy = req.ProximityPolicy
	if c.ProximityPolicy == "" {
		c.ProximityPolicy = storage.ProximityWarn
	}
	if err := checkProximityPolicy(c.ProximityPolicy); err != nil {
		return nil, err
	}
	c.RateLimit = req.RateLimit
	if err := checkSigningAlg(req.IDTokenSignedResponseAlg); err != nil {
		return nil, err
	}
	c.IDTokenSignedResponseAlg = req.IDTokenSignedResponseAlg

	var err error
	if c.RedirectURIs, err = checkRedirectURIs("redirect_uris", req.RedirectURIs); err != nil {
		return nil, err
	}
	if c.PostLogoutRedirectURIs, err = checkRedirectURIs("post_logout_redirect_uris", req.PostLogoutRedirectURIs); err != nil {
		return nil, err
	}
	if c.AllowedOrigins, err = checkOrigins(req.AllowedOrigins); err != nil {
		return nil, err
	}
	for _, f := range []struct{ name, value string }{{"logo_uri", c.LogoURI}, {"client_uri", c.ClientURI}} {
		if f.value == "" {
			continue
		}
		if err := checkWebURI(f.value); err != nil {
			return nil, badMetadata("%s: %v", f.name, err)
		}
	}

	if c.GrantTypes, err = checkGrantTypes(req.GrantTypes, len(c.RedirectURIs) > 0); err != nil {
		return nil, err
	}
	if err := checkResponseTypes(req.ResponseTypes, c.GrantTypes); err != nil {
		return nil, err
	}
	c.QRNumberMatching, c.QRSession, c.QRSecondScan = req.QRNumberMatching, req.QRSession, req.QRSecondScan
	if err := checkQRDefences(c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkQRDefences validates a client's defences against QR relay.
// Number matching needs a PC that can show the number: the QR grant's
// poll answer carries it (match_number) and the hosted login page shows
// it, but a stock RFC 8628 client knows neither, and its user could never
// confirm. A client whose only QR path is the device grant is refused the
// policy here rather than failing every login later.
func checkQRDefences(c *storage.Client) error {
	if _, _, ok := c.SessionPolicy(); !ok {
		return badMetadata("qr_session must be keep, this_session, ask or ask_this_session")
	}
	switch c.QRSecondScan {
	case "", storage.QRSecondScanAlarm, storage.QRSecondScanRefuse:
	default:
		return badMetadata("qr_second_scan must be alarm or refuse")
	}
	if c.QRNumberMatching && !slices.Contains(c.GrantTypes, oauth.GrantQR) && !slices.Contains(c.GrantTypes, oauth.GrantAuthorizationCode) {
		return badMetadata("qr_number_matching needs a client that can show the number: the QR grant (%s) or the hosted login page (authorization_code); a device-grant-only client cannot", oauth.GrantQR)
	}
	return nil
}

// checkGrantTypes validates the requested grants, or picks the default:
// every grant served, less authorization_code when there is no redirect
// URI.
func checkGrantTypes(grants []string, haveRedirect bool) ([]string, error) {
	all := oauth.GrantTypes()
	if len(grants) == 0 {
		if !haveRedirect {
			return slices.DeleteFunc(all, func(g string) bool { return g == oauth.GrantAuthorizationCode }), nil
		}
		return all, nil
	}
	seen := map[string]bool{}
	for _, g := range grants {
		if !slices.Contains(all, g) {
			return nil, badMetadata("grant_types: unsupported grant type %q (supported: %s)", g, strings.Join(all, ", "))
		}
		if seen[g] {
			return nil, badMetadata("grant_types: %q is listed twice", g)
		}
		seen[g] = true
	}
	// RFC 6749 §3.1.2.2: a client of the authorization code flow must
	// register its redirection endpoint (the OP matches it exactly).
	if seen[oauth.GrantAuthorizationCode] && !haveRedirect {
		return nil, badRedirect("redirect_uris: authorization_code needs at least one redirect URI")
	}
	return slices.Clone(grants), nil
}

// checkResponseTypes validates the response_types a client asks for. They
// are not stored: a client has response type code exactly when it has
// the authorization_code grant (RFC 7591 §2.1 keeps the two consistent),
// so the request may list that, or nothing.
func checkResponseTypes(types, grants []string) error {
	if len(types) == 0 {
		return nil
	}
	for _, t := range types {
		if !slices.Contains(oauth.ResponseTypes(), t) {
			return badMetadata("response_types: unsupported response type %q (supported: %s)", t, strings.Join(oauth.ResponseTypes(), ", "))
		}
	}
	if !slices.Equal(types, oauth.ResponseTypesFor(grants)) {
		return badMetadata("response_types: %q needs the authorization_code grant, and that grant needs it", strings.Join(types, " "))
	}
	return nil
}

// checkRedirectURIs validates a list of redirection URIs: absolute, https
// (or http on a loopback host, RFC 8252 §7.3), no fragment (RFC 6749
// §3.1.2), no credentials, no duplicates.
func checkRedirectURIs(field string, uris []string) ([]string, error) {
	if len(uris) > maxURIs {
		return nil, badRedirect("%s: at most %d URIs", field, maxURIs)
	}
	seen := map[string]bool{}
	for _, u := range uris {
		if err := checkURI(u, true); err != nil {
			return nil, badRedirect("%s: %v", field, err)
		}
		if seen[u] {
			return nil, badRedirect("%s: %q is listed twice", field, u)
		}
		seen[u] = true
	}
	return slices.Clone(uris), nil
}

// checkOrigins validates allowed_origins: each a web origin as a browser
// sends it in the Origin header (RFC 6454 §6.2) — scheme, host and a
// non-default port, nothing else —, https or loopback http like redirect
// URIs, no duplicates. The CORS check compares the header with these
// strings exactly, so what is stored must be what browsers send.
func checkOrigins(origins []string) ([]string, error) {
	if len(origins) > maxURIs {
		return nil, badMetadata("allowed_origins: at most %d origins", maxURIs)
	}
	seen := map[string]bool{}
	for _, o := range origins {
		if err := checkOrigin(o); err != nil {
			return nil, badMetadata("allowed_origins: %v", err)
		}
		if seen[o] {
			return nil, badMetadata("allowed_origins: %q is listed twice", o)
		}
		seen[o] = true
	}
	return slices.Clone(origins), nil
}

func checkOrigin(o string) error {
	if err := checkURI(o, true); err != nil {
		return err
	}
	u, _ := url.Parse(o)
	if u.Path != "" || u.RawQuery != "" || strings.ContainsAny(o, "?#") {
		return fmt.Errorf("%q is not an origin: write scheme://host[:port] with no path, not even \"/\"", o)
	}
	if o != strings.ToLower(o) {
		return fmt.Errorf("%q must be lower case, as browsers send it", o)
	}
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		return fmt.Errorf("%q names the default port, which browsers leave out", o)
	}
	return nil
}

// checkWebURI validates logo_uri and client_uri: pages a person's browser
// will load, so https (or loopback http) only; client_uri is shown on the
// confirm screen, so no character that hides or reorders text either.
func checkWebURI(u string) error {
	if err := display.Check(u); err != nil {
		return fmt.Errorf("URI %w", err)
	}
	return checkURI(u, false)
}

func checkURI(raw string, redirect bool) error {
	if raw == "" {
		return errors.New("empty URI")
	}
	if len(raw) > maxURILen {
		return fmt.Errorf("URI longer than %d bytes", maxURILen)
	}
	if strings.ContainsFunc(raw, isSpaceOrControl) {
		return fmt.Errorf("%q contains whitespace or control characters", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a valid URI", raw)
	}
	if !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URI with a host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not contain credentials", raw)
	}
	if redirect && (u.Fragment != "" || strings.Contains(raw, "#")) {
		return fmt.Errorf("%q must not contain a fragment (RFC 6749 §3.1.2)", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Hostname() == "" {
			return fmt.Errorf("%q has an empty host", raw)
		}
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q must use https (http is allowed only for 127.0.0.1, [::1] and localhost, RFC 8252 §7.3)", raw)
	default:
		return fmt.Errorf("%q must use https", raw)
	}
}

// isLoopback: the loopback hosts RFC 8252 §7.3 and §8.3 name. Only these
// spellings, not all of 127.0.0.0/8, so what is registered is what the
// OP compares.
func isLoopback(host string) bool {
	switch host {
	case "127.0.0.1", "::1", "localhost":
		return true
	}
	return false
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || (r >= 0x7f && r < 0xa0)
}

// checkText validates a free-text field shown to people: required, at
// most max characters, no control characters (they would rewrite a
// terminal or a log line), and none of the invisible or bidirectional
// characters that make a name read as another (issue 8: "\u202Eknab
// ruoY" shows as "Your Bank" on the confirm screen).
func checkText(field, s string, max int) error {
	if s == "" {
		return fmt.Errorf("%s is required", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%s is longer than %d characters", field, max)
	}
	if hasControl(s) {
		return fmt.Errorf("%s contains control characters", field)
	}
	if err := display.Check(s); err != nil {
		return fmt.Errorf("%s %w", field, err)
	}
	return nil
}

func (a *api) createClient(w http.ResponseWriter, r *http.Request) {
	var req clientRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	c, err := newClient(&req)
	if err != nil {
		code, desc := "invalid_client_metadata", err.Error()
		var me *metadataError
		if errors.As(err, &me) {
			code, desc = me.code, me.desc
		}
		writeError(w, http.StatusBadRequest, code, desc)
		return
	}
	if c.ID == "" {
		c.ID = storage.NewSecret(16)
	}
	var secret string
	if c.Type == storage.ClientConfidential {
		// 256 random bits, stored only as SHA-256 (storage.Hash).
		secret = storage.NewSecret(32)
		c.SecretHash = storage.Hash(secret)
	}
	c.CreatedAt = a.now().UTC()
	switch err := a.store.CreateClient(r.Context(), c); {
	case errors.Is(err, storage.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", fmt.Sprintf("client_id %q already exists", c.ID))
		return
	case err != nil:
		a.storageError(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "admin: client created", "client_id", c.ID, "type", string(c.Type), "first_party", c.FirstParty, "admin", actor(r.Context()))
	writeJSON(w, http.StatusCreated, toClientJSON(c, secret))
}

func (a *api) listClients(w http.ResponseWriter, r *http.Request) {
	cs, err := a.store.ListClients(r.Context())
	if err != nil {
		a.storageError(w, r, err)
		return
	}
	out := make([]clientJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, toClientJSON(c, ""))
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": out})
}

func (a *api) getClient(w http.ResponseWriter, r *http.Request) {
	c, ok := a.loadClient(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, toClientJSON(c, ""))
}

func (a *api) loadClient(w http.ResponseWriter, r *http.Request) (*storage.Client, bool) {
	id := r.PathValue("id")
	c, err := a.store.Client(r.Context(), id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such client")
		return nil, false
	case err != nil:
		a.storageError(w, r, err)
		return nil, false
	}
	return c, true
}

func (a *api) deleteClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	switch err := a.store.DeleteClient(r.Context(), id); {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such client")
		return
	case err != nil:
		a.storageError(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "admin: client deleted", "client_id", id, "admin", actor(r.Context()))
	w.WriteHeader(http.StatusNoContent)
}

// rotateClientSecret replaces a confidential client's secret. The old
// secret stops working at once: only the new hash is stored.
func (a *api) rotateClientSecret(w http.ResponseWriter, r *http.Request) {
	c, ok := a.loadClient(w, r)
	if !ok {
		return
	}
	if c.Type != storage.ClientConfidential {
		writeError(w, http.StatusBadRequest, "invalid_request", "public clients have no secret to rotate")
		return
	}
	secret := storage.NewSecret(32)
	switch err := a.store.SetClientSecretHash(r.Context(), c.ID, storage.Hash(secret)); {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such client")
		return
	case err != nil:
		a.storageError(w, r, err)
		return
	}
	c.SecretHash = storage.Hash(secret)
	a.log.InfoContext(r.Context(), "admin: client secret rotated", "client_id", c.ID, "admin", actor(r.Context()))
	writeJSON(w, http.StatusOK, toClientJSON(c, secret))
}

// hasControl reports whether s contains a C0 or C1 control character.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}
