package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// --log-format json: every line serve writes to stderr is one JSON object,
// zitadel's too; the request line carries the caller's X-Request-Id, and
// so does zitadel's own record of a request it refused (it logs through
// slog's default logger).
func TestServeLogsJSON(t *testing.T) {
	var stderr syncBuffer
	issuer, _, stop := startServeWith(t, func(string) string { return "" }, &stderr, "--log-level", "info", "--log-format", "json")
	req, _ := http.NewRequest("GET", issuer+"/.well-known/openid-configuration", nil)
	req.Header.Set("X-Request-Id", "lb-7f3a")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-Id") != "lb-7f3a" {
		t.Errorf("X-Request-Id %q, want the caller's", resp.Header.Get("X-Request-Id"))
	}
	// A client zitadel refuses at the token endpoint: it writes a
	// "request error" record.
	// (/userinfo no longer reaches zitadel's error writer: qrlogin answers
	// its 401 itself, RFC 6750 §3.1.)
	req, _ = http.NewRequest("POST", issuer+"/oauth/token", strings.NewReader("grant_type=authorization_code&code=not-a-code&redirect_uri=http://127.0.0.1/cb&client_id=nobody&client_secret=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Request-Id", "lb-9c21")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop()

	var zitadelLines []map[string]any
	found := false
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stderr line is not JSON: %s", sc.Bytes())
		}
		if m["msg"] == "request" && m["request_id"] == "lb-7f3a" && m["route"] == "/.well-known/openid-configuration" && m["status"] == 200.0 {
			found = true
		}
		if m["msg"] == "request error" {
			zitadelLines = append(zitadelLines, m)
		}
	}
	if !found {
		t.Errorf("no JSON request line for the request:\n%s", stderr.String())
	}
	if len(zitadelLines) != 1 || zitadelLines[0]["request_id"] != "lb-9c21" {
		t.Errorf("zitadel's record of the refused token, want one with request_id lb-9c21: %v", zitadelLines)
	}
}

func TestServeRefusesAnUnknownLogFormat(t *testing.T) {
	err := run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "xml"},
		func(string) string { return "" }, io.Discard, io.Discard)
	if !errors.Is(err, errUsage) {
		t.Fatalf("--log-format xml: %v, want a usage error", err)
	}
}

// otlpCollector is an OTLP/HTTP trace receiver: it keeps what it is sent.
type otlpCollector struct {
	mu    sync.Mutex
	reqs  []*coltrace.ExportTraceServiceRequest
	paths []string
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, &req)
	c.paths = append(c.paths, r.URL.Path)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// OTEL_EXPORTER_OTLP_ENDPOINT turns tracing on: spans reach an OTLP/HTTP
// collector at <endpoint>/v1/traces, with the service's name, and the
// buffered ones are flushed when serve stops.
func TestServeExportsTracesOverOTLP(t *testing.T) {
	col := &otlpCollector{}
	cs := httptest.NewServer(col)
	defer cs.Close()
	env := func(k string) string {
		if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			return cs.URL
		}
		return ""
	}
	issuer, _, stop := startServeWith(t, env, &syncBuffer{})
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop()

	col.mu.Lock()
	defer col.mu.Unlock()
	var spans []string
	service := ""
	for i, req := range col.reqs {
		if col.paths[i] != "/v1/traces" {
			t.Errorf("export to %s, want /v1/traces", col.paths[i])
		}
		for _, rs := range req.ResourceSpans {
			for _, a := range rs.Resource.Attributes {
				if a.Key == "service.name" {
					service = a.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					spans = append(spans, sp.Name)
				}
			}
		}
	}
	if service != "qrlogin" {
		t.Errorf("service.name %q, want qrlogin", service)
	}
	want := "GET /.well-known/openid-configuration"
	found := false
	for _, s := range spans {
		found = found || s == want
	}
	if !found {
		t.Errorf("no span %q among the exported %v", want, spans)
	}
}

// Without an endpoint nothing is exported: tracing is off.
func TestTracingIsOffWithoutAnEndpoint(t *testing.T) {
	tp, shutdown, err := newTracing(t.Context(), func(string) string { return "" })
	if tp != nil || shutdown != nil || err != nil {
		t.Fatalf("newTracing without an endpoint: %v %v %v", tp, shutdown != nil, err)
	}
}
