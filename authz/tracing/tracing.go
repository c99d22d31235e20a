// Package tracing is idvauth's OpenTelemetry tracing: off (a no-op
// tracer, next to no cost) unless the standard OTEL_EXPORTER_OTLP_*
// variables name a collector. It makes the spans of HTTP requests, of
// PostgreSQL statements and of the other waits a request has (the audit
// append, outbound fetches). Spans carry route patterns and statement
// kinds, never request values: no token, secret or personal data.
package tracing

import (
	"context"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Name is the instrumentation scope of idvauth's spans.
const Name = "github.com/idvauth/idvauth"

// Enabled reports whether the environment asks for tracing: one of the
// standard OTLP endpoint variables is set, and OTEL_SDK_DISABLED is not
// true.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// FromEnv returns the tracer provider the environment (getenv) asks for:
// OTLP over HTTP to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or to
// OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces (the exporter reads the other
// standard variables, headers and TLS, itself), spans batched, with
// service.name idvauth (or OTEL_SERVICE_NAME) and version; a no-op
// provider when Enabled is false. shutdown flushes what is buffered.
func FromEnv(ctx context.Context, version string, getenv func(string) string) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	if !Enabled(getenv) {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = strings.TrimSuffix(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "/") + "/v1/traces"
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nil, err
	}
	name := getenv("OTEL_SERVICE_NAME")
	if name == "" {
		name = "idvauth"
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(name), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, nil, err
	}
	p := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return p, p.Shutdown, nil
}

// Tracer returns idvauth's tracer of tp; of a no-op provider if tp is nil.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(Name)
}

// propagator reads W3C trace context from requests.
var propagator = propagation.TraceContext{}

// Middleware starts a server span per request, named by the method and
// the route pattern endpoint gives (never the raw path), continuing a
// W3C traceparent the caller sent. With tracing off it only passes the
// request on.
func Middleware(t trace.Tracer, listener string, endpoint func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.Start(ctx, r.Method+" "+endpoint(r), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("idvauth.listener", listener)))
		if !span.IsRecording() {
			next.ServeHTTP(w, r)
			return
		}
		defer span.End()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		r = r.WithContext(ctx)
		next.ServeHTTP(rec, r)
		span.SetName(r.Method + " " + endpoint(r)) // the pattern is known once the mux matched
		span.SetAttributes(attribute.String("http.route", endpoint(r)), attribute.Int("http.response.status_code", rec.status))
		if rec.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.status))
		}
	})
}

// statusRecorder remembers the status code of an answer.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the writer beneath.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// TraceID is the trace ID of ctx's span, "" if it has none.
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

// Start starts an internal span name under ctx's span.
func Start(ctx context.Context, t trace.Tracer, name string) (context.Context, trace.Span) {
	return t.Start(ctx, name)
}

// End ends span, marking it failed if err is not nil (without the error's
// text, which may hold request values).
func End(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, "failed")
	}
	span.End()
}

// PGX is a pgx query and batch tracer: a client span per statement, named
// by its first keyword (SELECT, INSERT, ...), without its text or
// arguments.
type PGX struct{ T trace.Tracer }

var (
	_ pgx.QueryTracer = PGX{}
	_ pgx.BatchTracer = PGX{}
)

func (p PGX) start(ctx context.Context, op string) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx // no request span to hang it on: background work, or tracing off
	}
	ctx, _ = p.T.Start(ctx, "db "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.operation.name", op)))
	return ctx
}

func endDB(ctx context.Context, err error) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		End(span, err)
	}
}

// TraceQueryStart implements pgx.QueryTracer.
func (p PGX) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return p.start(ctx, operation(data.SQL))
}

// TraceQueryEnd implements pgx.QueryTracer.
func (p PGX) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	endDB(ctx, data.Err)
}

// TraceBatchStart implements pgx.BatchTracer.
func (p PGX) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return p.start(ctx, "BATCH")
}

// TraceBatchQuery implements pgx.BatchTracer.
func (p PGX) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (p PGX) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	endDB(ctx, data.Err)
}

// operation is the first keyword of a statement, upper-cased.
func operation(sql string) string {
	sql = strings.TrimSpace(sql)
	if i := strings.IndexAny(sql, " \t\n("); i > 0 {
		sql = sql[:i]
	}
	if len(sql) > 16 {
		sql = sql[:16]
	}
	return strings.ToUpper(sql)
}

// Transport wraps rt with a client span per outbound request, named by
// the method and carrying the host (not the path or query). With t nil it
// is rt.
func Transport(t trace.Tracer, rt http.RoundTripper) http.RoundTripper {
	if t == nil {
		return rt
	}
	return roundTripper{t: t, next: rt}
}

type roundTripper struct {
	t    trace.Tracer
	next http.RoundTripper
}

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, span := rt.t.Start(r.Context(), "HTTP "+r.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("server.address", r.URL.Hostname()), attribute.String("http.request.method", r.Method)))
	resp, err := rt.next.RoundTrip(r.WithContext(ctx))
	if err == nil {
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	}
	End(span, err)
	return resp, err
}
