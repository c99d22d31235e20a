package authz_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// lostAnswer fails CreateTokenAudited, once armed, as a database call
// that fails on the way: before the commit (nothing stored), or after it
// with the answer lost (token and entry stored, the caller told an error).
type lostAnswer struct {
	storage.Store
	mode atomic.Int32 // 0 pass, 1 fail before storing, 2 store then fail
}

func (s *lostAnswer) CreateTokenAudited(ctx context.Context, t storage.Token, e storage.AuditEntry) error {
	switch s.mode.Load() {
	case 1:
		return errors.New("connection reset")
	case 2:
		if err := s.Store.CreateTokenAudited(ctx, t, e); err != nil {
			return err
		}
		return errors.New("connection reset after the commit")
	}
	return s.Store.CreateTokenAudited(ctx, t, e)
}

// TestErrorAnswerLeavesNoToken: a client_credentials request answered 503
// leaves no token record, and the audit trail says what happened:
// nothing when nothing was stored; token.issued then token.revoked
// (reason unanswered) when the commit happened but its answer was lost.
func TestErrorAnswerLeavesNoToken(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(t *testing.T) storage.Store
	}{
		{"memory", func(*testing.T) storage.Store { return memory.New() }},
		{"postgres", func(t *testing.T) storage.Store { return pgtest.Open(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			store := &lostAnswer{Store: b.open(t)}
			ts := startServer(t, authz.Config{Store: store})
			svc := ts.Demo.Service
			ctx := context.Background()
			for _, mode := range []int32{1, 2} {
				store.mode.Store(mode)
				code, h, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret,
					url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"}})
				store.mode.Store(0)
				if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
					t.Fatalf("mode %d: token = %d Retry-After %q: %s, want 503 with Retry-After", mode, code, h.Get("Retry-After"), body)
				}
				testutil.Eventually(t, 10*time.Second, "no token record of the refused request", func() bool {
					toks, err := store.ListTokensBySubject(ctx, svc.ClientID)
					return err == nil && len(toks) == 0
				})
			}
			var issued, revoked []adminapi.AuditEntryJSON
			testutil.Eventually(t, 10*time.Second, "the take-back recorded", func() bool {
				all := ts.auditAll(t, url.Values{"client_id": {svc.ClientID}})
				issued, revoked = ofType(all, adminapi.EventTokenIssued), ofType(all, adminapi.EventTokenRevoked)
				return len(revoked) > 0
			})
			if len(issued) != 1 || len(revoked) != 1 || revoked[0].Details["reason"] != "unanswered" ||
				revoked[0].Details["jti"] != issued[0].Details["jti"] || revoked[0].Seq < issued[0].Seq {
				t.Fatalf("audit: issued %+v, revoked %+v; want the lost answer's token.issued, then its token.revoked (unanswered), and nothing of the failure before the commit",
					issued, revoked)
			}
			// The server works on.
			if code, _, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret,
				url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"}}); code != http.StatusOK {
				t.Fatalf("token after = %d %s", code, body)
			}
		})
	}
}
