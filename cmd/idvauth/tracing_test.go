package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestServeExportsTraces: with OTEL_EXPORTER_OTLP_ENDPOINT set, serve
// sends its spans there (OTLP over HTTP), at the latest when it stops.
func TestServeExportsTraces(t *testing.T) {
	var posts, bytes atomic.Int64
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		posts.Add(1)
		bytes.Add(n)
	}))
	defer col.Close()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "OTEL_EXPORTER_OTLP_ENDPOINT": col.URL})
	resp, err := http.Get(d.publicURL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(d.stderr.String()+d.stdout.String(), "tracing on") {
		t.Error("serve did not say that tracing is on")
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for posts.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if posts.Load() == 0 || bytes.Load() == 0 {
		t.Fatal("no spans reached the OTLP endpoint")
	}
}
