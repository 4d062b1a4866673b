package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The Grafana dashboard in grafana/qrlogin.json queries only series that
// /metrics exposes: every metric name in its queries is found on the admin
// listener of a real server after some QR logins.
func TestDashboardQueriesExistingMetrics(t *testing.T) {
	raw, err := os.ReadFile("grafana/qrlogin.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Query any
			}
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			exprs = append(exprs, q["query"].(string))
		}
	}
	nameRe := regexp.MustCompile(`\b(?:qrlogin|process|go)_[a-z_]+\b`)
	queried := map[string]bool{}
	for _, e := range exprs {
		for _, n := range nameRe.FindAllString(e, -1) {
			queried[n] = true
		}
	}
	if len(queried) < 10 {
		t.Fatalf("the dashboard queries only %d metrics: %v", len(queried), queried)
	}

	// A real server with some complete QR logins behind it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	issuer, banner := startServe(t, "--addr", addr, "--issuer", "http://"+addr, "--rate-limit", "-1")
	if out, err := runBenchCmd(t, "--issuer", issuer, "--duration", "1s", "--concurrency", "2", "--wait", "2s"); err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	m := listeningRe.FindStringSubmatch(banner.String())
	if m == nil {
		t.Fatalf("no admin address in the banner:\n%s", banner)
	}
	exposed := scrapeNames(t, "http://"+m[2]+"/metrics")
	for n := range queried {
		if !exposed[n] {
			t.Errorf("the dashboard queries %s, which /metrics does not expose", n)
		}
	}
}

// scrapeNames returns the sample names /metrics exposes (histograms as
// name_bucket, name_sum and name_count).
func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}
