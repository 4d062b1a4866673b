package idp_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/idp"
)

func withTracing(rec *tracetest.SpanRecorder) serverOpt {
	return func(c *idp.Config) {
		c.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) (string, bool) {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit(), true
		}
	}
	return "", false
}

// Spans for HTTP requests (named by route pattern), QR login steps and
// store calls. The PC's requests and the phone's requests of one login
// carry the login's public id, so a tracing backend finds them all by it;
// no span carries a secret.
func TestTracingLinksThePCAndThePhone(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	s := newServer(t, withTracing(rec))
	alice := s.phoneToken(t, "alice")
	before := len(rec.Ended())

	// The PC starts and polls; the phone's browser opens the QR's URL and
	// confirms; the PC polls again and gets the tokens.
	r := s.start(t, nil)
	s.poll(t, idp.GrantQR, r.DeviceCode, nil)
	phone := newBrowser(t, s)
	_, page := phone.get("/login?return=" + url.QueryEscape("/q/"+qrID(r)))
	_, page = phone.post("/login", url.Values{"return": {"/q/" + qrID(r)}, "csrf": {csrfRe.FindStringSubmatch(page)[1]},
		"username": {"alice"}, "password": {"alice-password"}})
	ticket := ticketRe.FindStringSubmatch(page)[1]
	decidePage(t, phone, page, "confirm")
	s.clock.Advance(2 * s.idp.QR().Config().PollInterval)
	_, tok := s.poll(t, idp.GrantQR, r.DeviceCode, nil)
	if tok["access_token"] == nil {
		t.Fatalf("no tokens: %v", tok)
	}

	spans := rec.Ended()[before:]
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, sp := range spans {
		byName[sp.Name()] = append(byName[sp.Name()], sp)
	}
	loginID := ""
	if st := byName["qr.start"]; len(st) == 1 {
		loginID, _ = attr(st[0], grants.AttrLoginID)
	}
	if loginID == "" {
		t.Fatalf("no qr.start span with the login id; spans: %v", names(spans))
	}
	// The PC's and the phone's requests, all carrying the login's id.
	for _, name := range []string{"POST /qr/authorize", "POST /oauth/token", "GET /q/{qr_id}", "POST /q/decide"} {
		got := byName[name]
		if len(got) == 0 {
			t.Errorf("no span %q; spans: %v", name, names(spans))
		}
		for _, sp := range got {
			if id, _ := attr(sp, grants.AttrLoginID); id != loginID {
				t.Errorf("span %q has login id %q, want %q", name, id, loginID)
			}
			if sp.SpanKind() != trace.SpanKindServer {
				t.Errorf("span %q is %v, want a server span", name, sp.SpanKind())
			}
			if route, _ := attr(sp, "http.route"); !strings.HasSuffix(name, route) {
				t.Errorf("span %q has http.route %q", name, route)
			}
		}
	}
	// The QR steps, each under its request's span, and store calls under
	// them.
	for _, name := range []string{"qr.start", "qr.scan", "qr.decide", "qr.redeem", "store.ApplyQR.scan", "store.ApplyQR.confirm", "store.ApplyQR.redeem"} {
		got := byName[name]
		if len(got) != 1 {
			t.Errorf("%d spans %q, want 1", len(got), name)
			continue
		}
		for _, sp := range got {
			if id, _ := attr(sp, grants.AttrLoginID); id != loginID {
				t.Errorf("span %q has login id %q, want %q", name, id, loginID)
			}
			if !sp.Parent().IsValid() {
				t.Errorf("span %q has no parent", name)
			}
		}
	}
	scan := byName["qr.scan"][0]
	if parent := spanByID(spans, scan.Parent().SpanID()); parent == nil || parent.Name() != "GET /q/{qr_id}" {
		t.Errorf("qr.scan's parent is %v, want the phone browser's GET /q/{qr_id}", parent)
	}
	// The GET /q/{qr_id} page span is named by its pattern, not its path.
	for _, sp := range spans {
		if strings.Contains(sp.Name(), qrID(r)) {
			t.Errorf("a span name carries the qr_id: %q", sp.Name())
		}
	}
	secrets := []string{r.DeviceCode, qrID(r), r.UserCode, ticket, alice, tok["access_token"].(string), tok["refresh_token"].(string), rpSecret}
	for _, sp := range spans {
		for _, a := range sp.Attributes() {
			for _, sec := range secrets {
				if strings.Contains(a.Value.Emit(), sec) {
					t.Errorf("span %q attribute %s holds a secret", sp.Name(), a.Key)
				}
			}
		}
	}
}

// A caller's W3C traceparent is continued, and a 5xx marks the span.
func TestTracingContinuesTheCallersTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	s := newServer(t, withTracing(rec))
	req, _ := http.NewRequest("GET", s.URL+"/.well-known/openid-configuration", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if st, _ := do(t, req); st != 200 {
		t.Fatalf("discovery: %d", st)
	}
	for _, sp := range rec.Ended() {
		if sp.Name() == "GET /.well-known/openid-configuration" {
			if sp.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sp.Parent().SpanID().String() != "00f067aa0ba902b7" {
				t.Errorf("the caller's trace was not continued: %v under %v", sp.SpanContext(), sp.Parent())
			}
			if code, _ := attr(sp, "http.response.status_code"); code != "200" {
				t.Errorf("status attribute %q", code)
			}
			return
		}
	}
	t.Fatalf("no discovery span: %v", names(rec.Ended()))
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func spanByID(spans []sdktrace.ReadOnlySpan, id trace.SpanID) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.SpanContext().SpanID() == id {
			return s
		}
	}
	return nil
}
