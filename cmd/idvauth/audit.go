package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/settings"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

func newAuditCmd(env lookupEnv) *cobra.Command {
	cmd := clikit.Group(&cobra.Command{
		Use:   "audit",
		Short: "Read, verify and export the audit trail, through the admin API",
		Long: `Read the audit trail of a running server through its admin API: every token
issued or refused, introspection, revocation, sign-in, consent and admin
change, with who did it and the outcome. Entries are hash-chained: each
holds the hash of the one before, so a changed or deleted entry shows.

The admin API is found at IDVAUTH_ADMIN_URL (default http://127.0.0.1:8081)
and authenticated with IDVAUTH_ADMIN_TOKEN.

--since and --until take an RFC 3339 time (2026-11-23T10:00:00Z), a date
(2026-11-23, midnight UTC) or how long ago (90m, 24h, 7d).`,
		Example: `  export IDVAUTH_ADMIN_TOKEN=...
  idvauth audit list --since 24h --type token.refused
  idvauth audit verify -o json
  idvauth audit export --since 2026-11-01 --output-file audit-2026-11.jsonl`,
	})
	addAdminFlags(cmd)
	cmd.AddCommand(auditListCmd(env), auditVerifyCmd(env), auditExportCmd(env))
	return cmd
}

func auditListCmd(env lookupEnv) *cobra.Command {
	var q adminapi.AuditQuery // set by the check of the flags
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Show audit entries, oldest first, with filters",
		Long: `Show the audit entries that match the filters, oldest first: all of them, or
the first --limit. The table has one line per entry; its details are the
entry's key=value pairs.

With -o json the output is JSON lines: one entry per line, each exactly as the
admin API returned it (the API's pages are followed and not shown).`,
		Example: `  idvauth audit list --since 24h
  idvauth audit list --client kyc-backend --type token.issued --limit 20
  idvauth audit list --subject u_3mJr7AoUXx2Wqd9KvYg5Tw --since 2026-11-01 -o json`,
		Args: cobra.NoArgs,
		RunE: adminRunE(env, func(cmd *cobra.Command, _ []string) (err error) {
			if limit, _ = cmd.Flags().GetInt("limit"); limit < 0 {
				return clikit.UsageErrorf("--limit must be 0 (every entry) or more, not %d", limit)
			}
			q, err = auditQuery(cmd, time.Now())
			return err
		}, func(a *adminCall, _ []string) error {
			if a.json {
				return a.api.WriteAuditLines(a.ctx, a.out, q, limit)
			}
			w := adminapi.NewAuditTable(a.out)
			if _, err := a.api.ListAudit(a.ctx, q, limit, func(e adminapi.AuditEntryJSON, _ json.RawMessage) error { return w.Write(e) }); err != nil {
				return err
			}
			return w.Flush()
		}),
	}
	addAuditFilterFlags(cmd)
	cmd.Flags().Int("limit", 0, "show at most this many entries (0: every entry that matches)")
	clikit.AddOutputFlag(cmd)
	cmd.Flags().Lookup("output").Usage = "output format: table or json (JSON lines: one entry per line, as the admin API returned it)"
	return cmd
}

func auditVerifyCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the hash chain of the audit trail; exit 1 if it is broken",
		Long: `Have the server check every link of the audit trail's hash chain, in parts
of --page entries. An intact trail prints how many entries were checked and
the seq and hash of the last one. Keep that SEQ:HASH somewhere the database's
owner cannot write: a later "audit verify --from SEQ:HASH" then checks only
the entries after it, and fails if the chain up to it was rewritten or
entries were removed from its end.

A broken trail names the first bad entry and why, and the command exits 1.
With -o json it prints the admin API's answers as JSON lines, one per part;
the last says whether the trail is intact ("ok") and whole ("complete").`,
		Example: `  idvauth audit verify
  idvauth audit verify --from 1042:3f5c...e9   # only what came after a kept head
  idvauth audit verify -o json | tail -n 1`,
		Args: cobra.NoArgs,
		RunE: adminRunE(env, func(cmd *cobra.Command, _ []string) error {
			if page, _ := cmd.Flags().GetInt64("page"); page < 1 || page > adminapi.MaxAuditVerifyLimit {
				return clikit.UsageErrorf("--page must be from 1 to %d", adminapi.MaxAuditVerifyLimit)
			}
			if from, _ := cmd.Flags().GetString("from"); from != "" {
				if _, err := adminapi.ParseAuditAnchor(from); err != nil {
					return fmt.Errorf("--from %w", err)
				}
			}
			return nil
		}, func(a *adminCall, _ []string) error {
			page, _ := a.cmd.Flags().GetInt64("page")
			from, _ := a.cmd.Flags().GetString("from")
			var each func([]byte) error
			if a.json {
				var buf bytes.Buffer
				each = func(raw []byte) error { return adminapi.WriteJSONLine(a.out, &buf, raw) }
			}
			total, err := a.api.VerifyAuditAll(a.ctx, from, page, each)
			if err != nil {
				return err
			}
			if !a.json {
				adminapi.WriteVerification(a.out, total, from)
			}
			if !total.OK {
				return fmt.Errorf("audit verification failed: the chain breaks at entry %d", total.BrokenAt)
			}
			return nil
		}),
	}
	cmd.Flags().String("from", "", "check only the entries after SEQ:HASH, the head a verification printed before, and that it still has that hash")
	cmd.Flags().Int64("page", 100000, "entries the server checks per request")
	clikit.AddOutputFlag(cmd)
	cmd.Flags().Lookup("output").Usage = "output format: table or json (the admin API's answers, one JSON line per part)"
	return cmd
}

func auditExportCmd(env lookupEnv) *cobra.Command {
	var q adminapi.AuditQuery // set by the check of the flags
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write audit entries as JSON lines, for a SIEM",
		Long: `Write the audit entries that match the filters as JSON lines, oldest first:
one entry per line, each exactly as the admin API returned it. To stdout, or
to --output-file, which is created readable by its owner only (0600) and is
never overwritten unless --force. If the export fails half-way, the file is
removed.`,
		Example: `  idvauth audit export --since 24h | siem-forwarder
  idvauth audit export --since 2026-11-01 --until 2026-12-01 --output-file audit-2026-11.jsonl`,
		Args: cobra.NoArgs,
		RunE: adminRunE(env, func(cmd *cobra.Command, _ []string) (err error) {
			q, err = auditQuery(cmd, time.Now())
			return err
		}, func(a *adminCall, _ []string) error {
			path, _ := a.cmd.Flags().GetString("output-file")
			if path == "" {
				return a.api.WriteAuditLines(a.ctx, a.out, q, 0)
			}
			force, _ := a.cmd.Flags().GetBool("force")
			n, err := a.api.ExportAudit(a.ctx, q, path, force)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s exists: choose another --output-file, or add --force to overwrite it", path)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "exported %d audit %s to %s\n", n, adminapi.Plural(n, "entry", "entries"), path)
			return nil
		}),
	}
	addAuditFilterFlags(cmd)
	cmd.Flags().String("output-file", "", "write to this file (created 0600) instead of stdout")
	cmd.Flags().Bool("force", false, "overwrite --output-file if it exists")
	return cmd
}

func addAuditFilterFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("since", "", "entries at or after this time: RFC 3339, a date, or how long ago (24h, 7d)")
	f.String("until", "", "entries before this time: RFC 3339, a date, or how long ago (1h)")
	f.String("type", "", "only entries of this type, e.g. token.issued, login.failed, client.updated")
	f.String("client", "", "only entries about this client_id")
	f.String("subject", "", "only entries about this person (user ID)")
}

// auditQuery reads the filter flags; durations count back from now.
func auditQuery(cmd *cobra.Command, now time.Time) (adminapi.AuditQuery, error) {
	var q adminapi.AuditQuery
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		v, _ := cmd.Flags().GetString(b.name)
		if v == "" {
			continue
		}
		t, err := parseWhen(v, now)
		if err != nil {
			return q, clikit.UsageErrorf("--%s: %q is neither an RFC 3339 time (2026-11-23T10:00:00Z), a date (2026-11-23) nor how long ago (24h, 7d)", b.name, v)
		}
		*b.dst = t
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return q, clikit.UsageErrorf("--since must be before --until")
	}
	q.Type, _ = cmd.Flags().GetString("type")
	q.ClientID, _ = cmd.Flags().GetString("client")
	q.Subject, _ = cmd.Flags().GetString("subject")
	return q, nil
}

// parseWhen parses an RFC 3339 time, a date (midnight UTC) or a duration
// (90m, 24h, 7d) meaning that long before now.
func parseWhen(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	d, err := settings.ParseDays(v)
	if err != nil {
		return time.Time{}, err
	}
	if d < 0 {
		return time.Time{}, errors.New("negative duration")
	}
	return now.Add(-d), nil
}
