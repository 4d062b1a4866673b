package idp_test

import (
	"math"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/qrlogin/qrlogin/idp"
	"github.com/qrlogin/qrlogin/storage/memory"
	"github.com/qrlogin/qrlogin/storage/postgres"
)

// scrape reads the server's /metrics as Prometheus would.
func scrape(t testing.TB, s *testServer) map[string]*dto.MetricFamily {
	t.Helper()
	w := httptest.NewRecorder()
	s.idp.Metrics().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value is the counter or gauge value of the series of name with exactly
// the given labels (name=value pairs), 0 when absent.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	for _, m := range f.Metric {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, labels []string) bool {
	if len(m.Label) != len(labels)/2 {
		return false
	}
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.Label {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func histogram(t testing.TB, fams map[string]*dto.MetricFamily, name string) *dto.Histogram {
	t.Helper()
	f := fams[name]
	if f == nil || len(f.Metric) != 1 || f.Metric[0].Histogram == nil {
		t.Fatalf("no histogram %s", name)
	}
	return f.Metric[0].Histogram
}

// The QR funnel is counted once, in the core, whichever path the scan came
// from: the phone app (/qr/scan), the phone's browser (/q/{qr_id}), a typed
// code (/device), and a hosted login page's QR. Before, the pages' scans
// were not counted at all (6 scanned against 8 confirmed and 2 denied).
// The funnel's timings come from the logins' own timestamps.
func TestQRFunnelCountedOnceWhateverThePath(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	const toScan, toConfirm, toRedeem = 3 * time.Second, 5 * time.Second, 2 * time.Second

	// 1. The phone app.
	r := s.start(t, nil)
	s.clock.Advance(toScan)
	ticket := s.scan(t, alice, r.VerificationURIComplete)
	s.clock.Advance(toConfirm)
	if st, body := s.phone(t, alice, "/qr/confirm", map[string]string{"ticket": ticket}); st != 200 {
		t.Fatalf("confirm: %d %v", st, body)
	}
	s.clock.Advance(toRedeem)
	if st, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); st != 200 {
		t.Fatalf("redeem: %d %v", st, body)
	}

	// 2. The phone's browser opens the QR's URL.
	r = s.start(t, nil)
	phone := newBrowser(t, s)
	_, page := phone.get("/login?return=" + url.QueryEscape("/q/"+qrID(r)))
	s.clock.Advance(toScan)
	_, page = phone.post("/login", url.Values{"return": {"/q/" + qrID(r)}, "csrf": {csrfRe.FindStringSubmatch(page)[1]},
		"username": {"bob"}, "password": {"bob-password"}})
	if !strings.Contains(page, "Confirm sign-in") {
		t.Fatalf("no confirm screen after the browser's scan:\n%s", page)
	}
	s.clock.Advance(toConfirm)
	decidePage(t, phone, page, "confirm")
	s.clock.Advance(toRedeem)
	if st, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); st != 200 {
		t.Fatalf("redeem: %d %v", st, body)
	}

	// 3. A code typed in the phone's browser (the same signed-in browser).
	r = s.start(t, nil)
	_, page = phone.get("/device")
	s.clock.Advance(toScan)
	resp, page := phone.post("/device", url.Values{"csrf": {csrfRe.FindStringSubmatch(page)[1]}, "user_code": {r.UserCode}})
	if resp.StatusCode != 200 || !strings.Contains(page, "Confirm sign-in") {
		t.Fatalf("typed code: %d\n%s", resp.StatusCode, page)
	}
	s.clock.Advance(toConfirm)
	decidePage(t, phone, page, "confirm")
	s.clock.Advance(toRedeem)
	if st, body := s.poll(t, idp.GrantQR, r.DeviceCode, nil); st != 200 {
		t.Fatalf("redeem: %d %v", st, body)
	}

	// 4. A hosted login page's QR, scanned with the app and denied.
	cfg, verifier := codeConfig(s)
	pc := newBrowser(t, s)
	_, qr := openLoginPage(t, s, pc, cfg, verifier)
	s.clock.Advance(toScan)
	ticket = s.scan(t, alice, qr)
	if st, body := s.phone(t, alice, "/qr/deny", map[string]string{"ticket": ticket}); st != 200 {
		t.Fatalf("deny: %d %v", st, body)
	}

	m := scrape(t, s)
	for event, want := range map[string]float64{"started": 4, "scanned": 4, "confirmed": 3, "denied": 1, "redeemed": 3} {
		if got := value(m, "qrlogin_qr_events_total", "event", event, "client_id", rpID); got != want {
			t.Errorf(`qrlogin_qr_events_total{event=%q,client_id=%q} = %v, want %v`, event, rpID, got, want)
		}
	}
	// Every scan was followed by a decision: the funnel adds up.
	scanned := value(m, "qrlogin_qr_events_total", "event", "scanned", "client_id", rpID)
	decided := value(m, "qrlogin_qr_events_total", "event", "confirmed", "client_id", rpID) +
		value(m, "qrlogin_qr_events_total", "event", "denied", "client_id", rpID)
	if scanned != decided {
		t.Errorf("funnel: %v scanned, %v confirmed or denied", scanned, decided)
	}
	for name, want := range map[string]struct {
		count uint64
		each  time.Duration
	}{
		"qrlogin_qr_time_to_scan_seconds":      {4, toScan},
		"qrlogin_qr_time_to_confirm_seconds":   {3, toConfirm},
		"qrlogin_qr_confirm_to_redeem_seconds": {3, toRedeem},
	} {
		h := histogram(t, m, name)
		if h.GetSampleCount() != want.count || h.GetSampleSum() != float64(want.count)*want.each.Seconds() {
			t.Errorf("%s: count %d sum %v, want %d × %v", name, h.GetSampleCount(), h.GetSampleSum(), want.count, want.each)
		}
	}
}

// decidePage presses Confirm or Deny on the browser's confirm screen.
func decidePage(t *testing.T, b *browser, page, action string) {
	t.Helper()
	resp, done := b.post("/q/decide", url.Values{"ticket": {ticketRe.FindStringSubmatch(page)[1]}, "action": {action},
		"csrf": {csrfRe.FindStringSubmatch(page)[1]}})
	if resp.StatusCode != 200 {
		t.Fatalf("decide %s: %d\n%s", action, resp.StatusCode, done)
	}
}

// The token endpoint's answers, the held long-polls and the per-route
// request histogram (route patterns, never a path with an id in it).
func TestMetricsCountAnswersAndRoutes(t *testing.T) {
	s := newServer(t)
	alice := s.phoneToken(t, "alice")
	r := confirmed(t, s, alice)
	s.poll(t, idp.GrantQR, r.DeviceCode, nil)
	s.poll(t, idp.GrantQR, r.DeviceCode, nil)
	newBrowser(t, s).get("/q/" + qrID(r))

	m := scrape(t, s)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"qrlogin_qr_token_answers_total", []string{"outcome", "tokens"}, 1},
		{"qrlogin_qr_token_answers_total", []string{"outcome", "invalid_grant"}, 1},
		{"qrlogin_long_polls", nil, 0},
		{"qrlogin_http_request_duration_seconds", []string{"route", "/oauth/token", "code", "200"}, 2}, // the phone's code exchange too
		{"qrlogin_http_request_duration_seconds", []string{"route", "/oauth/token", "code", "400"}, 1},
		{"qrlogin_http_request_duration_seconds", []string{"route", "/q/{qr_id}", "code", "303"}, 1},
		{"qrlogin_http_request_duration_seconds", []string{"route", "/qr/scan", "code", "200"}, 1},
	} {
		if got := value(m, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, f := range m["qrlogin_http_request_duration_seconds"].Metric {
		for _, l := range f.Label {
			if l.GetName() == "route" && strings.Contains(l.GetValue(), qrID(r)) {
				t.Errorf("a route label carries the qr_id: %s", l.GetValue())
			}
		}
	}
}

// Store calls are timed by operation, and failures counted by operation
// and kind; a not-found is an answer, not an error.
func TestMetricsCountStoreCallsAndErrors(t *testing.T) {
	var fail atomic.Bool
	s := newServerOn(t, failingStore{memory.New(), &fail}, func(c *idp.Config) { c.ClientCacheTTL = -1 })
	s.start(t, nil)
	if st, _ := s.form(t, "/qr/authorize", "no-such-client", "x", url.Values{}); st != 401 {
		t.Fatalf("unknown client: %d", st)
	}
	m := scrape(t, s)
	if got := value(m, "qrlogin_store_errors_total", "op", "Client", "kind", "other"); got != 0 {
		t.Fatalf("a not-found counted as a store error: %v", got)
	}
	fail.Store(true)
	if st, _ := s.form(t, "/qr/authorize", rpID, rpSecret, url.Values{}); st != 500 {
		t.Fatalf("failing store: %d, want 500", st)
	}
	m = scrape(t, s)
	if got := value(m, "qrlogin_store_errors_total", "op", "Client", "kind", "other"); got != 1 {
		t.Errorf(`qrlogin_store_errors_total{op="Client",kind="other"} = %v, want 1`, got)
	}
	if got := value(m, "qrlogin_store_errors_total", "op", "Client", "kind", "unavailable"); got != 0 {
		t.Errorf(`qrlogin_store_errors_total{op="Client",kind="unavailable"} = %v, want 0`, got)
	}
	for _, op := range []string{"Client", "CreateQRLogin"} {
		if got := value(m, "qrlogin_store_call_duration_seconds", "op", op); got < 1 {
			t.Errorf("qrlogin_store_call_duration_seconds{op=%q} has %v samples", op, got)
		}
	}
}

// Every refusal by a limit is counted under the limit's name.
func TestMetricsCountRateLimitRefusals(t *testing.T) {
	s := newServer(t, func(c *idp.Config) { c.RateLimit = 1 }) // burst 2
	alice := s.phoneToken(t, "alice")
	refused := 0
	for range 5 {
		if st, _ := s.phone(t, alice, "/qr/scan", map[string]string{"qr": "nothing"}); st == 429 {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("five scans in a row at 1/s were all answered")
	}
	if got := value(scrape(t, s), "qrlogin_rate_limited_total", "limit", "scan_per_account"); got != float64(refused) {
		t.Errorf(`qrlogin_rate_limited_total{limit="scan_per_account"} = %v, want %d`, got, refused)
	}
}

// A store call can last until PostgreSQL's statement_timeout cancels it
// (5 s by default): the store histogram's buckets reach that far, so
// during an incident the dashboard's "Store p99" shows 3 s as about 3 s,
// not as the top finite bucket.
func TestStoreHistogramReachesTheStatementTimeout(t *testing.T) {
	s := newServer(t)
	s.start(t, nil)
	f := scrape(t, s)["qrlogin_store_call_duration_seconds"]
	if f == nil || len(f.Metric) == 0 {
		t.Fatal("no qrlogin_store_call_duration_seconds")
	}
	var bounds []float64
	for _, b := range f.Metric[0].Histogram.Bucket {
		if !math.IsInf(b.GetUpperBound(), 1) {
			bounds = append(bounds, b.GetUpperBound())
		}
	}
	limit := postgres.DefaultStatementTimeout.Seconds()
	if bounds[len(bounds)-1] < limit || !slices.ContainsFunc(bounds, func(b float64) bool { return b > 1 && b < limit }) {
		t.Errorf("store call buckets %v: none between 1 s and the statement timeout (%v s), or none reaching it", bounds, limit)
	}
}

// Every limit /metrics counts refusals of (qrlogin_rate_limited_total's
// label values, listed at 0 from the start) is a row of README's Limits
// table, so an operator who sees the series finds what the limit is, its
// flag and what a client sees past it; and a listed series can count:
// authorize_parameter_size was listed and never counted (an over-long
// parameter is the edge's 400, input validation, not a rate limit).
func TestREADMEListsEveryCountedLimit(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	f := scrape(t, newServer(t))["qrlogin_rate_limited_total"]
	if f == nil || len(f.Metric) == 0 {
		t.Fatal("no qrlogin_rate_limited_total series on a fresh server")
	}
	for _, m := range f.Metric {
		for _, l := range m.Label {
			if l.GetName() == "limit" && !strings.Contains(readme, "\n| `"+l.GetValue()+"` — ") {
				t.Errorf("qrlogin_rate_limited_total{limit=%q}: no row of README's Limits table", l.GetValue())
			}
		}
	}
}
