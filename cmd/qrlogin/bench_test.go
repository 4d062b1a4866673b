package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startBenchServer runs `qrlogin serve` with its issuer on 127.0.0.1 (the
// phone's sign-in must stay on the issuer's host) and returns the issuer.
func startBenchServer(t *testing.T, extra ...string) string {
	t.Helper()
	addr := freeAddr(t)
	issuer, _ := startServe(t, append([]string{"--addr", addr, "--issuer", "http://" + addr}, extra...)...)
	return issuer
}

func runBenchCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut syncBuffer
	err := run(context.Background(), append([]string{"bench"}, args...), func(string) string { return "" }, &out, &errOut)
	return out.String() + errOut.String(), err
}

// count reads "label: N" from the bench's report.
func count(t *testing.T, out, label string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(label) + `:?\s+(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in the report:\n%s", label, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// The bench completes real QR logins against a real server with the demo
// data's defaults, and reports every step.
func TestBenchLoginsCompleteWithoutErrors(t *testing.T) {
	issuer := startBenchServer(t, "--rate-limit", "-1")
	out, err := runBenchCmd(t, "--issuer", issuer, "--duration", "1s", "--concurrency", "2", "--wait", "2s")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	if n := count(t, out, "logins"); n == 0 {
		t.Errorf("no login completed:\n%s", out)
	}
	if n := count(t, out, "errors"); n != 0 {
		t.Errorf("%d errors:\n%s", n, out)
	}
	for _, step := range []string{"start", "scan", "scan-to-scanned", "confirm", "confirm-to-tokens", "total"} {
		if count(t, out, step) == 0 {
			t.Errorf("step %s has no samples:\n%s", step, out)
		}
	}
}

// Polls mode creates pending logins and reports what the server answered.
func TestBenchPollsAreAnswered(t *testing.T) {
	issuer := startBenchServer(t, "--rate-limit", "-1")
	out, err := runBenchCmd(t, "--issuer", issuer, "--mode", "polls", "--duration", "1s", "--concurrency", "2", "--pending", "20")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	polls := count(t, out, "polls")
	if polls == 0 {
		t.Errorf("no poll answered:\n%s", out)
	}
	// Every login's first poll is answered authorization_pending; polling
	// 20 logins for a second at loopback speed brings slow_down too.
	if n := count(t, out, "authorization_pending"); n < 20 {
		t.Errorf("%d authorization_pending answers, want at least one per login:\n%s", n, out)
	}
	if n := count(t, out, "errors"); n != 0 {
		t.Errorf("%d errors:\n%s", n, out)
	}
	if count(t, out, "poll") != polls {
		t.Errorf("latency samples differ from the polls counted:\n%s", out)
	}
}

// Starts mode starts QR logins back to back and counts them.
func TestBenchStartsAreCounted(t *testing.T) {
	issuer := startBenchServer(t, "--rate-limit", "-1")
	out, err := runBenchCmd(t, "--issuer", issuer, "--mode", "starts", "--duration", "1s", "--concurrency", "2")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	starts := count(t, out, "starts")
	if starts == 0 {
		t.Errorf("no login started:\n%s", out)
	}
	if n := count(t, out, "errors"); n != 0 {
		t.Errorf("%d errors:\n%s", n, out)
	}
	if count(t, out, "start") != starts {
		t.Errorf("latency samples differ from the starts counted:\n%s", out)
	}
	if !strings.Contains(out, "qr_image false") {
		t.Errorf("the report does not say whether the image was asked for:\n%s", out)
	}
}

// A rate-limited server fails the set-up with a hint, not a report full
// of 429s.
func TestBenchExplainsRateLimiting(t *testing.T) {
	issuer := startBenchServer(t, "--client-rate-limit", "1") // the relying party's quota: 1/s, burst 2
	out, err := runBenchCmd(t, "--issuer", issuer, "--mode", "polls", "--duration", "1s", "--concurrency", "2", "--pending", "200")
	if err == nil || !strings.Contains(err.Error(), "--rate-limit -1") {
		t.Fatalf("want an error pointing at --rate-limit -1, got %v\n%s", err, out)
	}
}

// A wrong password stops the bench before any load, saying what to check.
func TestBenchStopsOnPhoneSignInFailure(t *testing.T) {
	issuer := startBenchServer(t, "--rate-limit", "-1")
	out, err := runBenchCmd(t, "--issuer", issuer, "--duration", "1s", "--password", "wrong")
	if err == nil || !strings.Contains(err.Error(), "--password") {
		t.Fatalf("want a sign-in error naming --password, got %v\n%s", err, out)
	}
	if strings.Contains(out, "logins:") {
		t.Errorf("a report was printed after a failed set-up:\n%s", out)
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"an unknown mode is a usage error", []string{"--mode", "storm"}},
		{"a wait that is not whole seconds is a usage error", []string{"--wait", "1500ms"}},
		{"arguments after the flags are a usage error", []string{"extra"}},
		{"an unknown flag is a usage error", []string{"--no-such-flag"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runBenchCmd(t, tc.args...)
			if !errors.Is(err, errUsage) {
				t.Fatalf("got %v, want a usage error", err)
			}
		})
	}
	t.Run("a long-poll wait of zero is refused before any request", func(t *testing.T) {
		// Port 9 (discard) on loopback: nothing listens, and nothing is sent
		// because the check comes first.
		_, err := runBenchCmd(t, "--issuer", "http://127.0.0.1:9", "--wait", "0s")
		if err == nil || !strings.Contains(err.Error(), "wait must be 1 to 30 seconds") {
			t.Fatalf("got %v", err)
		}
	})
}

// The report gives the generator's own CPU per operation, measured over
// the load alone: with the server in another process, it is at most what
// this process used around the whole command (set-up included), and not
// a unit slip below it.
func TestBenchReportsItsOwnCPUPerOperation(t *testing.T) {
	bin := buildQrlogin(t)
	addr := freeAddr(t)
	p := startProcess(t, bin, cleanEnv(), "serve", "--addr", addr, "--admin-addr", "127.0.0.1:0",
		"--issuer", "http://"+addr, "--rate-limit", "-1", "--log-level", "error", "--shutdown-delay", "0")
	for _, mode := range []string{"logins", "starts"} {
		t.Run(mode, func(t *testing.T) {
			before := selfCPU(t)
			out, err := runBenchCmd(t, "--issuer", p.issuer, "--mode", mode, "--duration", "1s", "--concurrency", "2", "--wait", "2s")
			used := selfCPU(t) - before
			if err != nil {
				t.Fatalf("bench: %v\n%s", err, out)
			}
			m := regexp.MustCompile(`(?m)^generator CPU: (\S+) in \S+ \(\S+ cores\) = ([0-9.]+) µs per ` + strings.TrimSuffix(mode, "s") + `$`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no generator CPU line:\n%s", out)
			}
			total, err := time.ParseDuration(m[1])
			if err != nil {
				t.Fatal(err)
			}
			perOp, _ := strconv.ParseFloat(m[2], 64)
			n := count(t, out, mode)
			if total <= 0 || total > used+10*time.Millisecond || total < used/10 {
				t.Errorf("generator CPU %s, but the process used %s around the command", total, used)
			}
			// The printed figure is the total over the operations; the
			// printed total is rounded to the millisecond.
			if want := float64(total.Microseconds()) / float64(n); math.Abs(perOp-want) > 500/float64(n)+0.1 {
				t.Errorf("%.1f µs per op, but %s over %d ops is %.1f µs", perOp, total, n, want)
			}
		})
	}
}

// selfCPU is this process's CPU time so far, user and system.
func selfCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ID tokens are verified as a relying party would on the sample the
// report names: behind a proxy that breaks every ID token's signature,
// verifying each one fails every login and counts it; the default sample
// (each PC's first, then one in 100) catches the first of each PC; not
// verifying lets them through, which shows the proxy breaks nothing else.
func TestBenchVerifiesIDTokenSignatures(t *testing.T) {
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + front.Addr().String()
	back := freeAddr(t)
	startServe(t, "--addr", back, "--issuer", issuer, "--rate-limit", "-1")
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: back})
	proxy.ModifyResponse = tamperIDTokens
	srv := &http.Server{Handler: proxy}
	go srv.Serve(front)
	t.Cleanup(func() { srv.Close() })

	rejected := "confirm-to-tokens: 200 id_token rejected"
	t.Run("every token verified: every login fails and is counted", func(t *testing.T) {
		out, err := runBenchCmd(t, "--issuer", issuer, "--duration", "1s", "--concurrency", "2", "--wait", "2s", "--verify-id-tokens", "1")
		if err == nil || count(t, out, "logins") != 0 {
			t.Fatalf("logins completed with broken ID tokens (%v):\n%s", err, out)
		}
		if n := count(t, out, rejected); n == 0 || n != count(t, out, "errors") {
			t.Errorf("want every error to be a rejected ID token:\n%s", out)
		}
	})
	t.Run("the default sample catches each PC's first login", func(t *testing.T) {
		out, err := runBenchCmd(t, "--issuer", issuer, "--duration", "1s", "--concurrency", "2", "--wait", "2s")
		if err != nil {
			t.Fatalf("bench: %v\n%s", err, out)
		}
		if n := count(t, out, rejected); n < 1 || n > 2+count(t, out, "logins")/100+1 {
			t.Errorf("%d rejected, want each PC's first and one in 100 after:\n%s", n, out)
		}
		if !strings.Contains(out, "ID tokens: each PC's first and 1 in 100 after verified") {
			t.Errorf("the report does not say which ID tokens were verified:\n%s", out)
		}
	})
	t.Run("not verifying lets them through", func(t *testing.T) {
		out, err := runBenchCmd(t, "--issuer", issuer, "--duration", "1s", "--concurrency", "2", "--wait", "2s", "--verify-id-tokens", "0")
		if err != nil || count(t, out, "errors") != 0 {
			t.Fatalf("bench: %v\n%s", err, out)
		}
		if !strings.Contains(out, "ID tokens: present, not verified") {
			t.Errorf("the report does not say the ID tokens went unverified:\n%s", out)
		}
	})
}

// tamperIDTokens changes the first character of the signature of any
// id_token in a JSON answer.
func tamperIDTokens(resp *http.Response) error {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return nil
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		if tok, ok := m["id_token"].(string); ok {
			i := strings.LastIndexByte(tok, '.') + 1
			c := byte('A')
			if tok[i] == 'A' {
				c = 'B'
			}
			m["id_token"] = tok[:i] + string(c) + tok[i+1:]
			raw, _ = json.Marshal(m)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	resp.ContentLength = int64(len(raw))
	resp.Header.Set("Content-Length", strconv.Itoa(len(raw)))
	return nil
}
