package authz_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// TestFAPI2RefreshRebindsUnboundGrant: a grant that began without a
// binding (a bearer redemption) before the FAPI 2.0 profile applied to its
// client (switched on for the server, or set on the client) is not kept
// unbound, where any DPoP key would refresh it: its first refresh under
// the profile rotates it once, and the new refresh token is bound to that
// refresh's key. It is then kept: another key is refused, the same key
// refreshes without a new refresh token. The rotated-out token is
// refused.
func TestFAPI2RefreshRebindsUnboundGrant(t *testing.T) {
	for _, mode := range []string{"server", "client"} {
		t.Run(mode, func(t *testing.T) {
			backends(t, func(t *testing.T, cfg authz.Config) {
				cfg = codeFlowConfig(cfg)
				plain := startServer(t, cfg, serverOptions{NoDemo: true})
				plain.createUser(t, "ada")
				g := newFAPIGrantWith(t, plain, newBrowser(t), nil, nil)
				if g.tok.TokenType != "Bearer" {
					t.Fatalf("redemption without a proof: token type %q, want Bearer", g.tok.TokenType)
				}
				ts := plain
				if mode == "server" {
					cfg.Profile = "fapi2"
					ts = startServer(t, cfg, serverOptions{ReplicaOf: plain.harnessServer, NoDemo: true})
				} else {
					g.meta["profile"] = "fapi2"
					adminCall[map[string]any](t, ts, http.MethodPut, "/admin/clients/"+g.c.ClientID, g.meta, http.StatusOK)
				}
				tokenURL := ts.Public + "/oauth2/token"

				old := g.tok.RefreshToken
				g.d = newDPoPKey(t)
				st, m := g.refresh(t, ts, old, g.proof(tokenURL))
				rt, _ := m["refresh_token"].(string)
				at, _ := m["access_token"].(string)
				if st != http.StatusOK || rt == "" || rt == old || m["token_type"] != "DPoP" {
					t.Fatalf("first refresh under the profile = %d %v (%v), new refresh token %t; want 200, a DPoP token and a new refresh token",
						st, m["error"], m["error_description"], rt != "" && rt != old)
				}
				if jkt := ts.jktOf(t, at); jkt != g.d.jkt {
					t.Errorf("access token cnf.jkt = %q, want the proof's key %q", jkt, g.d.jkt)
				}
				g.tok.RefreshToken = rt

				st, m = g.refresh(t, ts, rt, newDPoPKey(t).proof(http.MethodPost, tokenURL, nil))
				wantProofRefused(t, "refresh of the new token with another key", st, m)
				g.refreshOK(t, ts, "refresh of the new token with its key")
				g.refreshOK(t, ts, "second refresh of the new token with its key")

				st, m = g.refresh(t, ts, old, g.proof(tokenURL))
				wantGrantRefused(t, "refresh with the rotated-out token", st, m)
			})
		})
	}
}

// failIssuedAudit fails the next append holding a token.issued entry,
// once armed.
type failIssuedAudit struct {
	storage.Store
	armed atomic.Bool
}

func (s *failIssuedAudit) AppendAudit(ctx context.Context, es ...storage.AuditEntry) error {
	for _, e := range es {
		if e.Type == adminapi.EventTokenIssued && s.armed.CompareAndSwap(true, false) {
			return errors.New("audit append failed")
		}
	}
	return s.Store.AppendAudit(ctx, es...)
}

// TestFAPI2RefreshUnrecordedKeepsToken: a refresh of a kept refresh token
// whose token.issued entry cannot be appended is answered 503 "retry", and
// the retry with the same refresh token succeeds: taking back what the
// failed refresh stored leaves the kept token, the client's only one.
func TestFAPI2RefreshUnrecordedKeepsToken(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(t *testing.T) storage.Store
	}{
		{"memory", func(*testing.T) storage.Store { return memory.New() }},
		{"postgres", func(t *testing.T) storage.Store { return pgtest.Open(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			store := &failIssuedAudit{Store: b.open(t)}
			ts := startServer(t, codeFlowConfig(authz.Config{Store: store, Profile: "fapi2"}), serverOptions{NoDemo: true})
			ts.createUser(t, "ada")
			g := newFAPIGrant(t, ts, newBrowser(t), nil)
			store.armed.Store(true)
			st, m := g.refresh(t, ts, g.tok.RefreshToken, g.proof(ts.Public+"/oauth2/token"))
			if st != http.StatusServiceUnavailable || m["access_token"] != nil || store.armed.Load() {
				t.Fatalf("refresh with the audit append failing = %d %v, want 503 and no token", st, m["error"])
			}
			g.refreshOK(t, ts, "retry of the refresh")
			g.refreshOK(t, ts, "refresh after the retry")
		})
	}
}
