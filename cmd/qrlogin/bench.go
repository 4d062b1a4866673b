package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/qrlogin/qrlogin/cmd/qrlogin/internal/load"
)

const benchUsage = `usage: qrlogin bench [flags]

Drives load against a running qrlogin server over HTTP and prints the
throughput, the errors and the latency of each step.

  --mode logins  complete QR logins: --concurrency PCs each start a login,
                 long-poll the token endpoint while one phone user scans
                 and confirms it through the phone API, and receive tokens.
  --mode polls   polls of pending logins: --pending logins are created
                 first, then polled round-robin with wait=0, each at most
                 once per the server's interval (--pace) or flat out.
  --mode starts  device authorizations: --concurrency workers start QR
                 logins at /qr/authorize back to back (left pending).

Every mode asks /qr/authorize for no qr_image unless --qr-image: a PC
that draws the QR itself from verification_uri_complete does the same.

A login counts only when the PC's token request answered 200 with an
access token and an ID token; the ID token's signature, iss, aud and exp
are verified on each PC's first login and one in --verify-id-tokens
after. Every other answer is a counted error. The report gives the
generator's own CPU per operation (it shares the machine with the
server); --cpu-profile writes its profile.

The server limits /qr/scan and /login to 20 requests/s per account and per
address, and a relying party's /qr/authorize to its quota (1,000/s by
default): start it with --rate-limit -1 to benchmark without limits.
On the in-memory store the demo data matches the defaults below:

  qrlogin serve --addr 127.0.0.1:8080 --issuer http://127.0.0.1:8080 --rate-limit -1
  qrlogin bench --issuer http://127.0.0.1:8080 --duration 10s

With PostgreSQL, register a confidential client allowed the QR grant, the
first-party phone app (public, redirect URI http://127.0.0.1/callback) and
a user with the admin commands, and pass them with the flags.

flags:
`

// runBench is `qrlogin bench`: a load generator for the QR login. It only
// ever sends requests to --issuer.
func runBench(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	cfg := load.Config{}
	var mode string
	fs := newFlagSet("bench", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Issuer, "issuer", "http://localhost:8080", "the server's issuer URL; every request goes there")
	fs.StringVar(&cfg.ClientID, "client-id", demoSiteID, "relying party: a confidential client allowed the QR grant")
	fs.StringVar(&cfg.ClientSecret, "client-secret", demoSiteSecret, "the relying party's secret")
	fs.StringVar(&cfg.Scope, "scope", "openid profile email", "scope requested at /qr/authorize")
	fs.StringVar(&cfg.PhoneClientID, "phone-client-id", phoneAppID, "the first-party phone app (public client)")
	fs.StringVar(&cfg.PhoneRedirectURI, "phone-redirect-uri", "http://127.0.0.1/callback", "the phone app's registered redirect URI")
	fs.StringVar(&cfg.Username, "username", demoUser, "the user the phone signs in as")
	fs.StringVar(&cfg.Password, "password", demoPassword, "that user's password")
	fs.BoolVar(&cfg.QRImage, "qr-image", false, "ask /qr/authorize for the rendered qr_image")
	fs.StringVar(&mode, "mode", "logins", "logins, polls or starts")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "concurrent PCs (logins) or polling workers (polls)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to drive load, after set-up")
	fs.DurationVar(&cfg.Wait, "wait", 10*time.Second, "logins: the PC's long-poll wait, whole seconds from 1s to 30s")
	fs.DurationVar(&cfg.ScanDelay, "scan-delay", 20*time.Millisecond,
		"logins: time from the PC's first long-poll to the phone's scan; a scan that overtakes the long-poll leaves it held for the full --wait")
	fs.DurationVar(&cfg.ThinkTime, "think-time", 0, "logins: time from the PC learning of the scan to the phone's confirm")
	fs.IntVar(&cfg.Pending, "pending", 1000, "polls: pending logins to create and poll round-robin")
	fs.BoolVar(&cfg.Pace, "pace", true, "polls: poll each login at most once per interval (RFC 8628 §3.5); false polls flat out and meets slow_down")
	fs.IntVar(&cfg.VerifyEvery, "verify-id-tokens", 100,
		"logins: verify the ID token's signature, iss, aud and exp on each PC's first login and one in N after (1: every login; 0: none, only its presence is checked)")
	var cpuProfile string
	fs.StringVar(&cpuProfile, "cpu-profile", "", "write a pprof CPU profile of the load generator itself, set-up excluded, to this file")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: bench takes no arguments, got %q", errUsage, fs.Args())
	}
	if cfg.VerifyEvery < 0 {
		return fmt.Errorf("%w: --verify-id-tokens %d is negative", errUsage, cfg.VerifyEvery)
	}
	if cfg.Wait%time.Second != 0 {
		return fmt.Errorf("%w: --wait %s is not whole seconds", errUsage, cfg.Wait)
	}

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.CPUProfile = f
	}

	var res *load.Result
	var err error
	switch mode {
	case "logins":
		fmt.Fprintf(stdout, "qrlogin bench: complete QR logins against %s for %s, %d PCs, long-poll wait %s",
			cfg.Issuer, cfg.Duration, cfg.Concurrency, cfg.Wait)
		fmt.Fprintf(stdout, ", scan delay %s", cfg.ScanDelay)
		if cfg.ThinkTime > 0 {
			fmt.Fprintf(stdout, ", think time %s", cfg.ThinkTime)
		}
		fmt.Fprintln(stdout)
		res, err = load.Logins(ctx, cfg)
	case "polls":
		fmt.Fprintf(stdout, "qrlogin bench: polls of %d pending logins against %s for %s, %d workers\n",
			cfg.Pending, cfg.Issuer, cfg.Duration, cfg.Concurrency)
		res, err = load.Polls(ctx, cfg)
	case "starts":
		fmt.Fprintf(stdout, "qrlogin bench: device authorizations against %s for %s, %d workers, qr_image %t\n",
			cfg.Issuer, cfg.Duration, cfg.Concurrency, cfg.QRImage)
		res, err = load.Starts(ctx, cfg)
	default:
		return fmt.Errorf("%w: --mode %q: want logins, polls or starts", errUsage, mode)
	}
	if err != nil {
		if load.IsRateLimited(err) {
			return fmt.Errorf("%w (the server is rate limiting: start it with --rate-limit -1 to benchmark)", err)
		}
		return err
	}
	printBench(stdout, mode, cfg, res, ctx.Err() != nil)
	if res.Completed == 0 {
		switch mode {
		case "polls":
			return fmt.Errorf("no poll was answered")
		case "starts":
			return fmt.Errorf("no login was started")
		}
		return fmt.Errorf("no login completed")
	}
	return nil
}

// printBench writes the report: throughput, answers, errors, latencies.
func printBench(w io.Writer, mode string, cfg load.Config, res *load.Result, interrupted bool) {
	var b strings.Builder
	if interrupted {
		b.WriteString("(interrupted)\n")
	}
	if mode == "polls" {
		fmt.Fprintf(&b, "set-up:  %d pending logins created in %s\n", res.Pending, res.Setup.Round(time.Millisecond))
	}
	b.WriteString("\n")
	noun := mode // logins, polls or starts
	fmt.Fprintf(&b, "%-8s %d in %s = %.1f/s\n", noun+":", res.Completed, res.Elapsed.Round(time.Millisecond), res.Rate())
	if res.CPUKnown {
		// The generator's own cost: on a machine it shares with the
		// server, CPU it takes is CPU the server does not get.
		fmt.Fprintf(&b, "generator CPU: %s in %s (%.2f cores)", res.CPU.Round(time.Millisecond), res.Elapsed.Round(time.Millisecond),
			res.CPU.Seconds()/res.Elapsed.Seconds())
		if res.Completed > 0 {
			fmt.Fprintf(&b, " = %.1f µs per %s", float64(res.CPUPerOp())/float64(time.Microsecond), strings.TrimSuffix(noun, "s"))
		}
		b.WriteString("\n")
	}
	for _, code := range slices.Sorted(maps.Keys(res.Answers)) {
		n := res.Answers[code]
		fmt.Fprintf(&b, "  %-22s %9d  %9.1f/s\n", code, n, float64(n)/res.Elapsed.Seconds())
	}
	if mode == "logins" {
		switch cfg.VerifyEvery {
		case 0:
			b.WriteString("  ID tokens: present, not verified (--verify-id-tokens 0)\n")
		case 1:
			fmt.Fprintf(&b, "  ID tokens: every one verified (signature, iss, aud, exp): %d good, rejected ones are errors\n", res.Verified)
		default:
			fmt.Fprintf(&b, "  ID tokens: each PC's first and 1 in %d after verified (signature, iss, aud, exp): %d good, rejected ones are errors; the rest checked present\n",
				cfg.VerifyEvery, res.Verified)
		}
	}
	if res.Late > 0 {
		fmt.Fprintf(&b, "  %d scanned answers came only when the long-poll's wait ran out: the scan reached the server first (raise --scan-delay)\n", res.Late)
	}
	if res.Repolls > 0 {
		fmt.Fprintf(&b, "  %d polls sent before the confirm were answered scanned again and the PC polled once more\n", res.Repolls)
	}
	fmt.Fprintf(&b, "errors:  %d\n", res.ErrorCount())
	for _, kind := range slices.Sorted(maps.Keys(res.Errors)) {
		fmt.Fprintf(&b, "  %-40s %7d   e.g. %s\n", kind, res.Errors[kind], res.Examples[kind])
	}
	if res.RateLimited > 0 {
		b.WriteString("  the server is rate limiting: start it with --rate-limit -1 to benchmark\n")
	}
	if mode == "polls" && res.Interval > 0 && cfg.Pace {
		fmt.Fprintf(&b, "note:    paced to the server's interval (%s): at most %.0f polls/s from %d logins; raise --pending to find the server's limit\n",
			res.Interval, float64(res.Pending)/res.Interval.Seconds(), res.Pending)
	}

	b.WriteString("\n")
	fmt.Fprintf(&b, "%-18s %8s %9s %9s %9s %9s\n", "step", "count", "p50", "p90", "p99", "max")
	for _, step := range res.Order {
		l := res.Steps[step]
		fmt.Fprintf(&b, "%-18s %8d %9s %9s %9s %9s\n", step, len(l),
			ms(l.Percentile(50)), ms(l.Percentile(90)), ms(l.Percentile(99)), ms(l.Max()))
	}
	fmt.Fprint(w, b.String())
}

// ms formats a latency in milliseconds with a precision that suits it.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f < 10:
		return fmt.Sprintf("%.2fms", f)
	case f < 1000:
		return fmt.Sprintf("%.1fms", f)
	default:
		return fmt.Sprintf("%.0fms", f)
	}
}
