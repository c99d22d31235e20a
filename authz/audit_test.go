package authz_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// maxPages bounds the reading of the audit trail a page at a time, so
// that a cursor that never ends fails the test instead of hanging it.
const maxPages = 1000

// auditAll reads the whole audit trail through the admin API, a few
// entries a page so that the cursor is exercised.
func (ts *testServer) auditAll(t testing.TB, query url.Values) []adminapi.AuditEntryJSON {
	t.Helper()
	var out []adminapi.AuditEntryJSON
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	if q.Get("limit") == "" {
		q.Set("limit", "7")
	}
	for pages := 0; ; pages++ {
		if pages == maxPages {
			t.Fatalf("GET /admin/audit: still a next cursor after %d pages", maxPages)
		}
		page := adminCall[adminapi.AuditPage](t, ts, "GET", "/admin/audit?"+q.Encode(), nil, http.StatusOK)
		out = append(out, page.Entries...)
		if page.NextCursor == "" {
			return out
		}
		q.Set("cursor", page.NextCursor)
	}
}

func (ts *testServer) auditVerify(t testing.TB) adminapi.AuditVerification {
	t.Helper()
	return adminCall[adminapi.AuditVerification](t, ts, "GET", "/admin/audit/verify", nil, http.StatusOK)
}

// auditVerifyParts verifies the trail in parts of limit entries, from
// from ("" for the start), the way audit verify does, and returns the
// last answer, the entries checked in all and the calls made. Every
// part but the last must be intact and incomplete.
func (ts *testServer) auditVerifyParts(t testing.TB, from string, limit int) (last adminapi.AuditVerification, entries int64, calls int) {
	t.Helper()
	for {
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		if from != "" {
			q.Set("from", from)
		}
		last = adminCall[adminapi.AuditVerification](t, ts, "GET", "/admin/audit/verify?"+q.Encode(), nil, http.StatusOK)
		calls++
		if last.Entries > int64(limit) {
			t.Fatalf("verify with limit %d checked %d entries", limit, last.Entries)
		}
		entries += last.Entries
		if !last.OK || last.Complete || calls > 1000 {
			return last, entries, calls
		}
		from = fmt.Sprintf("%d:%s", last.LastSeq, last.LastHash)
	}
}

// issueTokens has the demo service get n client-credentials tokens.
func (ts *testServer) issueTokens(t testing.TB, n int) {
	t.Helper()
	svc := ts.Demo.Service
	for range n {
		post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
	}
}

func ofType(es []adminapi.AuditEntryJSON, typ string) []adminapi.AuditEntryJSON {
	var out []adminapi.AuditEntryJSON
	for _, e := range es {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// TestAuditTrailRecordsEvents drives issuance, introspection, revocation,
// refusals and admin calls, and reads them back from the trail.
func TestAuditTrailRecordsEvents(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		svc, rs := ts.Demo.Service, ts.Demo.ResourceServer
		code, _, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"}})
		if code != http.StatusOK {
			t.Fatalf("token: %d %s", code, body)
		}
		tok := accessToken(t, body)
		claims := ts.verify(t, tok, "ES256")
		ts.introspect(t, tok)
		ts.introspect(t, "garbage")
		post(t, ts.Public+"/oauth2/token", svc.ClientID, "wrong-secret", url.Values{"grant_type": {"client_credentials"}})
		post(t, ts.Public+"/oauth2/revoke", svc.ClientID, svc.ClientSecret, url.Values{"token": {tok}})
		ts.introspect(t, tok) // inactive now, but signed by us: its jti is recorded
		created := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "audited app"})
		ts.adminJSON(t, "GET", "/admin/clients", nil)
		noAuth, _ := http.Get(ts.Admin + "/admin/clients")
		noAuth.Body.Close()

		all := ts.auditAll(t, nil)
		for i, e := range all {
			if e.Seq != all[0].Seq+int64(i) {
				t.Fatalf("entry %d has seq %d, want %d (gapless)", i, e.Seq, all[0].Seq+int64(i))
			}
			if e.Time == "" || e.Type == "" || e.Actor == "" || e.Outcome == "" || len(e.Hash) != 64 || len(e.PrevHash) != 64 {
				t.Errorf("entry %+v lacks a field", e)
			}
			raw, _ := json.Marshal(e)
			for _, secretText := range []string{svc.ClientSecret, rs.ClientSecret, tok, created.ClientSecret, "wrong-secret", testAdminToken} {
				if secretText != "" && strings.Contains(string(raw), secretText) {
					t.Errorf("entry %d holds a secret or token: %s", e.Seq, raw)
				}
			}
		}
		issued := ofType(all, adminapi.EventTokenIssued)
		if len(issued) != 1 {
			t.Fatalf("token.issued entries = %d, want 1: %+v", len(issued), issued)
		}
		if d := issued[0].Details; issued[0].ClientID != svc.ClientID || issued[0].Actor != "client:"+svc.ClientID || d["jti"] != claims.ID ||
			d["grant"] != "client_credentials" || d["scope"] != "identity.verify" || d["aud"] != "idv-api" || d["kid"] == "" ||
			issued[0].Subject != svc.ClientID || issued[0].IP != "127.0.0.1" || issued[0].RequestID == "" {
			t.Errorf("token.issued entry = %+v", issued[0])
		}
		refused := ofType(all, adminapi.EventTokenRefused)
		if len(refused) != 1 || refused[0].Outcome != "invalid_client" || refused[0].ClientID != svc.ClientID || refused[0].IP != "127.0.0.1" {
			t.Errorf("token.refused entries = %+v, want one invalid_client for %s", refused, svc.ClientID)
		}
		intro := ofType(all, adminapi.EventTokenIntrospected)
		if len(intro) != 3 {
			t.Fatalf("token.introspected entries = %d, want 3", len(intro))
		}
		want := []struct{ active, jti string }{{"true", claims.ID}, {"false", ""}, {"false", claims.ID}}
		for i, w := range want {
			if e := intro[i]; e.ClientID != rs.ClientID || e.Details["active"] != w.active || e.Details["jti"] != w.jti {
				t.Errorf("introspection %d = client %s details %v, want caller %s active %s jti %q", i, e.ClientID, e.Details, rs.ClientID, w.active, w.jti)
			}
		}
		if rv := ofType(all, adminapi.EventTokenRevoked); len(rv) != 1 || rv[0].Outcome != "ok" || rv[0].ClientID != svc.ClientID {
			t.Errorf("token.revoked entries = %+v", rv)
		}
		if cc := ofType(all, adminapi.EventClientCreated); len(cc) != 1 || cc[0].ClientID != created.ClientID || cc[0].Actor != "break-glass" || cc[0].Details["status"] != "201" {
			t.Errorf("client.created entries = %+v, want one for %s", cc, created.ClientID)
		}
		var sawList, sawRefusal bool
		for _, e := range ofType(all, adminapi.EventAdminRequest) {
			switch {
			case e.Details["route"] == "/admin/clients" && e.Details["method"] == "GET" && e.Outcome == "ok":
				sawList = true
			case e.Outcome == "unauthorized" && e.Actor == "anonymous" && e.Details["status"] == "401":
				sawRefusal = true
			}
		}
		if !sawList || !sawRefusal {
			t.Errorf("admin.request entries: list seen %v, refused call seen %v", sawList, sawRefusal)
		}
		if len(ofType(all, adminapi.EventKeyCreated)) < 2 {
			t.Errorf("key.created entries = %d, want one per first key", len(ofType(all, adminapi.EventKeyCreated)))
		}

		// Filters.
		byType := ts.auditAll(t, url.Values{"type": {adminapi.EventTokenIntrospected}})
		if len(byType) != 3 {
			t.Errorf("type filter: %d entries, want 3", len(byType))
		}
		byClient := ts.auditAll(t, url.Values{"client_id": {svc.ClientID}, "type": {adminapi.EventTokenIssued}})
		if len(byClient) != 1 || byClient[0].Seq != issued[0].Seq {
			t.Errorf("client filter: %+v", byClient)
		}
		if none := ts.auditAll(t, url.Values{"since": {"2999-01-01T00:00:00Z"}}); len(none) != 0 {
			t.Errorf("since in the future: %d entries, want 0", len(none))
		}

		v := ts.auditVerify(t)
		if !v.OK || v.BrokenAt != 0 || v.Entries < int64(len(all)) || v.LastHash == "" {
			t.Errorf("verify = %+v, want ok over at least %d entries", v, len(all))
		}
	})
}

// TestAuditAdminRefusals checks that bad audit queries get a 400 and
// that only GET is allowed.
func TestAuditAdminRefusals(t *testing.T) {
	ts := startServer(t, authz.Config{})
	for _, q := range []string{"since=yesterday", "until=2026-13-01T00:00:00Z", "limit=0", "limit=1001", "limit=x",
		"cursor=-1", "cursor=abc", "bogus=1", "type=a&type=b", "client_id=" + strings.Repeat("x", 300), "subject=%00"} {
		code, body := ts.adminJSON(t, "GET", "/admin/audit?"+q, nil)
		if code != http.StatusBadRequest || !strings.Contains(string(body), `"error":"invalid_request"`) {
			t.Errorf("GET /admin/audit?%s = %d %s, want 400 invalid_request", q, code, body)
		}
	}
	for _, p := range []string{"/admin/audit", "/admin/audit/verify"} {
		if code, _ := ts.adminJSON(t, "POST", p, map[string]string{}); code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s = %d, want 405", p, code)
		}
	}
}

// TestAuditEveryIssuedTokenHasOneEntry issues tokens from concurrent
// workers and checks that each token that arrived has exactly one
// token.issued entry, and that the chain verifies.
func TestAuditEveryIssuedTokenHasOneEntry(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.RateLimits.TokenPerClient = -1
		ts := startServer(t, cfg)
		svc := ts.Demo.Service
		const workers, each = 16, 20
		var mu sync.Mutex
		jtis := map[string]bool{}
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					code, _, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
					if code != http.StatusOK {
						t.Errorf("token: %d %s", code, body)
						return
					}
					c := ts.verify(t, accessToken(t, body), "ES256")
					mu.Lock()
					jtis[c.ID] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		entries := ts.auditAll(t, url.Values{"type": {adminapi.EventTokenIssued}, "limit": {"1000"}})
		seen := map[string]int{}
		for _, e := range entries {
			seen[e.Details["jti"]]++
		}
		for jti := range jtis {
			if seen[jti] != 1 {
				t.Errorf("token %s has %d token.issued entries, want 1", jti, seen[jti])
			}
		}
		if len(jtis) != workers*each || len(entries) != workers*each {
			t.Errorf("%d tokens arrived, %d token.issued entries; want %d of each", len(jtis), len(entries), workers*each)
		}
		if v := ts.auditVerify(t); !v.OK {
			t.Errorf("verify after concurrent issuance = %+v", v)
		}
	})
}

// TestAuditOff checks that with the trail disabled nothing is written and
// issuance works.
func TestAuditOff(t *testing.T) {
	ts := startServer(t, authz.Config{AuditDisabled: true})
	svc := ts.Demo.Service
	if code, _, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret, url.Values{"grant_type": {"client_credentials"}}); code != http.StatusOK {
		t.Fatalf("token: %d %s", code, body)
	}
	if all := ts.auditAll(t, nil); len(all) != 0 {
		t.Errorf("audit off: %d entries, want none; first %s", len(all), fmt.Sprint(all[0]))
	}
}

// TestAuditVerifyFindsTampering edits the trail with SQL as the table
// owner (trigger disabled) and checks that the admin API's verification
// names the changed entry, and the one after a removed entry.
func TestAuditVerifyFindsTampering(t *testing.T) {
	ts := startServer(t, authz.Config{DatabaseURL: pgtest.URL(t)})
	svc := ts.Demo.Service
	ts.issueTokens(t, 5)
	if v := ts.auditVerify(t); !v.OK {
		t.Fatalf("clean trail: verify = %+v", v)
	}
	issued := ts.auditAll(t, url.Values{"type": {adminapi.EventTokenIssued}})
	if len(issued) != 5 {
		t.Fatalf("%d token.issued entries, want 5", len(issued))
	}
	conn := ts.db(t)
	ctx := context.Background()
	// An UPDATE with the trigger in place is refused.
	if _, err := conn.Exec(ctx, `UPDATE audit_entries SET body = body WHERE seq = $1`, issued[1].Seq); err == nil {
		t.Fatal("UPDATE of an audit entry succeeded with the trigger in place")
	}
	if _, err := conn.Exec(ctx, `ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only`); err != nil {
		t.Fatal(err)
	}
	// Changed: another client ID inside the body.
	if _, err := conn.Exec(ctx, `UPDATE audit_entries SET body = convert_to(replace(convert_from(body, 'UTF8'), $2, 'someone-else'), 'UTF8') WHERE seq = $1`,
		issued[1].Seq, svc.ClientID); err != nil {
		t.Fatal(err)
	}
	if v := ts.auditVerify(t); v.OK || v.BrokenAt != issued[1].Seq {
		t.Errorf("after changing entry %d: verify = %+v, want broken_at %d", issued[1].Seq, v, issued[1].Seq)
	}
	// Removed: the changed entry goes; the break is now at its seq, as missing.
	if _, err := conn.Exec(ctx, `DELETE FROM audit_entries WHERE seq = $1`, issued[1].Seq); err != nil {
		t.Fatal(err)
	}
	if v := ts.auditVerify(t); v.OK || v.BrokenAt != issued[1].Seq || !strings.Contains(v.Reason, "missing") {
		t.Errorf("after deleting entry %d: verify = %+v, want broken_at %d (missing)", issued[1].Seq, v, issued[1].Seq)
	}

}

// TestAuditRetention drops old entries behind a checkpoint: the rest
// still verifies, and the checkpoint names what was dropped.
func TestAuditRetention(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		clock := testutil.NewClock(time.Now())
		cfg.Now = clock.Now
		cfg.AuditRetention = time.Hour
		ts := startServer(t, cfg)
		ts.issueTokens(t, 3)
		cutoff := clock.Advance(2 * time.Hour).Add(-time.Hour)
		ts.issueTokens(t, 1)
		var old []adminapi.AuditEntryJSON
		for _, e := range ts.auditAll(t, nil) {
			if at, _ := time.Parse(time.RFC3339Nano, e.Time); at.Before(cutoff) {
				old = append(old, e)
			}
		}
		if len(old) < 4 {
			t.Fatalf("%d entries before the cutoff, want the first keys' and tokens'", len(old))
		}
		n, err := ts.Srv.DropOldAudit(context.Background())
		if err != nil || n != len(old) {
			t.Fatalf("DropOldAudit = %d, %v; want the %d old entries", n, err, len(old))
		}
		rest := ts.auditAll(t, nil)
		if rest[0].Seq != old[len(old)-1].Seq+1 {
			t.Errorf("first entry after the drop is %d, want %d", rest[0].Seq, old[len(old)-1].Seq+1)
		}
		cp := ofType(rest, adminapi.EventAuditCheckpoint)
		if len(cp) != 1 || cp[0].Details["dropped_through"] != fmt.Sprint(old[len(old)-1].Seq) || cp[0].Details["last_hash"] != old[len(old)-1].Hash {
			t.Errorf("checkpoint = %+v, want one for entries up to %d", cp, old[len(old)-1].Seq)
		}
		if v := ts.auditVerify(t); !v.OK {
			t.Errorf("verify after retention = %+v", v)
		}
		// In parts, the start must be vouched for by the checkpoint before
		// the walk reaches it.
		// (Parts of 2: each call appends an entry, which the next sees.)
		if v, n, _ := ts.auditVerifyParts(t, "", 2); !v.OK || !v.Complete || n != v.LastSeq-rest[0].Seq+1 {
			t.Errorf("verify after retention in parts of 2 = %+v after %d entries, want ok and complete, every entry from %d", v, n, rest[0].Seq)
		}
		dropped := fmt.Sprintf("%d:%s", old[0].Seq, old[0].Hash)
		if code, body := ts.adminJSON(t, "GET", "/admin/audit/verify?from="+dropped, nil); code != http.StatusBadRequest ||
			!strings.Contains(string(body), "no longer in the audit trail") {
			t.Errorf("verify from a dropped entry = %d %s, want 400 naming it", code, body)
		}
		if n, err := ts.Srv.DropOldAudit(context.Background()); err != nil || n != 0 {
			t.Errorf("second DropOldAudit = %d, %v; want nothing to drop", n, err)
		}
	})
}

// TestAuditVerifyFindsTruncation removes the last entries, as someone
// with the database role could (retention's switch lets DELETE through):
// the hashes cannot show it, the chain head does.
func TestAuditVerifyFindsTruncation(t *testing.T) {
	ts := startServer(t, authz.Config{DatabaseURL: pgtest.URL(t)})
	ts.issueTokens(t, 3)
	conn := ts.db(t)
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	if err := tx.QueryRow(ctx, `SELECT max(seq) FROM audit_entries`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SET LOCAL idvauth.audit_retention = 'on'`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM audit_entries WHERE seq > $1`, last-2); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if v := ts.auditVerify(t); v.OK || v.BrokenAt != last-1 || !strings.Contains(v.Reason, "removed from the end") {
		t.Errorf("after removing entries %d and %d: verify = %+v, want broken_at %d (removed from the end)", last-1, last, v, last-1)
	}
}

// TestAuditVerifyInParts checks verification in parts (limit) and from a
// kept head (from): the parts add up to the whole, a kept head checks
// only what came after it, and a head that no longer matches, or lies
// beyond the chain, is a broken trail.
func TestAuditVerifyInParts(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		ts.issueTokens(t, 5)
		whole := ts.auditVerify(t)
		if !whole.OK || !whole.Complete || whole.FirstSeq != 1 || whole.Entries < 5 {
			t.Fatalf("verify = %+v, want ok, complete, from seq 1", whole)
		}
		v, n, calls := ts.auditVerifyParts(t, "", 2)
		// The whole trail at the time, since the calls are audited too.
		if !v.OK || !v.Complete || v.LastSeq < whole.LastSeq || n != v.LastSeq || calls < int(whole.Entries+1)/2 {
			t.Errorf("verify in parts of 2 = %+v after %d entries in %d calls; want ok, complete, every entry once", v, n, calls)
		}

		head := fmt.Sprintf("%d:%s", v.LastSeq, v.LastHash)
		before := ts.auditAll(t, nil)
		ts.issueTokens(t, 1)
		after, n, _ := ts.auditVerifyParts(t, head, 1000)
		if !after.OK || !after.Complete || after.FirstSeq != v.LastSeq+1 || n != after.LastSeq-v.LastSeq || n < 2 {
			t.Errorf("verify from %s = %+v, %d entries; want ok, only the entries after it", head, after, n)
		}
		var kept adminapi.AuditEntryJSON // an entry that is not the last
		for _, e := range before {
			if e.Type == adminapi.EventTokenIssued {
				kept = e
			}
		}
		// A kept head that no longer matches: the chain was rewritten.
		wrong := fmt.Sprintf("%d:%s", kept.Seq, strings.Repeat("ab", 32))
		if v, _, _ := ts.auditVerifyParts(t, wrong, 1000); v.OK || v.BrokenAt != kept.Seq || !strings.Contains(v.Reason, "not the one kept") {
			t.Errorf("verify from a changed head = %+v, want broken at %d", v, kept.Seq)
		}
		// A kept head beyond the chain: entries were removed from the end.
		beyond := fmt.Sprintf("%d:%s", after.LastSeq+100, after.LastHash)
		if v, _, _ := ts.auditVerifyParts(t, beyond, 1000); v.OK || !strings.Contains(v.Reason, "removed from the end") {
			t.Errorf("verify from beyond the head = %+v, want broken (removed from the end)", v)
		}

		zero := strings.Repeat("0", 64)
		for _, q := range []string{
			"from=abc", "from=1:" + strings.Repeat("g", 64), "from=1:" + strings.Repeat("AB", 32), "from=0:" + zero,
			"from=-1:" + zero, "from=1:" + zero[:62], "from=", "limit=0", "limit=1000001", "limit=x", "limit=",
			"limit=1&limit=2", "cursor=3", "from=1:" + zero + "&from=2:" + zero,
		} {
			code, body := ts.adminJSON(t, "GET", "/admin/audit/verify?"+q, nil)
			if code != http.StatusBadRequest || !strings.Contains(string(body), `"invalid_request"`) {
				t.Errorf("GET /admin/audit/verify?%s = %d %s, want 400 invalid_request", q, code, body)
			}
		}
		if v := ts.auditVerify(t); !v.OK || !v.Complete {
			t.Errorf("verify after the refused calls = %+v, want intact", v)
		}
	})
}

// TestAuditVerifyFromKeptHead rewrites an entry and every hash after it,
// head included, as the database's owner could: the chain then verifies
// whole, and only a head kept from before the rewrite shows it.
func TestAuditVerifyFromKeptHead(t *testing.T) {
	ts := startServer(t, authz.Config{DatabaseURL: pgtest.URL(t)})
	ts.issueTokens(t, 3)
	kept := ts.auditVerify(t)
	issued := ofType(ts.auditAll(t, nil), adminapi.EventTokenIssued)
	conn := ts.db(t)
	ctx := context.Background()
	for _, q := range []string{
		`ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only`,
		`UPDATE audit_entries SET body = convert_to(replace(convert_from(body, 'UTF8'), 'client_credentials', 'client_credentialz'), 'UTF8') WHERE seq = ` +
			strconv.FormatInt(issued[0].Seq, 10),
		`DO $$
		DECLARE r record; h bytea;
		BEGIN
			FOR r IN SELECT seq, body FROM audit_entries ORDER BY seq LOOP
				IF h IS NULL THEN
					SELECT prev_hash INTO h FROM audit_entries WHERE seq = r.seq;
				END IF;
				UPDATE audit_entries SET prev_hash = h, hash = sha256(h || r.body) WHERE seq = r.seq;
				h := sha256(h || r.body);
			END LOOP;
			UPDATE audit_head SET hash = h;
		END $$`,
		`ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if e := ts.auditAll(t, nil)[issued[0].Seq-1]; e.Details["grant"] != "client_credentialz" {
		t.Fatalf("the rewrite did not take: %+v", e)
	}
	if v := ts.auditVerify(t); !v.OK {
		t.Fatalf("verify of the rewritten chain = %+v; the test expects the rewrite to go unseen without a kept head", v)
	}
	from := fmt.Sprintf("%d:%s", kept.LastSeq, kept.LastHash)
	if v, _, _ := ts.auditVerifyParts(t, from, 1000); v.OK || v.BrokenAt != kept.LastSeq || !strings.Contains(v.Reason, "rewritten") {
		t.Errorf("verify from the head kept before the rewrite = %+v, want broken at %d", v, kept.LastSeq)
	}
}
