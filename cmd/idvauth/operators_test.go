package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// TestOperatorsBootstrap makes the first owner on PostgreSQL directly,
// then manages operators through the admin API of a server on that
// database: the link is single use, 30 minutes, stored as a digest; the
// last owner stays; the creation is audited.
func TestOperatorsBootstrap(t *testing.T) {
	t.Parallel()
	u := pgtest.URL(t)
	db := map[string]string{"IDVAUTH_DATABASE_URL": u, "IDVAUTH_ADMIN_URL": "https://idvauth-admin.internal"}
	mustCLI(t, db, "migrate", "up")
	// Without a break-glass token, serve needs an operator.
	prod := map[string]string{"IDVAUTH_DATABASE_URL": u, "IDVAUTH_SECRETS": "test-secret-0123456789abcdef0123456789abcdef"}
	serve := []string{"serve", "--public-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}
	if code, _, stderr := cli(t, prod, serve...); code == 0 || !strings.Contains(stderr, "idvauth operators create") {
		t.Errorf("serve without an admin token or an operator = exit %d, %q; want refused, naming operators create", code, stderr)
	}

	var e adminapi.Enrollment
	if err := json.Unmarshal([]byte(mustCLI(t, db, "operators", "create", "--username", "ada", "--role", "owner", "-o", "json")), &e); err != nil {
		t.Fatal(err)
	}
	link, err := url.Parse(e.EnrollmentURL)
	if err != nil || link.Scheme+"://"+link.Host+link.Path != "https://idvauth-admin.internal/console/enroll" || link.Query().Get("token") == "" {
		t.Fatalf("enrollment link = %q, want one on IDVAUTH_ADMIN_URL", e.EnrollmentURL)
	}
	if ttl := time.Until(time.Unix(e.EnrollmentExpiresAt, 0)); ttl > 30*time.Minute || ttl < 29*time.Minute {
		t.Errorf("link valid for %v, want 30 minutes", ttl)
	}
	if e.Operator.Role != "owner" || e.Operator.Username != "ada" || !e.Operator.EnrollmentPending || e.Operator.MFAEnrolled {
		t.Errorf("operator = %+v", e.Operator)
	}
	if out := mustCLI(t, db, "operators", "create", "--username", "bob", "--role", "support"); !strings.Contains(out, "shown once") || !strings.Contains(out, "/console/enroll?token=") {
		t.Errorf("table output = %q, want the link and that it is shown once", out)
	}
	for _, args := range [][]string{
		{"--username", "ada", "--role", "admin"},   // taken
		{"--username", "eve", "--role", "root"},    // no such role
		{"--username", "e v e", "--role", "admin"}, // bad username
	} {
		if code, _, stderr := cli(t, db, append([]string{"operators", "create"}, args...)...); code == 0 || stderr == "" {
			t.Errorf("operators create %v: exit %d, %q; want a clear failure", args, code, stderr)
		}
	}

	st, err := postgres.Open(context.Background(), postgres.Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	o, err := st.GetOperatorByUsername(ctx, "ada")
	token := link.Query().Get("token")
	sum := sha256.Sum256([]byte(token))
	if err != nil || string(o.EnrollmentDigest) != string(sum[:]) || strings.Contains(string(o.EnrollmentDigest), token) {
		t.Fatalf("stored operator = %+v, %v; want the digest of the link's token", o, err)
	}
	if _, err := st.UseEnrollment(ctx, sum[:], time.Now()); err != nil {
		t.Fatalf("first use of the link: %v", err)
	}
	if _, err := st.UseEnrollment(ctx, sum[:], time.Now()); err == nil {
		t.Fatal("the link worked twice")
	}
	entries, err := st.ListAudit(ctx, storage.AuditFilter{Type: adminapi.EventOperatorCreated})
	if err != nil || len(entries) != 2 || entries[0].Actor != "system" || entries[0].Subject != o.ID {
		t.Fatalf("operator.created entries = %+v, %v; want two by system", entries, err)
	}

	// Once one exists, serve starts without the break-glass token, and
	// the admin API takes no static token.
	s := startServe(t, prod, serve[1:]...)
	waitFor(t, "serve to listen", s.done, func() bool { return strings.Contains(s.stderr.String()+s.stdout.String(), "idvauth serving") })
	if strings.Contains(s.stderr.String()+s.stdout.String(), "break-glass") {
		t.Errorf("serve without IDVAUTH_ADMIN_TOKEN warns of it:\n%s", redact(s.stderr.String()))
	}
	s.stop()

	d := startDev(t, map[string]string{"IDVAUTH_DATABASE_URL": u, "IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_SECRETS": prod["IDVAUTH_SECRETS"]})
	api := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	var list adminapi.OperatorList
	if err := json.Unmarshal([]byte(mustCLI(t, api, "operators", "list", "-o", "json")), &list); err != nil || len(list.Operators) != 2 {
		t.Fatalf("operators list = %+v, %v", list, err)
	}
	if code, _, stderr := cli(t, api, "operators", "disable", o.ID); code == 0 || !strings.Contains(stderr, "last enabled owner") {
		t.Errorf("disable the last owner: exit %d, %q; want refused", code, stderr)
	}
	bob := list.Operators[1]
	if out := mustCLI(t, api, "operators", "update", bob.ID, "--role", "owner"); !strings.Contains(out, "owner") {
		t.Errorf("update = %q", out)
	}
	if out := mustCLI(t, api, "operators", "disable", o.ID); !strings.Contains(out, "disabled") {
		t.Errorf("disable = %q", out)
	}
	var reset adminapi.Enrollment
	if err := json.Unmarshal([]byte(mustCLI(t, api, "operators", "mfa-reset", bob.ID, "-o", "json")), &reset); err != nil || !strings.HasPrefix(reset.EnrollmentURL, d.adminURL+"/console/enroll?token=") {
		t.Errorf("mfa-reset = %+v, %v; want a new link on the admin listener", reset, err)
	}
	if out := mustCLI(t, api, "operators", "create", "--username", "carol", "--role", "auditor"); !strings.Contains(out, "carol") {
		t.Errorf("create through the API = %q", out)
	}
}
