package authz_test

import (
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idvauth/idvauth/authz"
)

// TestNewNeedsAStore: without a store, a database URL or an explicit ask
// for memory, New refuses to start instead of falling back to memory.
func TestNewNeedsAStore(t *testing.T) {
	cfg := authz.Config{Secrets: []string{strings.Repeat("s", 40)}, AdminToken: strings.Repeat("a", 40)}
	if srv, err := authz.New(t.Context(), cfg); err == nil {
		srv.Close()
		t.Fatal("New without a store = a server, want an error")
	} else if !strings.Contains(err.Error(), "no store") {
		t.Fatalf("New without a store: %v, want it to say there is no store", err)
	}
	cfg.InMemory = true
	srv, err := authz.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New with InMemory: %v", err)
	}
	srv.Close()
}

// TestMetricsTokenSharesNothing: the metrics token, which a scraper
// holds, may be neither the admin token nor a secret.
func TestMetricsTokenSharesNothing(t *testing.T) {
	admin, secret := strings.Repeat("a", 40), strings.Repeat("s", 40)
	for _, tt := range []struct{ name, token, want string }{
		{"the admin token", admin, "must not be the admin token"},
		{"a secret", secret, "must not be one of the secrets"},
	} {
		cfg := authz.Config{InMemory: true, Secrets: []string{strings.Repeat("o", 40), secret}, AdminToken: admin, MetricsToken: tt.token}
		srv, err := authz.New(t.Context(), cfg)
		if err == nil {
			srv.Close()
			t.Errorf("New with the metrics token %s = a server, want an error", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), tt.token) {
			t.Errorf("New with the metrics token %s: %v, want %q and no token in it", tt.name, err, tt.want)
		}
	}
}

// TestOpenMetricsWarning: outside Dev, New warns once that /metrics is
// open when no metrics token is set, without a secret in the entry.
func TestOpenMetricsWarning(t *testing.T) {
	admin, secret, metrics := strings.Repeat("a", 40), strings.Repeat("s", 40), strings.Repeat("m", 40)
	for _, tt := range []struct {
		name  string
		cfg   authz.Config
		warns int
	}{
		{"no token", authz.Config{}, 1},
		{"token set", authz.Config{MetricsToken: metrics}, 0},
		{"dev", authz.Config{Dev: true}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			cfg := tt.cfg
			cfg.InMemory, cfg.Secrets, cfg.AdminToken, cfg.Logger = true, []string{secret}, admin, zap.New(core)
			srv, err := authz.New(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			srv.Close()
			warns := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("/metrics").All()
			if len(warns) != tt.warns {
				t.Fatalf("warnings about /metrics = %d, want %d: %+v", len(warns), tt.warns, logs.All())
			}
			for _, e := range logs.All() {
				line := fmt.Sprint(e.Message, e.ContextMap())
				if strings.Contains(line, admin) || strings.Contains(line, secret) || strings.Contains(line, metrics) {
					t.Errorf("log entry holds a secret: %s", line)
				}
			}
			if tt.warns == 1 && !strings.Contains(warns[0].Message, "IDVAUTH_METRICS_TOKEN") {
				t.Errorf("warning = %q, want it to name IDVAUTH_METRICS_TOKEN", warns[0].Message)
			}
		})
	}
}
