package tracing

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestEnabled(t *testing.T) {
	for env, want := range map[[3]string]bool{
		{"", "", ""}: false, {"http://c:4318", "", ""}: true, {"", "http://c:4318/v1/traces", ""}: true,
		{"http://c:4318", "", "true"}: false, {"http://c:4318", "", "false"}: true,
	} {
		getenv := func(k string) string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": env[0], "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": env[1], "OTEL_SDK_DISABLED": env[2]}[k]
		}
		if got := Enabled(getenv); got != want {
			t.Errorf("Enabled(%q) = %t, want %t", env, got, want)
		}
	}
}

func TestOperation(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT 1": "SELECT", "\n  insert into t values ($1)": "INSERT", "WITH x AS (SELECT 1) SELECT": "WITH", "": "",
		"update(": "UPDATE", "averyveryverylongkeywordindeed x": "AVERYVERYVERYLON",
	} {
		if got := operation(sql); got != want {
			t.Errorf("operation(%q) = %q, want %q", sql, got, want)
		}
	}
}

// TestTransportSpan: an outbound request is a client span named by its
// method, with the host and not the path or query.
func TestTransportSpan(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	defer srv.Close()
	exp := tracetest.NewInMemoryExporter()
	tr := Tracer(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	c := &http.Client{Transport: Transport(tr, http.DefaultTransport)}
	resp, err := c.Get(srv.URL + "/jwks?secret=s3cret")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "HTTP GET" {
		t.Fatalf("spans = %v, want one HTTP GET", spans)
	}
	for _, a := range spans[0].Attributes {
		if v := a.Value.String(); strings.Contains(v, "s3cret") || strings.Contains(v, "/jwks") {
			t.Errorf("span attribute %s = %q: the path or query leaked", a.Key, v)
		}
	}
	if Transport(nil, http.DefaultTransport) != http.DefaultTransport {
		t.Error("Transport(nil, rt) is not rt")
	}
}
