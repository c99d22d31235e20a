package authz_test

import (
	"strings"
	"testing"

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
