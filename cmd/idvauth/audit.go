package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz"
)

// auditPageSize is how many entries one call asks for: the most the admin
// API gives in one page.
const auditPageSize = 1000

func newAuditCmd(env lookupEnv) *cobra.Command {
	cmd := group(&cobra.Command{
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
	cmd.PersistentFlags().String(sAdminURL.flag, sAdminURL.def, sAdminURL.usage+" (env "+sAdminURL.env+")")
	cmd.PersistentFlags().String(sAdminToken.flag, "", "admin API bearer token (prefer env IDVAUTH_ADMIN_TOKEN: flags show in ps)")

	list := &cobra.Command{
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			limit, _ := cmd.Flags().GetInt("limit")
			if limit < 0 {
				return fmt.Errorf("--limit must be 0 (every entry) or more, not %d", limit)
			}
			q, err := auditQuery(cmd, time.Now())
			if err != nil {
				return err
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			if asJSON {
				return streamAudit(cmd, ac, q, limit)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tTIME\tTYPE\tACTOR\tCLIENT\tSUBJECT\tOUTCOME\tDETAILS")
			_, err = fetchAudit(cmd, ac, q, limit, func(_ json.RawMessage, e authz.AuditEntryJSON) error {
				_, err := fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, auditTime(e.Time), cell(e.Type), cell(e.Actor),
					cell(e.ClientID), cell(e.Subject), cell(e.Outcome), details(e.Details))
				return err
			})
			if err != nil {
				return err
			}
			return tw.Flush()
		},
	}
	addAuditFilterFlags(list)
	list.Flags().Int("limit", 0, "show at most this many entries (0: every entry that matches)")

	verify := &cobra.Command{
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			page, _ := cmd.Flags().GetInt64("page")
			if page < 1 || page > authz.MaxAuditVerifyLimit {
				return fmt.Errorf("--page must be from 1 to %d", authz.MaxAuditVerifyLimit)
			}
			from, _ := cmd.Flags().GetString("from")
			if from != "" {
				if _, err := authz.ParseAuditAnchor(from); err != nil {
					return fmt.Errorf("--from %w", err)
				}
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var total authz.AuditVerification
			for next := from; ; {
				q := url.Values{"limit": {strconv.FormatInt(page, 10)}}
				if next != "" {
					q.Set("from", next)
				}
				body, err := ac.do(cmd.Context(), http.MethodGet, "/admin/audit/verify?"+q.Encode(), nil)
				if err != nil {
					return err
				}
				var v authz.AuditVerification
				if err := json.Unmarshal(body, &v); err != nil {
					return fmt.Errorf("unexpected admin API answer: %w", err)
				}
				if asJSON { // one line per answer
					var line bytes.Buffer
					if err := json.Compact(&line, body); err != nil {
						return fmt.Errorf("unexpected admin API answer: %w", err)
					}
					if _, err := fmt.Fprintln(w, line.String()); err != nil {
						return err
					}
				}
				if total.FirstSeq == 0 {
					total.FirstSeq = v.FirstSeq
				}
				total.OK, total.Complete, total.Entries = v.OK, v.Complete, total.Entries+v.Entries
				total.LastSeq, total.LastHash, total.BrokenAt, total.Reason = v.LastSeq, v.LastHash, v.BrokenAt, v.Reason
				if !v.OK || v.Complete {
					break
				}
				n := fmt.Sprintf("%d:%s", v.LastSeq, v.LastHash)
				if v.Entries == 0 || n == next {
					return errors.New("the admin API's verification made no progress; is the server older than this command?")
				}
				next = n
			}
			switch {
			case asJSON:
			case total.OK && total.LastSeq == 0:
				fmt.Fprintln(w, "audit trail intact: 0 entries")
			case total.OK:
				what := "audit trail intact"
				if from != "" {
					what += " after entry " + strings.SplitN(from, ":", 2)[0]
				}
				if total.Entries == 0 {
					fmt.Fprintf(w, "%s: no new entries\n", what)
				} else {
					fmt.Fprintf(w, "%s: %d %s (seq %d..%d)\n", what, total.Entries, plural(total.Entries, "entry", "entries"),
						total.FirstSeq, total.LastSeq)
				}
				fmt.Fprintf(w, "head %d:%s (keep it; next time: idvauth audit verify --from %d:%s)\n",
					total.LastSeq, cell(total.LastHash), total.LastSeq, cell(total.LastHash))
			default:
				fmt.Fprintf(w, "audit trail BROKEN at entry %d: %s\n", total.BrokenAt, printable(total.Reason))
			}
			if !total.OK {
				return fmt.Errorf("audit verification failed: the chain breaks at entry %d", total.BrokenAt)
			}
			return nil
		},
	}
	verify.Flags().String("from", "", "check only the entries after SEQ:HASH, the head a verification printed before, and that it still has that hash")
	verify.Flags().Int64("page", 100000, "entries the server checks per request")
	addOutputFlag(list)
	list.Flags().Lookup("output").Usage = "output format: table or json (JSON lines: one entry per line, as the admin API returned it)"
	addOutputFlag(verify)
	verify.Flags().Lookup("output").Usage = "output format: table or json (the admin API's answers, one JSON line per part)"

	export := &cobra.Command{
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := auditQuery(cmd, time.Now())
			if err != nil {
				return err
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			path, _ := cmd.Flags().GetString("output-file")
			if path == "" {
				return streamAudit(cmd, ac, q, 0)
			}
			force, _ := cmd.Flags().GetBool("force")
			n, err := exportToFile(cmd, ac, q, path, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %d audit %s to %s\n", n, plural(n, "entry", "entries"), path)
			return nil
		},
	}
	addAuditFilterFlags(export)
	export.Flags().String("output-file", "", "write to this file (created 0600) instead of stdout")
	export.Flags().Bool("force", false, "overwrite --output-file if it exists")

	cmd.AddCommand(list, verify, export)
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

// auditQuery turns the filter flags into the query of GET /admin/audit;
// durations count back from now.
func auditQuery(cmd *cobra.Command, now time.Time) (url.Values, error) {
	q := url.Values{}
	var bounds [2]time.Time
	for i, name := range []string{"since", "until"} {
		v, _ := cmd.Flags().GetString(name)
		if v == "" {
			continue
		}
		t, err := parseWhen(v, now)
		if err != nil {
			return nil, fmt.Errorf("--%s: %q is neither an RFC 3339 time (2026-11-23T10:00:00Z), a date (2026-11-23) nor how long ago (24h, 7d)", name, v)
		}
		bounds[i] = t
		q.Set(name, t.UTC().Format(time.RFC3339Nano))
	}
	if !bounds[0].IsZero() && !bounds[1].IsZero() && !bounds[0].Before(bounds[1]) {
		return nil, errors.New("--since must be before --until")
	}
	for _, f := range []struct{ flag, param string }{{"type", "type"}, {"client", "client_id"}, {"subject", "subject"}} {
		if v, _ := cmd.Flags().GetString(f.flag); v != "" {
			q.Set(f.param, v)
		}
	}
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
	d, err := parseDays(v)
	if err != nil {
		return time.Time{}, err
	}
	if d < 0 {
		return time.Time{}, errors.New("negative duration")
	}
	return now.Add(-d), nil
}

// auditPage is a page of GET /admin/audit with its entries kept as sent.
type auditPage struct {
	Entries    []json.RawMessage `json:"entries"`
	NextCursor string            `json:"next_cursor"`
}

// fetchAudit calls GET /admin/audit with q, page after page, and hands
// each entry to each, as sent and decoded, until the last page or until
// limit entries (0: no limit). It returns how many entries it handed on.
func fetchAudit(cmd *cobra.Command, ac *adminClient, q url.Values, limit int, each func(json.RawMessage, authz.AuditEntryJSON) error) (int, error) {
	n := 0
	for {
		size := auditPageSize
		if limit > 0 && limit-n < size {
			size = limit - n
		}
		q.Set("limit", strconv.Itoa(size))
		body, err := ac.do(cmd.Context(), http.MethodGet, "/admin/audit?"+q.Encode(), nil)
		if err != nil {
			return n, err
		}
		var p auditPage
		if err := json.Unmarshal(body, &p); err != nil {
			return n, fmt.Errorf("unexpected admin API answer: %w", err)
		}
		for _, raw := range p.Entries {
			var e authz.AuditEntryJSON
			if err := json.Unmarshal(raw, &e); err != nil {
				return n, fmt.Errorf("unexpected admin API answer: %w", err)
			}
			if err := each(raw, e); err != nil {
				return n, err
			}
			n++
		}
		if p.NextCursor == "" || (limit > 0 && n >= limit) {
			return n, nil
		}
		if len(p.Entries) == 0 || p.NextCursor == q.Get("cursor") {
			return n, fmt.Errorf("unexpected admin API answer: next_cursor %q does not move on", p.NextCursor)
		}
		q.Set("cursor", p.NextCursor)
	}
}

// streamAudit writes the entries of q as JSON lines to stdout. A call that
// fails half-way leaves the lines already written (a stream is read as it
// comes) and returns the error.
func streamAudit(cmd *cobra.Command, ac *adminClient, q url.Values, limit int) error {
	w := bufio.NewWriter(cmd.OutOrStdout())
	_, err := fetchAudit(cmd, ac, q, limit, jsonLine(w))
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// jsonLine writes each entry, as the admin API sent it, on a line of w.
func jsonLine(w io.Writer) func(json.RawMessage, authz.AuditEntryJSON) error {
	var buf bytes.Buffer
	return func(raw json.RawMessage, _ authz.AuditEntryJSON) error {
		buf.Reset()
		if err := json.Compact(&buf, raw); err != nil {
			return fmt.Errorf("unexpected admin API answer: %w", err)
		}
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	}
}

// exportToFile writes the entries of q as JSON lines to a new file at path
// (readable by its owner only), or over an existing one if force. A
// failed export leaves no file behind.
func exportToFile(cmd *cobra.Command, ac *adminClient, q url.Values, path string, force bool) (n int, err error) {
	flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return 0, fmt.Errorf("%s exists: choose another --output-file, or add --force to overwrite it", path)
	}
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			f.Close()
			if rerr := os.Remove(path); rerr == nil {
				err = fmt.Errorf("%w (the partial export %s was removed)", err, path)
			}
		}
	}()
	if force {
		// An existing file keeps its mode through O_TRUNC.
		if err := f.Chmod(0o600); err != nil {
			return 0, err
		}
	}
	w := bufio.NewWriter(f)
	if n, err = fetchAudit(cmd, ac, q, 0, jsonLine(w)); err != nil {
		return n, err
	}
	if err := w.Flush(); err != nil {
		return n, err
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	return n, f.Close()
}

// auditTime shows an entry's time as RFC 3339 UTC to the second.
func auditTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return cell(s)
	}
	return t.UTC().Format(time.RFC3339)
}

// cell is s for a table cell: "-" if empty, quoted if it holds blanks or
// characters a terminal would act on (entries may hold text a caller
// chose, such as a claimed client ID).
func cell(s string) string {
	if s == "" {
		return "-"
	}
	if plain(s) {
		return s
	}
	return strconv.Quote(s)
}

// printable is s, quoted if it holds characters a terminal would act on.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// plain reports whether s is printable and has no blanks or quotes.
func plain(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '"' || r == '=' || r == '\\' {
			return false
		}
	}
	return true
}

// details shows an entry's details as key=value pairs in key order.
func details(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := m[k]
		if !plain(v) || v == "" {
			v = strconv.Quote(v)
		}
		parts = append(parts, cell(k)+"="+v)
	}
	return strings.Join(parts, " ")
}

// plural is one if n is 1, many otherwise.
func plural[N int | int64](n N, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
