package authz_test

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/testutil"
)

// TestAuditShippedOffHost: with IDVAUTH_AUDIT_SINK set, the entries of a
// running server reach an https collector in order, the token's among
// them, on memory and PostgreSQL; the collector's copy of the head is the
// server's.
func TestAuditShippedOffHost(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		var mu sync.Mutex
		var got []adminapi.AuditEntryJSON
		col := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sc := bufio.NewScanner(r.Body)
			mu.Lock()
			defer mu.Unlock()
			for sc.Scan() {
				var e adminapi.AuditEntryJSON
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				got = append(got, e)
			}
		}))
		defer col.Close()
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: col.Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.AuditSink, cfg.AuditSinkCA = col.URL+"/audit", ca
		ts := startServer(t, cfg)
		tok, err := ts.ccConfig(ts.Demo.Service, "identity.verify").Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m, _ := ts.introspect(t, tok.AccessToken)
		jti, _ := m["jti"].(string)
		testutil.Eventually(t, 15*time.Second, "the token's entry at the collector", func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range got {
				if e.Type == adminapi.EventTokenIssued && e.Details["jti"] == jti {
					return true
				}
			}
			return false
		})
		mu.Lock()
		defer mu.Unlock()
		for i, e := range got {
			if e.Seq != int64(i+1) || (i > 0 && e.PrevHash != got[i-1].Hash) {
				t.Fatalf("entry %d at the collector: seq %d, prev_hash %.12s; want seq %d chained to %.12s", i, e.Seq, e.PrevHash, i+1, got[max(i-1, 0)].Hash)
			}
		}
		code, body := ts.adminJSON(t, http.MethodGet, "/admin/audit?limit=1000", nil)
		if code != http.StatusOK || !strings.Contains(string(body), got[len(got)-1].Hash) {
			t.Errorf("the collector's last hash is not in the server's trail")
		}
	})
}
