package authz_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// TestTracing: with a tracer provider, a request is a server span named by
// its endpoint, continuing the caller's traceparent, with the store's
// statements and the audit append as its children; no span carries the
// token or the client secret.
func TestTracing(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ts := startServer(t, authz.Config{DatabaseURL: pgtest.URL(t), TracerProvider: tp})
	svc := ts.Demo.Service
	tok, err := ts.ccConfig(svc, "identity.verify").Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	exp.Reset()
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	rs := ts.Demo.ResourceServer
	req := formRequest(t, ts.Public+"/oauth2/introspect", rs.ClientID, rs.ClientSecret, url.Values{"token": {tok.AccessToken}})
	req.Header.Set("traceparent", parent)
	if code, _, body := do(t, req); code != http.StatusOK || !strings.Contains(string(body), `"active":true`) {
		t.Fatalf("introspect = %d %s", code, body)
	}
	spans := exp.GetSpans()
	var root *tracetest.SpanStub
	for i, s := range spans {
		if s.Name == "POST /oauth2/introspect" {
			root = &spans[i]
		}
	}
	if root == nil {
		t.Fatalf("no span POST /oauth2/introspect among %d spans", len(spans))
	}
	if root.SpanKind != trace.SpanKindServer || root.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("request span: kind %v, trace %s; want a server span of the caller's trace", root.SpanKind, root.SpanContext.TraceID())
	}
	children := map[string]int{}
	for _, s := range spans {
		if s.Parent.SpanID() == root.SpanContext.SpanID() {
			children[s.Name]++
		}
		for _, a := range s.Attributes {
			if v := a.Value.String(); strings.Contains(v, tok.AccessToken) || strings.Contains(v, rs.ClientSecret) {
				t.Errorf("span %s carries a secret in %s", s.Name, a.Key)
			}
		}
	}
	if children["db SELECT"] == 0 || children["audit.append"] != 1 {
		t.Errorf("children of the request span = %v; want db SELECT and one audit.append", children)
	}
}
