package idp

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the spans qrlogin makes (HTTP requests, QR login steps,
// store calls); zitadel's own spans come from its package's global tracer.
const tracerName = "github.com/qrlogin/qrlogin"

// propagator reads a caller's W3C traceparent, so a relying party's trace
// continues into ours.
var propagator = propagation.TraceContext{}

// startRequestSpan starts the server span of a request, named by its
// route pattern (never its path: /q/{qr_id} carries a QR's secret).
func (s *Server) startRequestSpan(r *http.Request, ri *requestInfo) (context.Context, trace.Span) {
	ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	return s.tracer.Start(ctx, r.Method+" "+ri.route,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("http.route", ri.route),
			attribute.String("qrlogin.request_id", ri.id),
		))
}

func endRequestSpan(span trace.Span, ri *requestInfo, status int) {
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if ri.clientID != "" {
		span.SetAttributes(attribute.String("qrlogin.client_id", ri.clientID))
	}
	// OpenTelemetry HTTP semantic conventions: a server span is an error
	// for 5xx only; 4xx are the client's.
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}
