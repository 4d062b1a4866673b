package idp_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage"
	"github.com/qrlogin/qrlogin/storage/postgres/pgtest"
)

// Interoperability: relying parties nobody here wrote, driving a real
// server over HTTP. go-oidc, x/oauth2 and zitadel's rp in Go; node's
// openid-client (testdata/openid-client) in a child process.

// idClaims is what these tests check in an ID token, whichever library
// verified its signature, issuer, audience and expiry.
type idClaims struct {
	Issuer   string
	Audience []string
	Subject  string
	Nonce    string
	AMR      []string
	AuthTime int64
	// AtHashOK reports that at_hash is present and matches the access
	// token (OIDC Core §3.1.3.6; §3.1.3.8 makes it optional in the code
	// flow, qrlogin always sends it and these tests hold it to that).
	AtHashOK bool
}

// checkIDClaims holds an ID token to OIDC Core §3.1.3.7: iss is the
// issuer, aud holds the client, the nonce sent comes back, auth_time is
// when the user signed in, amr says how.
func checkIDClaims(t *testing.T, s *testServer, c idClaims, clientID, nonce, user, amr string, authTime time.Time) {
	t.Helper()
	if c.Issuer != s.URL || !slices.Contains(c.Audience, clientID) {
		t.Errorf("iss %q aud %v, want %q and %q", c.Issuer, c.Audience, s.URL, clientID)
	}
	if c.Subject != s.users[user] || c.Nonce != nonce {
		t.Errorf("sub %q nonce %q, want %q %q", c.Subject, c.Nonce, s.users[user], nonce)
	}
	if !slices.Contains(c.AMR, amr) {
		t.Errorf("amr %v, want %q", c.AMR, amr)
	}
	if c.AuthTime != authTime.Unix() {
		t.Errorf("auth_time %d, want %d (when the user signed in)", c.AuthTime, authTime.Unix())
	}
	if !c.AtHashOK {
		t.Error("at_hash is missing or does not match the access token")
	}
}

// approveOnPhone scans qr and confirms it through the phone API, as the
// phone app does, while the caller polls.
func approveOnPhone(t *testing.T, s *testServer, phone, qr string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticket := s.scan(t, phone, qr)
		if status, body := s.phone(t, phone, "/qr/confirm", map[string]string{"ticket": ticket}); status != 200 || body["status"] != "confirmed" {
			t.Errorf("confirm: %d %v", status, body)
		}
	}()
	return done
}

// go-oidc reads discovery (refusing an issuer that differs from the one
// asked for) and verifies ID tokens against /keys; x/oauth2 runs the code
// flow with PKCE, the device flow and refresh with the endpoints go-oidc
// discovered.
func TestGoOIDCInterop(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			s := newServer(t, signWith(alg))
			ctx := context.Background()
			provider, err := gooidc.NewProvider(ctx, s.URL)
			if err != nil {
				t.Fatalf("discovery: %v", err)
			}
			cfg := &oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, RedirectURL: "https://shop.example/cb",
				Endpoint: provider.Endpoint(), Scopes: []string{gooidc.ScopeOpenID, "profile", "email", gooidc.ScopeOfflineAccess}}
			cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
			if cfg.Endpoint.DeviceAuthURL != s.URL+"/qr/authorize" {
				t.Fatalf("device authorization endpoint %q", cfg.Endpoint.DeviceAuthURL)
			}
			// SupportedSigningAlgs left empty: go-oidc takes them from
			// discovery, so this also checks what discovery advertises.
			verifier := provider.Verifier(&gooidc.Config{ClientID: rpID})
			verify := func(tok *oauth2.Token) (idClaims, *gooidc.IDToken) {
				t.Helper()
				raw, _ := tok.Extra("id_token").(string)
				idt, err := verifier.Verify(ctx, raw)
				if err != nil {
					t.Fatalf("go-oidc refuses the ID token: %v", err)
				}
				var extra struct {
					AMR      []string `json:"amr"`
					AuthTime int64    `json:"auth_time"`
				}
				if err := idt.Claims(&extra); err != nil {
					t.Fatal(err)
				}
				return idClaims{Issuer: idt.Issuer, Audience: idt.Audience, Subject: idt.Subject, Nonce: idt.Nonce,
					AMR: extra.AMR, AuthTime: extra.AuthTime,
					AtHashOK: idt.AccessTokenHash != "" && idt.VerifyAccessToken(tok.AccessToken) == nil}, idt
			}

			t.Run("code flow with PKCE, userinfo, refresh", func(t *testing.T) {
				pkce, nonce := oauth2.GenerateVerifier(), storage.NewSecret(16)
				signedIn := s.clock.Now()
				code := s.authorize(t, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce), gooidc.Nonce(nonce)), "alice")
				tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(pkce))
				if err != nil {
					t.Fatalf("exchange: %v", err)
				}
				c, idt := verify(tok)
				checkIDClaims(t, s, c, rpID, nonce, "alice", "pwd", signedIn)

				info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
				if err != nil {
					t.Fatalf("userinfo: %v", err)
				}
				if info.Subject != idt.Subject || info.Email != "alice@example.com" || !info.EmailVerified {
					t.Errorf("userinfo: %+v", info)
				}

				// OIDC Core §12.2: a refreshed ID token keeps auth_time (the
				// sign-in did not happen again) and has no nonce.
				s.clock.Advance(time.Minute)
				refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
				if err != nil {
					t.Fatalf("refresh: %v", err)
				}
				if refreshed.RefreshToken == tok.RefreshToken || refreshed.AccessToken == tok.AccessToken {
					t.Error("refresh did not issue new tokens")
				}
				c, _ = verify(refreshed)
				checkIDClaims(t, s, c, rpID, "", "alice", "pwd", signedIn)
			})

			t.Run("device flow approved on the phone", func(t *testing.T) {
				phone := s.phoneToken(t, "bob")
				nonce := storage.NewSecret(16)
				// golang/oauth2#685: DeviceAuth sends no client secret, and
				// RFC 8628 §3.1 wants the client authenticated.
				da, err := cfg.DeviceAuth(ctx, oauth2.SetAuthURLParam("client_secret", rpSecret), oauth2.SetAuthURLParam("nonce", nonce))
				if err != nil {
					t.Fatalf("DeviceAuth: %v", err)
				}
				confirmedAt := s.clock.Now()
				done := approveOnPhone(t, s, phone, da.VerificationURIComplete)
				tok, err := cfg.DeviceAccessToken(ctx, da)
				<-done
				if err != nil {
					t.Fatalf("DeviceAccessToken: %v", err)
				}
				c, _ := verify(tok)
				checkIDClaims(t, s, c, rpID, nonce, "bob", "qr", confirmedAt)
			})
		})
	}
}

// zitadel's rp: discovery, the code flow with PKCE, the device flow and
// refresh, each ID token verified by rp itself (signature, iss, aud, exp,
// iat, nonce, at_hash when present — so its presence is checked here).
func TestZitadelRPInterop(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	var nonce string
	party, err := rp.NewRelyingPartyOIDC(ctx, s.URL, rpID, rpSecret, "https://shop.example/cb",
		[]string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess},
		rp.WithVerifierOpts(rp.WithNonce(func(context.Context) string { return nonce })),
		rp.WithAuthStyle(oauth2.AuthStyleInHeader), rp.WithSigningAlgsFromDiscovery())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	claimsOf := func(tokens *oidc.Tokens[*oidc.IDTokenClaims]) idClaims {
		c := tokens.IDTokenClaims
		return idClaims{Issuer: c.Issuer, Audience: c.Audience, Subject: c.Subject, Nonce: c.Nonce, AMR: c.AuthenticationMethodsReferences,
			AuthTime: c.AuthTime.AsTime().Unix(), AtHashOK: c.AccessTokenHash != "" && rp.VerifyAccessToken(tokens.AccessToken, c.AccessTokenHash, c.SignatureAlg) == nil}
	}

	t.Run("code flow with PKCE and refresh", func(t *testing.T) {
		pkce := oauth2.GenerateVerifier()
		nonce = storage.NewSecret(16)
		signedIn := s.clock.Now()
		code := s.authorize(t, rp.AuthURL("st", party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(pkce)),
			rp.AuthURLOpt(rp.WithURLParam("nonce", nonce))), "alice")
		tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx, code, party, rp.WithCodeVerifier(pkce))
		if err != nil {
			t.Fatalf("code exchange: %v", err)
		}
		checkIDClaims(t, s, claimsOf(tokens), rpID, nonce, "alice", "pwd", signedIn)

		s.clock.Advance(time.Minute)
		nonce = "" // OIDC Core §12.2: a refreshed ID token carries no nonce
		refreshed, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, party, tokens.RefreshToken, "", "")
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if refreshed.IDTokenClaims == nil {
			t.Fatal("no ID token in the refresh response")
		}
		checkIDClaims(t, s, claimsOf(refreshed), rpID, "", "alice", "pwd", signedIn)
	})

	t.Run("device flow approved on the phone", func(t *testing.T) {
		phone := s.phoneToken(t, "bob")
		da, err := rp.DeviceAuthorization(ctx, party.OAuthConfig().Scopes, party, nil)
		if err != nil {
			t.Fatalf("device authorization: %v", err)
		}
		confirmedAt := s.clock.Now()
		done := approveOnPhone(t, s, phone, da.VerificationURIComplete)
		resp, err := rp.DeviceAccessToken(ctx, da.DeviceCode, time.Duration(da.Interval)*time.Second, party)
		<-done
		if err != nil {
			t.Fatalf("device access token: %v", err)
		}
		nonce = ""
		claims, err := rp.VerifyTokens[*oidc.IDTokenClaims](ctx, resp.AccessToken, resp.IDToken, party.IDTokenVerifier())
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		tokens := &oidc.Tokens[*oidc.IDTokenClaims]{Token: &oauth2.Token{AccessToken: resp.AccessToken}, IDTokenClaims: claims}
		checkIDClaims(t, s, claimsOf(tokens), rpID, "", "bob", "qr", confirmedAt)
	})
}

// openidClientDir is the node project that drives qrlogin with
// openid-client: package.json, its lock file and interop.mjs.
const openidClientDir = "testdata/openid-client"

// nodeWithOpenIDClient returns the node binary, or skips t (fails it when
// CI is set: .ci/run installs node and runs npm ci) when node or the
// installed packages are missing.
func nodeWithOpenIDClient(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(openidClientDir, "node_modules", "openid-client", "package.json"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node and openid-client are needed in CI (.ci/run installs them): %v", err)
		}
		t.Skipf("node or openid-client missing (npm ci --prefix idp/%s): %v", openidClientDir, err)
	}
	return node
}

// Node's openid-client v6 against a real server, on both stores. The
// script prints a PASS or FAIL line per flow; each line goes to the test
// log as it comes (go test -v shows them), and any failure fails the test.
func TestOpenIDClientInterop(t *testing.T) {
	node := nodeWithOpenIDClient(t)
	// One signing algorithm per store: both are covered without a third run.
	t.Run("memory, RS256", func(t *testing.T) {
		runOpenIDClient(t, node, "RS256", newServer(t, realClock, signWith("RS256")))
	})
	t.Run("postgres, ES256", func(t *testing.T) {
		store := pgtest.OpenStore(t, pgtest.NewDatabase(t))
		runOpenIDClient(t, node, "ES256", newServerOn(t, store, realClock, signWith("ES256")))
	})
}

// realClock: openid-client checks iat and exp against its own clock.
func realClock(c *idp.Config) { c.Now = time.Now }

func signWith(alg string) serverOpt { return func(c *idp.Config) { c.SigningAlg = alg } }

// The relying parties openid-client plays: one authenticating with HTTP
// Basic, one with client_secret_post.
const (
	ncRP, ncRPSecret, ncRPRedirect    = "node-rp", "node-rp-secret-0123456789", "https://rp.example/cb"
	ncRPPostLogout                    = "https://rp.example/logged-out"
	ncRP2, ncRP2Secret, ncRP2Redirect = "node-rp2", "node-rp2-secret-0123456789", "https://rp2.example/cb"
)

func runOpenIDClient(t *testing.T, node, alg string, s *testServer) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, c := range []*storage.Client{
		{ID: ncRP, Name: "openid-client", SecretHash: storage.Hash(ncRPSecret), Type: storage.ClientConfidential,
			RedirectURIs: []string{ncRPRedirect}, PostLogoutRedirectURIs: []string{ncRPPostLogout}, GrantTypes: allGrants,
			CreatedAt: time.Now().UTC()},
		{ID: ncRP2, Name: "openid-client 2", SecretHash: storage.Hash(ncRP2Secret), Type: storage.ClientConfidential,
			RedirectURIs: []string{ncRP2Redirect}, GrantTypes: allGrants, CreatedAt: time.Now().UTC()},
	} {
		if err := s.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(ctx, node, "interop.mjs")
	cmd.Dir = openidClientDir
	cmd.Env = append(os.Environ(),
		"QRLOGIN_ISSUER="+s.URL,
		"QRLOGIN_RP_ID="+ncRP, "QRLOGIN_RP_SECRET="+ncRPSecret, "QRLOGIN_RP_REDIRECT="+ncRPRedirect,
		"QRLOGIN_RP_POST_LOGOUT="+ncRPPostLogout,
		"QRLOGIN_RP2_ID="+ncRP2, "QRLOGIN_RP2_SECRET="+ncRP2Secret, "QRLOGIN_RP2_REDIRECT="+ncRP2Redirect,
		"QRLOGIN_USERNAME=alice", "QRLOGIN_PASSWORD=alice-password", "QRLOGIN_SUB="+s.users["alice"],
		"QRLOGIN_PHONE_TOKEN="+s.phoneToken(t, "alice"), "QRLOGIN_ID_TOKEN_ALG="+alg,
	)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // one stream, in order
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var passed, failed int
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		line := lines.Text()
		t.Log(line)
		switch {
		case strings.HasPrefix(line, "PASS "):
			passed++
		case strings.HasPrefix(line, "FAIL "):
			failed++
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) || failed > 0:
		t.Errorf("openid-client: %d flows failed (%v)", failed, err)
	case err != nil:
		t.Fatalf("running node: %v", err)
	case passed == 0:
		t.Error("openid-client ran no flow")
	}
}
