package authz_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
)

// BenchmarkAdminRequest measures one admin request through the admin
// handler, in process, by credential: GET /admin/keys, which every
// credential here may make and which the route answers from the key ring
// in memory, so that what is measured is the credential's check (and the
// audit entry, in the "audit" runs): the break-glass token (a constant-
// time compare), a client's token (verification and the token's record,
// as introspection reads it) and an operator's (that, plus the
// operator's row: disabled, role). With the trail off the difference
// between the memory store and PostgreSQL is what the per-request checks
// cost in database round trips.
func BenchmarkAdminRequest(b *testing.B) {
	benchBackends(b, func(b *testing.B, cfg authz.Config) {
		cfg.Logger, cfg.JanitorInterval = zap.NewNop(), -1
		ts := startServer(b, cfg, serverOptions{NoDemo: true})
		issuer := ts.consoleStandIn(b)
		_, opTok := ts.operatorWithToken(b, issuer, adminauth.Auditor)
		_, clTok := ts.keyClientToken(b, adminauth.KeysRead)
		h := ts.Srv.AdminHandler()
		for _, c := range []struct{ name, token string }{{"break-glass", testAdminToken}, {"client-token", clTok}, {"operator-token", opTok}} {
			b.Run(c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r := httptest.NewRequest(http.MethodGet, "/admin/keys", nil)
					r.Header.Set("Authorization", "Bearer "+c.token)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
		}
	})
}
