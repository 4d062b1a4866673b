package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// docker-compose.yml, .env.example and the Dockerfile agree with serve
// and with each other: every QRLOGIN_* variable compose sets is a flag of
// serve, every secret comes from .env or the environment (no value in the
// file), .env.example names each variable compose requires, both health
// checks ask /ready, and compose gives a drain its time. When docker
// compose (or docker-compose) is installed, it must accept the file.
func TestComposeFile(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	compose, envExample, dockerfile := read("docker-compose.yml"), read(".env.example"), read("Dockerfile")

	fs, _ := serveFlagSet(&syncBuffer{})
	vars := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { vars[envName(f.Name)] = true })
	for _, m := range regexp.MustCompile(`(?m)^\s+(QRLOGIN_[A-Z_]+):\s*(.*)$`).FindAllStringSubmatch(compose, -1) {
		if !vars[m[1]] {
			t.Errorf("compose sets %s, which is no flag of serve", m[1])
		}
		if strings.Contains(m[1], "SECRET") || strings.Contains(m[1], "PASSWORD") || strings.Contains(m[1], "KEY_ENCRYPTION") {
			if !regexp.MustCompile(`^\$\{[A-Z_]+:\?[^}]*\}$`).MatchString(strings.TrimSpace(m[2])) {
				t.Errorf("compose gives the secret %s a value (%s): it must come from .env or the environment", m[1], m[2])
			}
		}
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z_]+):\?`).FindAllStringSubmatch(compose, -1) {
		if !regexp.MustCompile(`(?m)^` + m[1] + `=`).MatchString(envExample) {
			t.Errorf(".env.example does not name %s, which compose requires", m[1])
		}
	}
	if strings.Contains(compose, "/healthz") || !strings.Contains(compose, "http://127.0.0.1:8080/ready") {
		t.Error("compose's qrlogin health check must ask /ready")
	}
	if !strings.Contains(compose, "pg_isready") {
		t.Error("compose's postgres health check must run pg_isready")
	}
	if !regexp.MustCompile(`(?m)^HEALTHCHECK .*\n?.*http://127\.0\.0\.1:8080/ready`).MatchString(dockerfile) {
		t.Error("the Dockerfile's HEALTHCHECK must ask /ready")
	}
	_, c := serveFlagSet(&syncBuffer{})
	m := regexp.MustCompile(`stop_grace_period:\s*(\S+)`).FindStringSubmatch(compose)
	if m == nil {
		t.Fatal("compose has no stop_grace_period: Docker's 10 s would kill a drain")
	}
	if d, err := time.ParseDuration(m[1]); err != nil || d <= c.shutdownDelay+c.shutdownGrace {
		t.Errorf("stop_grace_period %s does not exceed --shutdown-delay + --shutdown-grace (%v)", m[1], c.shutdownDelay+c.shutdownGrace)
	}

	// The tool itself, when there is one, with .env.example filled in.
	var tool []string
	if exec.Command("docker", "compose", "version").Run() == nil {
		tool = []string{"docker", "compose"}
	} else if _, err := exec.LookPath("docker-compose"); err == nil {
		tool = []string{"docker-compose"}
	} else {
		t.Log("neither docker compose nor docker-compose is installed: checked by reading only")
		return
	}
	dir := t.TempDir()
	for _, name := range []string{"docker-compose.yml", "Dockerfile"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(read(name)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	filled := regexp.MustCompile(`(?m)^([A-Z_]+)=$`).ReplaceAllString(envExample, "${1}=test-value")
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(filled), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool[0], append(tool[1:], "config")...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "test-value") {
		t.Fatalf("%s config: %v\n%s", strings.Join(tool, " "), err, out)
	}
	// Without .env it refuses, naming what is missing.
	if err := os.Remove(filepath.Join(dir, ".env")); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(tool[0], append(tool[1:], "config")...)
	cmd.Dir = dir
	cmd.Env = cleanEnvWithout("POSTGRES_PASSWORD", "QRLOGIN_")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "in .env") {
		t.Fatalf("%s config without .env: %v\n%s", strings.Join(tool, " "), err, out)
	}
}

// cleanEnvWithout is the test's environment without the variables that
// start with any of prefixes.
func cleanEnvWithout(prefixes ...string) []string {
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}
