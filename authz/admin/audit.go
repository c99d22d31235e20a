package admin

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// auditJSON is e as the admin API shows it.
func auditJSON(e storage.AuditEntry) adminapi.AuditEntryJSON { return adminapi.AuditEntryOf(e) }

// DefaultAuditPage is the page size of GET /admin/audit without limit.
const DefaultAuditPage = 100

// auditFilter reads the query of GET /admin/audit: since, until (RFC 3339),
// type, client_id, subject, cursor, limit (1 to storage.MaxAuditPage).
func auditFilter(q url.Values) (storage.AuditFilter, error) {
	f := storage.AuditFilter{Limit: DefaultAuditPage}
	if err := onlyParams(q, "since", "until", "type", "client_id", "subject", "cursor", "limit"); err != nil {
		return f, err
	}
	var err error
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			if *t.dst, err = time.Parse(time.RFC3339, v); err != nil {
				return f, badRequest("'" + t.name + "' must be an RFC 3339 time, e.g. 2026-11-23T10:00:00Z.")
			}
		}
	}
	if err := auditPage(q, &f); err != nil {
		return f, err
	}
	f.Type, f.ClientID, f.Subject = q.Get("type"), q.Get("client_id"), q.Get("subject")
	for _, v := range []string{f.Type, f.ClientID, f.Subject} {
		if len(v) > 256 || !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return f, badRequest("A filter value is too long or not valid text.")
		}
	}
	return f, nil
}

// auditPage reads the page of GET /admin/audit into f: cursor (the Seq
// to list after) and limit.
func auditPage(q url.Values, f *storage.AuditFilter) error {
	var err error
	if v := q.Get("cursor"); v != "" {
		if f.AfterSeq, err = strconv.ParseInt(v, 10, 64); err != nil || f.AfterSeq < 0 {
			return badRequest("'cursor' must be the next_cursor of an earlier page.")
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > storage.MaxAuditPage {
			return badRequest(fmt.Sprintf("'limit' must be a whole number from 1 to %d.", storage.MaxAuditPage))
		}
	}
	return nil
}

// onlyParams checks that the query q holds no parameter but the known
// ones, each at most once.
func onlyParams(q url.Values, known ...string) error {
	for k, v := range q {
		switch {
		case !slices.Contains(known, k):
			return badRequest("Unknown parameter '" + web.Truncate(web.SafeParam(k), 64) + "'; known: " + strings.Join(known, ", ") + ".")
		case len(v) > 1:
			return badRequest("The parameter '" + k + "' is given more than once.")
		}
	}
	return nil
}

// auditList serves GET /admin/audit.
func (h *Handler) auditList(w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, "GET")
	}
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		return reply{}, err
	}
	list, err := h.store.ListAudit(r.Context(), f)
	if err != nil {
		return reply{}, err
	}
	out := adminapi.AuditPage{Entries: make([]adminapi.AuditEntryJSON, 0, len(list))}
	for _, e := range list {
		out.Entries = append(out.Entries, auditJSON(e))
	}
	if len(list) == f.Limit {
		out.NextCursor = strconv.FormatInt(list[len(list)-1].Seq, 10)
	}
	return ok(out)
}

// VerifyAudit checks the audit chain, from its first entry or, given
// from, from the entry after it (from itself must still have the hash
// kept for it), and reports the first broken link. With limit > 0 it
// checks at most limit entries and may answer incomplete; the next call
// continues from its LastSeq:LastHash.
func (h *Handler) VerifyAudit(ctx context.Context, from *adminapi.AuditAnchor, limit int64) (adminapi.AuditVerification, error) {
	// The head first: entries appended while we walk come after it.
	headSeq, headHash, err := h.store.AuditHead(ctx)
	if err != nil {
		return adminapi.AuditVerification{}, fmt.Errorf("admin: read audit head: %w", err)
	}
	w := &auditWalk{store: h.store, headSeq: headSeq, limit: limit, f: storage.AuditFilter{Limit: storage.MaxAuditPage}}
	if err := w.run(ctx, from, headHash); err != nil {
		return broken(w.out, err)
	}
	w.out.OK = true
	return w.out, nil
}

// auditWalk is one verification of the audit chain up to headSeq. Its
// steps return the first broken link as an *storage.AuditBreak.
type auditWalk struct {
	store   Store
	headSeq int64
	// limit > 0 bounds the entries checked.
	limit int64
	// f selects the next page.
	f storage.AuditFilter
	v storage.AuditVerifier
	// anchored: the walk starts after an entry checked before.
	anchored bool
	out      adminapi.AuditVerification
}

// run checks the chain after from (or from its start), then, if it
// reached the head, that the chain ends there with headHash.
func (w *auditWalk) run(ctx context.Context, from *adminapi.AuditAnchor, headHash []byte) error {
	if from != nil {
		if err := w.anchor(ctx, *from); err != nil {
			return err
		}
	}
	if err := w.walk(ctx); err != nil {
		return err
	}
	if _, err := w.v.Finish(); err != nil {
		return err
	}
	if !w.out.Complete {
		return nil
	}
	return w.endsAtHead(headHash)
}

// anchor starts the walk after from, which must still be in the trail with
// the hash kept for it.
func (w *auditWalk) anchor(ctx context.Context, from adminapi.AuditAnchor) error {
	if from.Seq > w.headSeq {
		return &storage.AuditBreak{Seq: w.headSeq + 1,
			Reason: fmt.Sprintf("the chain head says the last entry is %d, but entry %d was checked before (entries removed from the end)", w.headSeq, from.Seq)}
	}
	page, err := w.store.ListAudit(ctx, storage.AuditFilter{AfterSeq: from.Seq - 1, Limit: 1})
	if err != nil {
		return fmt.Errorf("admin: read audit trail: %w", err)
	}
	if len(page) == 0 || page[0].Seq != from.Seq {
		return badRequest(fmt.Sprintf("Entry %d is no longer in the audit trail: retention dropped it, or it was deleted. "+
			"Verify the whole trail (without 'from'), which tells which.", from.Seq))
	}
	if err := w.v.Anchor(page[0], from.Hash); err != nil {
		return err
	}
	w.anchored = true
	w.f.AfterSeq, w.out.LastSeq, w.out.LastHash = from.Seq, from.Seq, hex.EncodeToString(from.Hash)
	return nil
}

// walk checks the entries up to the head, page by page, and marks the
// report complete; with a limit it stops after limit entries, incomplete.
func (w *auditWalk) walk(ctx context.Context) error {
	for w.out.LastSeq < w.headSeq {
		if w.limit > 0 {
			if w.out.Entries == w.limit {
				return nil
			}
			w.f.Limit = int(min(w.limit-w.out.Entries, storage.MaxAuditPage))
		}
		page, err := w.store.ListAudit(ctx, w.f)
		if err != nil {
			return fmt.Errorf("admin: read audit trail: %w", err)
		}
		pastHead, err := w.add(ctx, page)
		if err != nil {
			return err
		}
		if pastHead || len(page) < w.f.Limit {
			break
		}
		w.f.AfterSeq = page[len(page)-1].Seq
	}
	w.out.Complete = true
	return nil
}

// add checks the entries of page up to the head, and reports whether the
// page went past it.
func (w *auditWalk) add(ctx context.Context, page []storage.AuditEntry) (pastHead bool, err error) {
	for _, e := range page {
		if e.Seq > w.headSeq {
			return true, nil
		}
		if err := w.v.Add(e); err != nil {
			return false, err
		}
		if w.out.FirstSeq == 0 {
			w.out.FirstSeq = e.Seq
			if !w.anchored && e.Seq != 1 {
				if err := vouchFor(ctx, w.store, &w.v, e.Seq); err != nil {
					return false, err
				}
			}
		}
		w.out.LastSeq, w.out.LastHash = e.Seq, hex.EncodeToString(e.Hash)
		w.out.Entries++
	}
	return false, nil
}

// endsAtHead checks that a walk that reached the head ended at its entry,
// with its hash: entries removed from the end leave no broken link.
func (w *auditWalk) endsAtHead(headHash []byte) error {
	switch {
	case w.out.LastSeq != w.headSeq:
		return &storage.AuditBreak{Seq: w.out.LastSeq + 1,
			Reason: fmt.Sprintf("the chain head says the last entry is %d, but the trail ends at %d (entries removed from the end)", w.headSeq, w.out.LastSeq)}
	case w.headSeq > 0 && w.out.LastHash != hex.EncodeToString(headHash):
		return &storage.AuditBreak{Seq: w.headSeq, Reason: "the last entry's hash differs from the chain head's"}
	}
	return nil
}

// vouchFor finds the retention checkpoint that accounts for the entries
// before first, the first entry v checked, so that a verification in
// parts knows at its start whether the chain's beginning is whole.
func vouchFor(ctx context.Context, store Store, v *storage.AuditVerifier, first int64) error {
	f := storage.AuditFilter{Type: storage.AuditCheckpoint, AfterSeq: first, Limit: storage.MaxAuditPage}
	for {
		page, err := store.ListAudit(ctx, f)
		if err != nil {
			return fmt.Errorf("admin: read audit trail: %w", err)
		}
		for _, cp := range page {
			if v.Vouch(cp) {
				return nil
			}
		}
		if len(page) < f.Limit {
			return nil
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
}

// broken reports err, an *storage.AuditBreak, as out's first broken link;
// any other error is returned as it is.
func broken(out adminapi.AuditVerification, err error) (adminapi.AuditVerification, error) {
	var b *storage.AuditBreak
	if !errors.As(err, &b) {
		return out, err
	}
	out.BrokenAt, out.Reason = b.Seq, b.Reason
	return out, nil
}

// auditVerify serves GET /admin/audit/verify: from=SEQ:HASH (optional)
// and limit (optional, 1 to adminapi.MaxAuditVerifyLimit).
func (h *Handler) auditVerify(w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, "GET")
	}
	from, limit, err := auditVerifyQuery(r.URL.Query())
	if err != nil {
		return reply{}, err
	}
	out, err := h.VerifyAudit(r.Context(), from, limit)
	if err != nil {
		return reply{}, err
	}
	return ok(out)
}

// auditVerifyQuery reads the query of GET /admin/audit/verify.
func auditVerifyQuery(q url.Values) (*adminapi.AuditAnchor, int64, error) {
	if err := onlyParams(q, "from", "limit"); err != nil {
		return nil, 0, err
	}
	var from *adminapi.AuditAnchor
	if v := q.Get("from"); v != "" || q.Has("from") {
		a, err := adminapi.ParseAuditAnchor(v)
		if err != nil {
			return nil, 0, badRequest("'from' " + err.Error() + ".")
		}
		from = &a
	}
	var limit int64
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > adminapi.MaxAuditVerifyLimit {
			return nil, 0, badRequest(fmt.Sprintf("'limit' must be a whole number from 1 to %d.", adminapi.MaxAuditVerifyLimit))
		}
		limit = n
	}
	return from, limit, nil
}

// adminapi spells out two of the store's constants, for it imports only
// the standard library; these fail to compile if they drift apart (a
// duplicate map key, a negative constant converted to uint).
var (
	_ = map[bool]struct{}{false: {}, adminapi.EventAuditCheckpoint == storage.AuditCheckpoint: {}}
	_ = uint(adminapi.MaxAuditPage-storage.MaxAuditPage) + uint(storage.MaxAuditPage-adminapi.MaxAuditPage)
)

// auditHead serves GET /admin/audit/head: the last entry's seq and hash,
// read without walking the chain (the console's dashboard shows it). A
// function of h: Handler is at the method limit of the shape rules.
func auditHead(h *Handler, w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, "GET")
	}
	if err := onlyParams(r.URL.Query()); err != nil {
		return reply{}, err
	}
	seq, hash, err := h.store.AuditHead(r.Context())
	if err != nil {
		return reply{}, fmt.Errorf("admin: read audit head: %w", err)
	}
	return ok(adminapi.AuditHeadJSON{Seq: seq, Hash: hex.EncodeToString(hash)})
}
