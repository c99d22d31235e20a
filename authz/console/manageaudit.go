package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idvauth/idvauth/authz/adminapi"
)

// auditPageSize is how many entries one audit page shows.
const auditPageSize = 50

// auditFilter is the audit page's filter, as typed.
type auditFilter struct {
	Type, ClientID, Subject, Since, Cursor string
}

// sinceLayouts are the forms of since the audit page takes, in UTC: what
// a datetime-local input sends, a date, or RFC 3339.
var sinceLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02", time.RFC3339}

// readAuditFilter reads the audit page's query; since defaults to 24
// hours before now. It says what is wrong with a value it cannot take.
func readAuditFilter(q url.Values, now time.Time) (auditFilter, adminapi.AuditQuery, string) {
	f := auditFilter{Type: strings.TrimSpace(q.Get("type")), ClientID: strings.TrimSpace(q.Get("client_id")),
		Subject: strings.TrimSpace(q.Get("subject")), Since: strings.TrimSpace(q.Get("since")), Cursor: q.Get("cursor")}
	for _, v := range []string{f.Type, f.ClientID, f.Subject, f.Since, f.Cursor} {
		if len(v) > maxQuery || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return f, adminapi.AuditQuery{}, "A filter value is too long or not valid text."
		}
	}
	if f.Cursor != "" {
		if n, err := strconv.ParseInt(f.Cursor, 10, 64); err != nil || n < 0 {
			return f, adminapi.AuditQuery{}, "That page link is not valid; start again from the first page."
		}
	}
	aq := adminapi.AuditQuery{Type: f.Type, ClientID: f.ClientID, Subject: f.Subject}
	if f.Since == "" {
		aq.Since = now.Add(-24 * time.Hour).Truncate(time.Minute)
		f.Since = aq.Since.Format(sinceLayouts[0])
		return f, aq, ""
	}
	for _, l := range sinceLayouts {
		if t, err := time.ParseInLocation(l, f.Since, time.UTC); err == nil {
			// Shown back in the form's datetime-local field, in UTC.
			aq.Since, f.Since = t, t.UTC().Format(sinceLayouts[1])
			return f, aq, ""
		}
	}
	return f, aq, "Since must be a date and time in UTC, such as 2026-11-23T10:00."
}

// auditPage lists one page of the entries the query selects, oldest
// first, with a link to the next page.
func (h views) auditPage(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	d := c.data("Audit trail")
	f, q, problem := readAuditFilter(r.URL.Query(), h.now())
	d.Filter = f
	if problem != "" {
		d.Error = problem
		h.render(w, r, http.StatusBadRequest, "audit", d)
		return
	}
	p, _, err := adminapi.AuditPageOf(ctx, c.api, q, f.Cursor, auditPageSize)
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	d.Audit = p.Entries
	if p.NextCursor != "" {
		v := url.Values{"since": {f.Since}, "cursor": {p.NextCursor}}
		for k, s := range map[string]string{"type": f.Type, "client_id": f.ClientID, "subject": f.Subject} {
			if s != "" {
				v.Set(k, s)
			}
		}
		d.NextPage = Prefix + "/audit?" + v.Encode()
	}
	h.render(w, r, http.StatusOK, "audit", d)
}

// verifyAudit has the admin API check the trail's hash chain, from its
// start or after a SEQ:HASH kept before, and shows the head to keep.
func (h views) verifyAudit(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	from := strings.TrimSpace(r.PostForm.Get("from"))
	if from != "" {
		if _, err := adminapi.ParseAuditAnchor(from); err != nil {
			h.refuse(w, r, c, "Not verified", "Start from an entry as a verification showed it: SEQ:HASH. Nothing was checked.")
			return
		}
	}
	v, _, err := c.api.VerifyAudit(ctx, from, 0)
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	d := c.data("Audit verification")
	d.Verified, d.Script = &v, h.pages.scriptPath
	if v.OK && v.LastSeq > 0 {
		d.Anchor = strconv.FormatInt(v.LastSeq, 10) + ":" + v.LastHash
	}
	if !v.OK {
		d.Error = "The audit trail is broken at entry " + strconv.FormatInt(v.BrokenAt, 10) + ": " + v.Reason
	}
	h.render(w, r, http.StatusOK, "auditverify", d)
}
