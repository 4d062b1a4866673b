package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tests that run qrlogin as a real process: built here, started, sent
// signals, its exit status read. What in-process tests cannot show
// (signal handling, exit codes) is tested this way.

// buildQrlogin builds the qrlogin binary into a temporary directory.
func buildQrlogin(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "qrlogin")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a running `qrlogin serve`.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	err            error // cmd.Wait's, once done is closed
	issuer         string
	public, admin  string // listener addresses
}

var listeningRe = regexp.MustCompile(`listening on:\s+(\S+) \(public\), (\S+) \(admin\)`)

// cleanEnv is the test's environment without any QRLOGIN_* variable, so
// the process sees only what a test gives it.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "QRLOGIN_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startProcess runs bin with args and waits for its banner. The process
// is killed at the end of the test if it is still running.
func startProcess(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out := p.stdout.String()
		if m := listeningRe.FindStringSubmatch(out); m != nil {
			p.public, p.admin = m[1], m[2]
			p.issuer = issuerRe.FindStringSubmatch(out)[1]
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("qrlogin exited: %v\nstdout:\n%s\nstderr:\n%s", p.err, out, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("qrlogin printed no banner:\n%s\n%s", p.stdout, p.stderr)
	return nil
}

func (p *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("qrlogin did not exit\nstderr:\n%s", p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// metric reads one series from the admin listener's /metrics.
func (p *process) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return ""
}

// untilMetric waits until series name reads want.
func (p *process) untilMetric(t *testing.T, name, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for p.metric(t, name) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %s", name, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pollAnswer is a token endpoint answer, decoded strictly.
type pollAnswer struct {
	status int
	ctype  string
	body   map[string]any
	err    error
}

// demoPoll polls the QR grant as the demo site, with a client that gives
// up well before the 30 s a held poll would last without a drain. It does
// not use t: it runs in goroutines.
func demoPoll(base, deviceCode, wait string) pollAnswer {
	form := url.Values{"grant_type": {"urn:qrlogin:params:oauth:grant-type:qr"}, "device_code": {deviceCode}, "wait": {wait}}
	req, _ := http.NewRequest("POST", base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(demoSiteID, demoSiteSecret)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return pollAnswer{err: err}
	}
	defer resp.Body.Close()
	a := pollAnswer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type")}
	dec := json.NewDecoder(resp.Body)
	dec.DisallowUnknownFields()
	if a.err = dec.Decode(&a.body); a.err == nil {
		if _, err := dec.Token(); err != io.EOF {
			a.err = fmt.Errorf("more after the JSON object: %v", err)
		}
	}
	return a
}

// pending checks a well-formed authorization_pending answer with qr_status.
func (a pollAnswer) pending(qrStatus string) error {
	if a.err != nil {
		return a.err
	}
	if a.status != 400 || !strings.HasPrefix(a.ctype, "application/json") || a.body["error"] != "authorization_pending" || a.body["qr_status"] != qrStatus {
		return fmt.Errorf("want 400 authorization_pending qr_status=%s, got %d %s %v", qrStatus, a.status, a.ctype, a.body)
	}
	return nil
}

// demoAuthorize starts a QR login with the demo site's credentials and
// returns the status and the decoded answer.
func demoAuthorize(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/qr/authorize", strings.NewReader("scope=openid"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(demoSiteID, demoSiteSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("/qr/authorize: %d, not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

// startDemoLogin starts a QR login as the demo site and returns its
// device_code, after one poll (the next one is held).
func startDemoLogin(t *testing.T, base string) string {
	t.Helper()
	status, body := demoAuthorize(t, base)
	code, _ := body["device_code"].(string)
	if status != 200 || code == "" {
		t.Fatalf("/qr/authorize: %d %v", status, body)
	}
	if err := demoPoll(base, code, "0").pending("pending"); err != nil {
		t.Fatalf("first poll: %v", err)
	}
	return code
}

// holdPoll starts a QR login as the demo site and a wait=30 long-poll on
// it, and returns once the process holds the poll; its answer comes on
// held.
func (p *process) holdPoll(t *testing.T) (deviceCode string, held <-chan pollAnswer) {
	t.Helper()
	base := "http://" + p.public
	deviceCode = startDemoLogin(t, base)
	ch := make(chan pollAnswer, 1)
	go func() { ch <- demoPoll(base, deviceCode, "30") }()
	p.untilMetric(t, "qrlogin_long_polls", "1")
	return deviceCode, ch
}

// stopsCleanly sends SIGTERM: the held poll is answered pending and the
// process exits 0.
func (p *process) stopsCleanly(t *testing.T, held <-chan pollAnswer) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
	if err := (<-held).pending("pending"); err != nil {
		t.Fatalf("held long-poll at SIGTERM: %v\nstderr:\n%s", err, p.stderr)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0\nstderr:\n%s", code, p.stderr)
	}
}

// SIGTERM on a real process: the held long-poll gets a well-formed
// authorization_pending answer with its qr_status (not an empty reply),
// /ready answers 503 during the drain, a new long-poll is answered, a
// request in flight when the listener closes still completes, and the
// process exits 0.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	bin := buildQrlogin(t)
	p := startProcess(t, bin, cleanEnv(), "serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--shutdown-delay", "10m", "--shutdown-grace", "30s")
	base := "http://" + p.public
	deviceCode, held := p.holdPoll(t)

	// A request in flight: headers and half of its body sent.
	body := url.Values{"scope": {"openid profile email"}}.Encode()
	conn, err := net.Dial("tcp", p.public)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /qr/authorize HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		p.public, basicAuth(demoSiteID, demoSiteSecret), len(body), body[:len(body)/2])

	p.signal(t, syscall.SIGTERM)
	if err := (<-held).pending("pending"); err != nil {
		t.Fatalf("held long-poll at SIGTERM: %v\nstderr:\n%s", err, p.stderr)
	}
	resp, err := http.Get(base + "/ready")
	if err != nil {
		t.Fatalf("/ready during the drain: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/ready during the drain: %d, want 503", resp.StatusCode)
	}
	if err := demoPoll(base, deviceCode, "30").pending("pending"); err != nil {
		t.Fatalf("new long-poll during the drain: %v", err)
	}

	// A second signal ends the delay: the listener closes, while the
	// request in flight may still finish.
	p.signal(t, syscall.SIGTERM)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", p.public)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts after the second signal")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := io.WriteString(conn, body[len(body)/2:]); err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the request in flight got no answer: %v", err)
	}
	var inflight map[string]any
	err = json.NewDecoder(r.Body).Decode(&inflight)
	r.Body.Close()
	if err != nil || r.StatusCode != 200 || inflight["device_code"] == nil {
		t.Fatalf("the request in flight: %d %v %v", r.StatusCode, inflight, err)
	}

	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0\nstderr:\n%s", code, p.stderr)
	}
}

// The plain path: one SIGTERM, the held poll answered, the delay passes,
// the process exits 0 by itself.
func TestServeExitsZeroAfterDrain(t *testing.T) {
	bin := buildQrlogin(t)
	p := startProcess(t, bin, cleanEnv(), "serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--shutdown-delay", "100ms")
	_, held := p.holdPoll(t)
	p.stopsCleanly(t, held)
}

func basicAuth(id, secret string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(id, secret)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// SIGHUP is the usual "reload" signal (a certificate deploy hook, a
// config manager, a closed terminal). Without --tls-cert there is nothing
// to reload: the process says so and goes on serving — Go's default for
// SIGHUP, exit at once, cut every held long-poll with an empty reply and
// skipped the drain. The held poll is then answered by the SIGTERM drain.
func TestServeSurvivesSIGHUPWithoutTLS(t *testing.T) {
	bin := buildQrlogin(t)
	p := startProcess(t, bin, cleanEnv(), "serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--shutdown-delay", "100ms")
	_, held := p.holdPoll(t)

	p.signal(t, syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.stderr.String(), "SIGHUP") {
		select {
		case <-p.done:
			t.Fatalf("qrlogin exited on SIGHUP: %v\nstderr:\n%s", p.err, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP was not logged\nstderr:\n%s", p.stderr)
		}
	}
	if got := p.metric(t, "qrlogin_long_polls"); got != "1" {
		t.Fatalf("after SIGHUP qrlogin_long_polls = %q, want the poll still held", got)
	}
	resp, err := http.Get("http://" + p.public + "/ready")
	if err != nil {
		t.Fatalf("/ready after SIGHUP: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/ready after SIGHUP: %d", resp.StatusCode)
	}
	p.stopsCleanly(t, held)
}
