package adminapi

import (
	"context"
	"net/http"
	"strconv"
)

// AuditHeadJSON is the answer of GET /admin/audit/head: the last entry of
// the audit trail (Seq 0 and no Hash while it is empty). Kept, SEQ:HASH
// is where a later verification can start (see ParseAuditAnchor).
type AuditHeadJSON struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// AuditHead returns the head of the audit trail (GET /admin/audit/head)
// that c reads, without walking the chain. (A function, not a method:
// Client is at the method limit of the shape rules.)
func AuditHead(ctx context.Context, c *Client) (AuditHeadJSON, []byte, error) {
	return call[AuditHeadJSON](ctx, c, http.MethodGet, "/admin/audit/head", nil, nil)
}

// AuditPageOf returns one page of GET /admin/audit through c: at most
// limit (1 to MaxAuditPage) of the entries q selects after cursor (a
// NextCursor of an earlier page; "" for the first page). ListAudit reads
// every page; this one, for callers that page themselves.
func AuditPageOf(ctx context.Context, c *Client, q AuditQuery, cursor string, limit int) (AuditPage, []byte, error) {
	v := q.values()
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	v.Set("limit", strconv.Itoa(limit))
	return call[AuditPage](ctx, c, http.MethodGet, "/admin/audit", v, nil)
}
