package idp

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/qrlogin/qrlogin/storage/memory"
)

// The middleware runs before every answer: its own allocations are
// budgeted. Without a tracer provider it makes no span (no context, no
// attributes), sets the security headers from shared values, copies the
// request once, and updates cached metric series. Measured with Go 1.26:
// 16 allocations per request here (31 before those changes); the budget
// leaves room for a Go release, not for a per-request cost creeping back.
// To see where they go: go test -run TestMiddlewareAllocations
// -memprofile m.prof -memprofilerate 1 ./idp/ && go tool pprof -sample_index=alloc_objects m.prof
func TestMiddlewareAllocations(t *testing.T) {
	s, err := New(t.Context(), Config{Issuer: "https://idp.example", Store: memory.New(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := s.middleware(mux)
	req := httptest.NewRequest("GET", "/x?a=b", nil)
	req.Header.Set("User-Agent", "test")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusNoContent || w.Header().Get("X-Frame-Options") != "DENY" || w.Header().Get("Strict-Transport-Security") == "" {
		t.Fatalf("answer %d, headers %v", w.Code, w.Header())
	}
	n := testing.AllocsPerRun(100, func() {
		clear(w.Header())
		h.ServeHTTP(w, req)
	})
	t.Logf("%v allocations per request", n)
	if n > 20 {
		t.Errorf("the middleware made %v allocations per request, budget 20", n)
	}
}
