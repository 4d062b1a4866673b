package idp

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/qrlogin/qrlogin/storage/memory"
)

// Every request gets an id: the caller's X-Request-Id when sane, else a
// new one; it comes back in the answer, is what requestID(ctx) returns and
// is in every record logged with the request's context.
func TestRequestID(t *testing.T) {
	var buf bytes.Buffer
	s := &Server{cfg: Config{Issuer: "http://localhost"}, log: withRequestIDs(slog.New(slog.NewJSONHandler(&buf, nil))),
		metrics: newMetrics(), tracer: noop.NewTracerProvider().Tracer("")}
	var seen string
	mux := http.NewServeMux()
	mux.HandleFunc("/x", func(w http.ResponseWriter, r *http.Request) {
		seen = requestID(r.Context())
		s.log.InfoContext(r.Context(), "handled")
	})
	h := s.middleware(mux)
	long := strings.Repeat("a", 65)
	for _, tc := range []struct {
		name string
		sent []string
		keep bool
	}{
		{"none sent: one is made", nil, false},
		{"a UUID is kept", []string{"6f1c2a3e-9d8b-4c7a-8e5f-1a2b3c4d5e6f"}, true},
		{"64 printable characters are kept", []string{strings.Repeat("Z", 64)}, true},
		{"65 characters are replaced", []string{long}, false},
		{"a space is replaced", []string{"a b"}, false},
		{"a control character is replaced", []string{"a\x01b"}, false},
		{"non-ASCII is replaced", []string{"idé"}, false},
		{"two headers are replaced", []string{"one", "two"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			req := httptest.NewRequest("GET", "/x", nil)
			for _, v := range tc.sent {
				req.Header.Add("X-Request-Id", v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			got := w.Header().Get("X-Request-Id")
			if !validRequestID(got) {
				t.Fatalf("answer's X-Request-Id %q is not a valid id", got)
			}
			if tc.keep && got != tc.sent[0] {
				t.Errorf("X-Request-Id = %q, want the caller's %q", got, tc.sent[0])
			}
			if !tc.keep && len(tc.sent) > 0 && got == tc.sent[0] {
				t.Errorf("X-Request-Id %q was kept", got)
			}
			if seen != got {
				t.Errorf("requestID(ctx) = %q, answer says %q", seen, got)
			}
			var rec map[string]any
			line, _, _ := bytes.Cut(buf.Bytes(), []byte("\n"))
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatalf("log: %v: %s", err, buf.Bytes())
			}
			if rec["request_id"] != got {
				t.Errorf("log record request_id = %v, want %q", rec["request_id"], got)
			}
		})
	}
	// Two requests without an id get different ones.
	a, b := httptest.NewRecorder(), httptest.NewRecorder()
	h.ServeHTTP(a, httptest.NewRequest("GET", "/x", nil))
	h.ServeHTTP(b, httptest.NewRequest("GET", "/x", nil))
	if a.Header().Get("X-Request-Id") == b.Header().Get("X-Request-Id") {
		t.Error("two requests got the same generated id")
	}
}

// zitadel's routes get the id too: the middleware is outside the router.
func TestRequestIDOnZitadelRoutes(t *testing.T) {
	s, err := New(t.Context(), Config{Issuer: "http://localhost", Store: memory.New()})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/.well-known/openid-configuration", nil)
	req.Header.Set("X-Request-Id", "from-the-proxy-1")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != 200 || w.Header().Get("X-Request-Id") != "from-the-proxy-1" {
		t.Fatalf("discovery: %d, X-Request-Id %q", w.Code, w.Header().Get("X-Request-Id"))
	}
}
