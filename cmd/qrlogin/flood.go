package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/qrlogin/qrlogin/cmd/qrlogin/internal/load"
)

const floodUsage = `usage: qrlogin flood [flags]

Replays the floods of issue 8 against a running qrlogin server and reports
what the server answered and its resident memory (VmRSS of --pid, read
from /proc) before, at most during, and after each case:

  authorize  /authorize with a 900 KB state, then with a 2 KB one
  polls      10,000 concurrent /login/status long-polls on one cookie
  conns      19,900 idle connections from one address
  passwords  152 concurrent 2 KB passwords; 60 wrong passwords for one
             account from many addresses; 152 unknown usernames

--count replaces each case's figure. Traffic comes from --sources
loopback addresses (127.0.0.10, .11, …) when the issuer is on loopback,
so per-address limits meet many addresses. The server keeps its default
limits; against the in-memory store's demo data:

  qrlogin serve --addr 127.0.0.1:18080 --issuer http://127.0.0.1:18080 --admin-addr 127.0.0.1:18081 &
  qrlogin flood --issuer http://127.0.0.1:18080 --pid $! --metrics-url http://127.0.0.1:18081/metrics

--case held (not in "all"; a measurement, not an attack) starts 10,000
QR logins at /qr/authorize and holds one token-endpoint long-poll on each:
the memory of held long-polls (issue 9). The server must allow them:

  qrlogin serve … --max-conns 30000 --max-conns-per-address 0 --client-rate-limit 1000000
  qrlogin flood --issuer … --pid … --metrics-url … --case held --hold 10s

This is hostile traffic: point it only at your own server.

flags:
`

// runFlood is `qrlogin flood`. It only ever sends requests to --issuer.
func runFlood(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	cfg := load.FloodConfig{}
	var cases string
	var pid, sources int
	fs := newFlagSet("flood", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), floodUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Issuer, "issuer", "http://localhost:8080", "the server's issuer URL; every request goes there")
	fs.StringVar(&cases, "case", "all", "cases to run, comma-separated: "+strings.Join(load.FloodCases, ", ")+", or all")
	fs.IntVar(&pid, "pid", 0, "the server's process id, for its memory (/proc/<pid>/status); 0: no memory figures")
	var metricsURL string
	fs.StringVar(&metricsURL, "metrics-url", "", "the server's /metrics (admin listener), for its refusals by limit and held long-polls; empty: none")
	fs.IntVar(&cfg.Count, "count", 0, "requests, long-polls or connections per case (0: the figures of issue 8)")
	fs.DurationVar(&cfg.Hold, "hold", 3*time.Second, "how long held long-polls and connections are kept open")
	fs.IntVar(&sources, "sources", 20, "loopback source addresses from 127.0.0.10 (loopback issuers only)")
	fs.StringVar(&cfg.ClientID, "client-id", demoSiteID, "a registered client, for /authorize and the login page")
	fs.StringVar(&cfg.ClientSecret, "client-secret", demoSiteSecret, "its secret, for the held case's /qr/authorize and token requests")
	fs.StringVar(&cfg.RedirectURI, "redirect-uri", "", "its registered redirect URI (default <issuer>/demo/callback, the demo site's)")
	fs.StringVar(&cfg.Username, "username", demoUser, "the account the wrong passwords are for")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: flood takes no arguments, got %q", errUsage, fs.Args())
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: --issuer %q is not a URL", errUsage, cfg.Issuer)
	}
	if cfg.RedirectURI == "" {
		cfg.RedirectURI = strings.TrimSuffix(cfg.Issuer, "/") + "/demo/callback"
	}
	if a, err := netip.ParseAddr(u.Hostname()); (err == nil && a.IsLoopback()) || u.Hostname() == "localhost" {
		for i := range min(sources, 200) {
			cfg.Sources = append(cfg.Sources, netip.AddrFrom4([4]byte{127, 0, 0, byte(10 + i)}))
		}
	}
	if pid > 0 {
		cfg.Memory = load.ProcMemory(pid)
	}
	if metricsURL != "" {
		cfg.Metrics = load.ScrapeMetrics(metricsURL)
	}
	run := load.FloodCases
	if cases != "all" {
		run = strings.Split(cases, ",")
		for _, c := range run {
			if !slices.Contains(load.FloodCases, c) && c != load.FloodHeld {
				return fmt.Errorf("%w: --case %q: want %s or all", errUsage, c, strings.Join(load.FloodCases, ", "))
			}
		}
	}
	// net/http logs a 429 the listener sends on a connection the client
	// dialled but had no request for ("Unsolicited response received on
	// idle HTTP channel"): expected here, and not the report.
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	fmt.Fprintf(stdout, "qrlogin flood against %s\n", cfg.Issuer)
	for _, c := range run {
		res, err := load.FloodCase(ctx, cfg, c)
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		printFlood(stdout, res, cfg.Memory != nil)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func printFlood(w io.Writer, r *load.FloodResult, memory bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s: %s (%s)\n", r.Case, r.What, r.Elapsed.Round(time.Millisecond))
	for _, k := range slices.Sorted(maps.Keys(r.Answers)) {
		fmt.Fprintf(&b, "  %-48s %7d\n", k, r.Answers[k])
	}
	if len(r.Refused) > 0 {
		b.WriteString("  the server counted refusals:")
		for _, k := range slices.Sorted(maps.Keys(r.Refused)) {
			fmt.Fprintf(&b, " %s %d;", k, r.Refused[k])
		}
		b.WriteString("\n")
	}
	if r.MaxHeld > 0 {
		fmt.Fprintf(&b, "  the server held at most %d long-polls\n", r.MaxHeld)
	}
	if r.Probe != "" {
		fmt.Fprintf(&b, "  %s\n", r.Probe)
	}
	if memory {
		fmt.Fprintf(&b, "  server RSS: %s before, %s at most during, %s after (peak of the process so far %s)\n",
			mib(r.Before.RSS), mib(r.Max), mib(r.After.RSS), mib(r.After.Peak))
	}
	fmt.Fprint(w, b.String())
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
