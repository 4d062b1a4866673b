package idp

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracerName names the spans qrlogin makes (HTTP requests, QR login steps,
// store calls); zitadel's own spans come from its package's global tracer.
const tracerName = "github.com/qrlogin/qrlogin"

// propagator reads a caller's W3C traceparent, so a relying party's trace
// continues into ours.
var propagator = propagation.TraceContext{}

// startRequestSpan starts the server span of a request in ctx (its
// context to be), named by its route pattern (never its path: /q/{qr_id}
// carries a QR's secret). Without a tracer provider (Config.TracerProvider
// nil: OpenTelemetry's no-op) nothing is read, built or put in the
// context: the span is noopSpan, and a request costs no allocation for
// tracing.
func (s *Server) startRequestSpan(ctx context.Context, r *http.Request, ri *requestInfo) (context.Context, trace.Span) {
	if !s.tracing {
		return ctx, noopSpan
	}
	ctx = propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	return s.tracer.Start(ctx, r.Method+" "+ri.route,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("http.route", ri.route),
			attribute.String("qrlogin.request_id", ri.id),
		))
}

// noopSpan is the span of every request and store call when tracing is
// off: it records nothing (IsRecording is false).
var noopSpan = trace.SpanFromContext(context.Background())

// tracingOn reports whether tp records spans: anything but
// OpenTelemetry's no-op provider (Config's default) may.
func tracingOn(tp trace.TracerProvider) bool {
	_, off := tp.(noop.TracerProvider)
	return !off
}

func endRequestSpan(span trace.Span, ri *requestInfo, status int) {
	if !span.IsRecording() {
		return
	}
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
