package authz_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// clientsDown is a memory store whose client reads fail while down is
// set, as a store whose database is unreachable.
type clientsDown struct {
	*memory.Store
	down *atomic.Bool
}

func (s clientsDown) GetClient(ctx context.Context, id string) (storage.Client, error) {
	if s.down.Load() {
		return storage.Client{}, errors.New("database down")
	}
	return s.Store.GetClient(ctx, id)
}

// TestAuthorizeStoreOutage: while clients cannot be read,
// /oauth2/authorize answers a 503 page (no redirect, no "client does not
// exist"); the first request after recovery works normally.
func TestAuthorizeStoreOutage(t *testing.T) {
	run := func(t *testing.T, cfg authz.Config, outage func(down bool)) {
		ts := startServer(t, codeFlowConfig(cfg))
		c := ts.createWebClient(t, adminapi.ClientJSON{})
		b := newBrowser(t)
		u := authURL(c, "state-outage-01", oauth2.GenerateVerifier(), "nonce-outage")
		outage(true)
		p := b.get(u)
		if p.status != http.StatusServiceUnavailable || p.header.Get("Location") != "" || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") ||
			strings.Contains(p.body, "does not exist") || strings.Contains(p.body, "database") {
			t.Fatalf("authorize while the store is down = %d Location %q:\n%s\nwant a 503 page without detail", p.status, p.header.Get("Location"), p.body)
		}
		outage(false)
		if p := b.follow(ts.Public, b.get(u)); !p.isLogin() {
			t.Fatalf("authorize after recovery = %d, want the login page", p.status)
		}
	}
	t.Run("memory", func(t *testing.T) {
		var down atomic.Bool
		run(t, authz.Config{Store: clientsDown{memory.New(), &down}}, down.Store)
	})
	t.Run("postgres", func(t *testing.T) {
		// The clients table renamed away: every read of a client fails
		// as it would on a broken database, then works again.
		url := pgtest.URL(t)
		run(t, authz.Config{DatabaseURL: url}, func(down bool) {
			conn, err := pgx.Connect(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			stmt := "ALTER TABLE clients RENAME TO clients_away"
			if !down {
				stmt = "ALTER TABLE clients_away RENAME TO clients"
			}
			if _, err := conn.Exec(context.Background(), stmt); err != nil {
				t.Fatal(err)
			}
		})
	})
}
