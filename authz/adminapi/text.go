package adminapi

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// This file holds the text forms of the admin API's answers that the
// idvauth CLI prints without -o json: tables, a row or a record a line.

// NewTable returns a tabwriter for the tables of the admin commands.
func NewTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// Dash is s for a table cell, "-" if empty.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// TTL shows an access_token_ttl in seconds, "default" for 0.
func TTL(sec int64) string {
	if sec == 0 {
		return "default"
	}
	return (time.Duration(sec) * time.Second).String()
}

// UnixTime shows Unix seconds as RFC 3339 UTC, "-" for none.
func UnixTime(sec int64) string {
	if sec <= 0 {
		return "-"
	}
	return time.Unix(sec, 0).UTC().Format(time.RFC3339)
}

// WriteVerification tells whether the trail after from ("": all of it)
// is intact, with the head to keep, or where it breaks.
func WriteVerification(w io.Writer, total AuditVerification, from string) {
	switch {
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
			fmt.Fprintf(w, "%s: %d %s (seq %d..%d)\n", what, total.Entries, Plural(total.Entries, "entry", "entries"),
				total.FirstSeq, total.LastSeq)
		}
		fmt.Fprintf(w, "head %d:%s (keep it; next time: idvauth audit verify --from %d:%s)\n",
			total.LastSeq, Cell(total.LastHash), total.LastSeq, Cell(total.LastHash))
	default:
		fmt.Fprintf(w, "audit trail BROKEN at entry %d: %s\n", total.BrokenAt, printable(total.Reason))
	}
}

// auditTime shows an entry's time as RFC 3339 UTC to the second.
func auditTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Cell(s)
	}
	return t.UTC().Format(time.RFC3339)
}

// Cell is s for a table cell: "-" if empty, quoted if it holds blanks or
// characters a terminal would act on (entries may hold text a caller
// chose, such as a claimed client ID).
func Cell(s string) string {
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

// Details shows an entry's details as key=value pairs in key order.
func Details(m map[string]string) string {
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
		parts = append(parts, Cell(k)+"="+v)
	}
	return strings.Join(parts, " ")
}

// Plural is one if n is 1, many otherwise.
func Plural[N int | int64](n N, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// WriteClientList prints a ClientList as a table, a client a line.
func WriteClientList(w io.Writer, l ClientList) error {
	tw := NewTable(w)
	fmt.Fprintln(tw, "CLIENT_ID\tNAME\tGRANT_TYPES\tSCOPE\tAUDIENCE\tINTROSPECT\tTTL")
	for _, c := range l.Clients {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%s\n", c.ClientID, c.ClientName, Dash(strings.Join(c.GrantTypes, ",")),
			Dash(c.Scope), Dash(strings.Join(c.Audience, ",")), c.IntrospectionAllowed, TTL(c.AccessTokenTTL))
	}
	return tw.Flush()
}

// ClientWriter returns what prints a client as a two-column table, with
// its secret (and the note that it is shown once) if withSecret.
func ClientWriter(withSecret bool) func(io.Writer, ClientJSON) error {
	return func(w io.Writer, c ClientJSON) error {
		tw := NewTable(w)
		fmt.Fprintf(tw, "client_id\t%s\n", c.ClientID)
		if withSecret && c.ClientSecret != "" {
			fmt.Fprintf(tw, "client_secret\t%s\t(shown once: store it now)\n", c.ClientSecret)
		}
		fmt.Fprintf(tw, "client_name\t%s\n", c.ClientName)
		fmt.Fprintf(tw, "grant_types\t%s\n", Dash(strings.Join(c.GrantTypes, " ")))
		if len(c.RedirectURIs) > 0 {
			fmt.Fprintf(tw, "redirect_uris\t%s\n", strings.Join(c.RedirectURIs, " "))
		}
		if c.IDTokenSignedResponseAlg != "" {
			fmt.Fprintf(tw, "id_token_signed_response_alg\t%s\n", c.IDTokenSignedResponseAlg)
		}
		fmt.Fprintf(tw, "scope\t%s\n", Dash(c.Scope))
		fmt.Fprintf(tw, "audience\t%s\n", Dash(strings.Join(c.Audience, " ")))
		fmt.Fprintf(tw, "token_endpoint_auth_method\t%s\n", c.TokenEndpointAuthMethod)
		for _, kv := range [][2]string{{"jwks_uri", c.JWKSURI}, {"tls_client_auth_subject_dn", c.TLSClientAuthSubjectDN},
			{"tls_client_auth_san_dns", c.TLSClientAuthSANDNS}, {"tls_client_auth_san_uri", c.TLSClientAuthSANURI},
			{"tls_client_auth_san_ip", c.TLSClientAuthSANIP}, {"tls_client_auth_san_email", c.TLSClientAuthSANEmail},
			{"default_acr_values", strings.Join(c.DefaultACRValues, " ")}, {"require_mfa", map[bool]string{true: "true"}[c.RequireMFA]},
			{"post_logout_redirect_uris", strings.Join(c.PostLogoutRedirectURIs, " ")}, {"backchannel_logout_uri", c.BackchannelLogoutURI},
			{"backchannel_logout_session_required", map[bool]string{true: "true"}[c.BackchannelLogoutSessionRequired]}} {
			if kv[1] != "" {
				fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
			}
		}
		if len(c.JWKS) > 0 {
			fmt.Fprintf(tw, "jwks\t%d bytes (see -o json)\n", len(c.JWKS))
		}
		if c.TLSClientCertificateBoundAccessTokens {
			fmt.Fprintf(tw, "tls_client_certificate_bound_access_tokens\ttrue\n")
		}
		if c.TokenEndpointAudienceAllowed {
			fmt.Fprintf(tw, "token_endpoint_audience_allowed\ttrue\n")
		}
		if c.RequirePKCE != nil && !*c.RequirePKCE {
			fmt.Fprintf(tw, "require_pkce\tfalse\n")
		}
		if c.RequirePushedAuthorizationRequests {
			fmt.Fprintf(tw, "require_pushed_authorization_requests\ttrue\n")
		}
		if c.DPoPBoundAccessTokens {
			fmt.Fprintf(tw, "dpop_bound_access_tokens\ttrue\n")
		}
		if c.Profile != "" {
			fmt.Fprintf(tw, "profile\t%s\n", c.Profile)
		}
		fmt.Fprintf(tw, "access_token_ttl\t%s\n", TTL(c.AccessTokenTTL))
		fmt.Fprintf(tw, "introspection_allowed\t%t\n", c.IntrospectionAllowed)
		if c.IntrospectionAllowed || len(c.IntrospectionAudiences) > 0 {
			fmt.Fprintf(tw, "introspection_audiences\t%s\n", Dash(strings.Join(c.IntrospectionAudiences, " ")))
		}
		if c.ClientIDIssuedAt > 0 {
			fmt.Fprintf(tw, "created\t%s\n", time.Unix(c.ClientIDIssuedAt, 0).UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	}
}

// WriteKeyList prints a KeyList as a table, a key a line.
func WriteKeyList(w io.Writer, kl KeyList) error {
	tw := NewTable(w)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED")
	for _, k := range kl.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State, Dash(k.CreatedAt), Dash(k.ActivatedAt), Dash(k.RetiredAt))
	}
	return tw.Flush()
}

// WriteUser prints a person as a two-column table.
func WriteUser(w io.Writer, u UserJSON) error {
	tw := NewTable(w)
	fmt.Fprintf(tw, "id\t%s\n", u.ID)
	fmt.Fprintf(tw, "username\t%s\n", u.Username)
	fmt.Fprintf(tw, "name\t%s\n", Dash(u.Name))
	fmt.Fprintf(tw, "email\t%s\n", Dash(u.Email))
	fmt.Fprintf(tw, "created\t%s\n", UnixTime(u.CreatedAt))
	fmt.Fprintf(tw, "updated\t%s\n", UnixTime(u.UpdatedAt))
	return tw.Flush()
}

// WriteUserList prints a UserList as a table, a person a line.
func WriteUserList(w io.Writer, l UserList) error {
	tw := NewTable(w)
	fmt.Fprintln(tw, "ID\tUSERNAME\tNAME\tEMAIL\tCREATED")
	for _, u := range l.Users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Username, Dash(u.Name), Dash(u.Email), UnixTime(u.CreatedAt))
	}
	return tw.Flush()
}

// AuditTable writes audit entries as a table, an entry a line, with
// control characters quoted. Flush ends it.
type AuditTable struct{ tw *tabwriter.Writer }

// NewAuditTable starts an audit table on w with its header.
func NewAuditTable(w io.Writer) *AuditTable {
	tw := NewTable(w)
	fmt.Fprintln(tw, "SEQ\tTIME\tTYPE\tACTOR\tCLIENT\tSUBJECT\tOUTCOME\tDETAILS")
	return &AuditTable{tw}
}

// Write adds e's line.
func (t *AuditTable) Write(e AuditEntryJSON) error {
	_, err := fmt.Fprintf(t.tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, auditTime(e.Time), Cell(e.Type), Cell(e.Actor),
		Cell(e.ClientID), Cell(e.Subject), Cell(e.Outcome), Details(e.Details))
	return err
}

// Flush writes out the table.
func (t *AuditTable) Flush() error { return t.tw.Flush() }

// WriteAPIKey prints a key, with the key itself (and the note that it is
// shown once) when the answer holds it.
func WriteAPIKey(w io.Writer, k APIKeyJSON) error {
	tw := NewTable(w)
	fmt.Fprintf(tw, "id\t%s\n", k.ID)
	if k.Key != "" {
		fmt.Fprintf(tw, "key\t%s\t(shown once: store it now)\n", k.Key)
	}
	fmt.Fprintf(tw, "client_id\t%s\nname\t%s\nscope\t%s\n", k.ClientID, k.Name, Dash(k.Scope))
	fmt.Fprintf(tw, "audience\t%s\nnetworks\t%s\n", Dash(strings.Join(k.Audience, " ")), Dash(strings.Join(k.Networks, " ")))
	fmt.Fprintf(tw, "created_at\t%s\nexpires_at\t%s\n", k.CreatedAt.Format(time.RFC3339), k.ExpiresAt.Format(time.RFC3339))
	return tw.Flush()
}

// WriteAPIKeyList prints keys a line each.
func WriteAPIKeyList(w io.Writer, l APIKeyList) error {
	tw := NewTable(w)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tNETWORKS\tCREATED\tEXPIRES\tLAST_USED\tREPLACED_BY")
	for _, k := range l.APIKeys {
		last := "-"
		if k.LastUsedAt != nil {
			last = k.LastUsedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, Dash(k.Scope), Dash(strings.Join(k.Networks, ",")),
			k.CreatedAt.Format(time.RFC3339), k.ExpiresAt.Format(time.RFC3339), last, Dash(k.ReplacedBy))
	}
	return tw.Flush()
}
