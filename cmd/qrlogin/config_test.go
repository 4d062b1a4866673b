package main

import (
	"errors"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a config file into a fresh directory.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qrlogin.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Precedence: the command line over the environment over the file over
// the defaults, flag by flag.
func TestConfigFilePrecedence(t *testing.T) {
	path := writeConfig(t, `
# every source sets some of these
qr-ttl = "3m"
poll-interval = "2s"
ticket-ttl = "30s"
signing-alg = "ES256"
rate-limit = 7.5
demo = false
trusted-proxies = ["10.0.0.0/8", "192.0.2.7"]
`)
	env := envMap(map[string]string{"QRLOGIN_POLL_INTERVAL": "4s", "QRLOGIN_TICKET_TTL": "45s"})
	fs, c := serveFlagSet(&syncBuffer{})
	if err := parseFlags(fs, []string{"--config", path, "--ticket-ttl", "50s"}, env); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ got, want any }{
		"file only":                  {c.qrTTL, 3 * time.Minute},
		"env over file":              {c.pollInterval, 4 * time.Second},
		"flag over env and file":     {c.ticketTTL, 50 * time.Second},
		"string from the file":       {c.signingAlg, "ES256"},
		"number from the file":       {c.limits.rateLimit, 7.5},
		"list from the file":         {c.net.trustedProxies, "10.0.0.0/8,192.0.2.7"},
		"default where none sets it": {c.idTokTTL, time.Hour},
		"file's false is explicit":   {explicit(fs)["demo"], true},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", name, tc.got, tc.want)
		}
	}

	// QRLOGIN_CONFIG names the file too; --config wins over it.
	other := writeConfig(t, `qr-ttl = "5m"`)
	fs, c = serveFlagSet(&syncBuffer{})
	if err := parseFlags(fs, nil, envMap(map[string]string{"QRLOGIN_CONFIG": other})); err != nil || c.qrTTL != 5*time.Minute || c.config != other {
		t.Errorf("QRLOGIN_CONFIG: qr-ttl %v config %q err %v", c.qrTTL, c.config, err)
	}
	fs, c = serveFlagSet(&syncBuffer{})
	if err := parseFlags(fs, []string{"--config", path}, envMap(map[string]string{"QRLOGIN_CONFIG": other})); err != nil || c.qrTTL != 3*time.Minute {
		t.Errorf("--config over QRLOGIN_CONFIG: qr-ttl %v err %v", c.qrTTL, err)
	}
}

// A file that does not say what the operator meant is refused, with the
// file, the line or the key named: a typo must not leave a default on.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"unknown key", `qr-tll = "2m"`, `unknown key "qr-tll"`},
		{"a table", "[database]\nurl = \"postgres://x\"", "tables are not used"},
		{"a duration as a number", `qr-ttl = 120`, "qr-ttl"},
		{"a date", `qr-ttl = 2026-01-01`, "qr-ttl"},
		{"a bad value for the flag", `rate-limit = "fast"`, "rate-limit"},
		{"syntax", "issuer = \"https://x\nqr-ttl = \"2m\"", "line 1"},
		{"config in config", `config = "/etc/other.toml"`, `unknown key "config"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.text)
			fs, _ := serveFlagSet(&syncBuffer{})
			err := parseFlags(fs, []string{"--config", path}, envMap(nil))
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v, want a usage error naming %s and %q", err, path, tc.want)
			}
		})
	}
	fs, _ := serveFlagSet(&syncBuffer{})
	if err := parseFlags(fs, []string{"--config", "/nonexistent/qrlogin.toml"}, envMap(nil)); err == nil {
		t.Error("a missing config file was ignored")
	}
}

// Secrets as references: file: (a Docker or Kubernetes secret, trailing
// newline dropped) and env:, from the file, the environment or a flag; a
// database password joins the URL. Errors never show a secret.
func TestSecretReferences(t *testing.T) {
	dir := t.TempDir()
	secretFile := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	admin := secretFile("admin", "s3cret-admin\n")
	pw := secretFile("pw", "p@ss:w/rd\r\n")
	path := writeConfig(t, `
admin-client-secret = "file:`+admin+`"
key-encryption-key = "env:VAULT_KEK"
database-url = "postgres://qrlogin@db1:5432,db2:5432/qrlogin?target_session_attrs=read-write"
database-password = "file:`+pw+`"
`)
	fs, c := serveFlagSet(&syncBuffer{})
	if err := parseFlags(fs, []string{"--config", path}, envMap(map[string]string{"VAULT_KEK": "a2V5"})); err != nil {
		t.Fatal(err)
	}
	if c.adminClientSecret != "s3cret-admin" || c.keyEncryptionKey != "a2V5" || c.databasePassword != "p@ss:w/rd" {
		t.Fatalf("resolved: admin %q kek %q password %q", c.adminClientSecret, c.keyEncryptionKey, c.databasePassword)
	}
	dbURL, err := withPassword(c.databaseURL, c.databasePassword)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := u.User.Password(); p != "p@ss:w/rd" || u.User.Username() != "qrlogin" || u.Host != "db1:5432,db2:5432" {
		t.Fatalf("database URL %s", dbURL)
	}

	// From the environment and from a flag, too.
	fs, c = serveFlagSet(&syncBuffer{})
	if err := parseFlags(fs, []string{"--key-encryption-key", "file:" + admin},
		envMap(map[string]string{"QRLOGIN_ADMIN_CLIENT_SECRET": "env:OTHER", "OTHER": "from-other"})); err != nil {
		t.Fatal(err)
	}
	if c.adminClientSecret != "from-other" || c.keyEncryptionKey != "s3cret-admin" {
		t.Fatalf("admin %q kek %q", c.adminClientSecret, c.keyEncryptionKey)
	}

	for name, args := range map[string][]string{
		"missing file":  {"--admin-client-secret", "file:" + filepath.Join(dir, "nope")},
		"empty file":    {"--admin-client-secret", "file:" + secretFile("empty", "\n")},
		"unset env":     {"--key-encryption-key", "env:NOT_SET_ANYWHERE"},
		"not a secret":  {"--issuer", "file:" + admin, "--database-url", "postgres://x@h/db", "--database-password", "file:" + filepath.Join(dir, "nope")},
		"password, DSN": {"--database-url", "host=db user=qrlogin", "--database-password", "pw"},
	} {
		t.Run(name, func(t *testing.T) {
			fs, c := serveFlagSet(&syncBuffer{})
			err := parseFlags(fs, args, envMap(nil))
			if err == nil {
				_, err = withPassword(c.databaseURL, c.databasePassword)
			}
			if !errors.Is(err, errUsage) || strings.Contains(err.Error(), "s3cret-admin") {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// A real serve from a config file: the banner names the file, and the
// admin secret given as a file: reference is the one the admin listener
// accepts.
func TestServeFromConfigFile(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "admin-secret")
	if err := os.WriteFile(secret, []byte("admin-secret-from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, `
admin-client-id = "ops"
admin-client-secret = "file:`+secret+`"
qr-ttl = "90s"
`)
	issuer, out := startServe(t, "--config", path)
	if !strings.Contains(out.String(), "config:          "+path) {
		t.Errorf("banner does not name the config file:\n%s", out)
	}
	if strings.Contains(out.String(), "admin-secret-from-a-file") {
		t.Errorf("banner prints a secret it did not generate:\n%s", out)
	}
	admin := listeningRe.FindStringSubmatch(out.String())[2]
	for secret, want := range map[string]int{"admin-secret-from-a-file": 200, "file:" + secret: 401} {
		req, _ := http.NewRequest("POST", "http://"+admin+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("ops", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("admin token with %q: %d, want %d", secret, resp.StatusCode, want)
		}
	}
	// The file's qr-ttl is in force.
	if status, body := demoAuthorize(t, issuer); status != 200 || body["expires_in"] != 90.0 {
		t.Errorf("qr-ttl from the file not in force: %d %v", status, body)
	}
}

// The README's example file is complete (every flag of serve, set or
// commented out) and loads.
func TestREADMEConfigExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- config-example:start -->\\s*```toml\n(.*?)```\\s*<!-- config-example:end -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no config example between <!-- config-example:start --> and <!-- config-example:end -->")
	}
	example := string(m[1])
	fs, _ := serveFlagSet(&syncBuffer{})
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		if !regexp.MustCompile(`(?m)^(# )?` + regexp.QuoteMeta(f.Name) + ` = `).MatchString(example) {
			t.Errorf("the README's example file lacks %s (as a key, or commented out as `# %s = …`)", f.Name, f.Name)
		}
	})
	path := writeConfig(t, example)
	if err := loadFlags(fs, []string{"--config", path}, envMap(nil)); err != nil {
		t.Fatalf("the README's example file does not load: %v", err)
	}
}

// Each lifetime flag reaches the server's configuration (a flag parsed
// but not passed on would leave the default in force unnoticed).
func TestLifetimeFlagsReachTheServer(t *testing.T) {
	fs, c := serveFlagSet(&syncBuffer{})
	args := []string{"--qr-ttl", "91s", "--ticket-ttl", "92s", "--access-token-ttl", "93s", "--id-token-ttl", "94s",
		"--refresh-token-ttl", "95s", "--session-ttl", "96s", "--audit-retention", "97s", "--notification-retention", "98s"}
	if err := loadFlags(fs, args, envMap(nil)); err != nil {
		t.Fatal(err)
	}
	cfg := c.idpConfig("http://127.0.0.1:1", nil)
	for name, got := range map[string]time.Duration{
		"qr-ttl": cfg.QRTTL, "ticket-ttl": cfg.TicketTTL, "access-token-ttl": cfg.AccessTokenTTL, "id-token-ttl": cfg.IDTokenTTL,
		"refresh-token-ttl": cfg.RefreshTokenTTL, "session-ttl": cfg.SessionTTL, "audit-retention": cfg.AuditRetention,
		"notification-retention": cfg.NotificationRetention,
	} {
		want, _ := time.ParseDuration(fs.Lookup(name).Value.String())
		if got != want {
			t.Errorf("--%s: the server gets %v, want %v", name, got, want)
		}
	}
}
