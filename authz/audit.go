package authz

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// onKeyChange audits a key lifecycle step this replica took.
func (s *Server) onKeyChange(ctx context.Context, alg string, ch storage.KeyChange, requested bool) {
	typ := map[string]string{
		"next": EventKeyCreated, "active": EventKeyActivated, "retired": EventKeyRetired, "removed": EventKeyRemoved,
	}[ch.To]
	if ch.From == "" {
		typ = EventKeyCreated
	}
	actor := audit.System
	if requested {
		actor = audit.Admin // only the admin API asks for key steps
	}
	_ = s.trail.Append(ctx, storage.AuditEntry{Type: typ, Actor: actor, Details: map[string]string{
		"kid": ch.ID, "alg": alg, "from": ch.From, "to": ch.To,
	}})
}

// --- admin API ---

// auditNote is what an admin handler tells the audit middleware about the
// change it made.
type auditNote struct {
	typ      string
	clientID string
	subject  string
	details  map[string]string
}

type auditNoteKey struct{}

func auditNoteOf(ctx context.Context) *auditNote {
	n, _ := ctx.Value(auditNoteKey{}).(*auditNote)
	return n
}

// noteAdmin records the change an admin call made, for its audit entry.
func noteAdmin(ctx context.Context, typ, clientID, subject string, details map[string]string) {
	if n := auditNoteOf(ctx); n != nil {
		n.typ, n.clientID, n.subject, n.details = typ, clientID, subject, details
	}
}

// bufferedWriter holds an admin answer until its audit entry is durable.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// auditAdmin writes one audit entry for every admin API call, with its
// outcome, before the answer leaves: the event the handler noted, or
// admin.request. If the entry cannot be written the caller gets a 503
// instead of the answer (a change the handler made stays made, and the
// failure is logged).
func (s *Server) auditAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AuditDisabled {
			next.ServeHTTP(w, r)
			return
		}
		note := &auditNote{}
		bw := &bufferedWriter{header: w.Header()}
		inner := r.WithContext(context.WithValue(r.Context(), auditNoteKey{}, note))
		next.ServeHTTP(bw, inner) // the mux sets inner.Pattern
		r.Pattern = inner.Pattern // for the metrics label
		if bw.status == 0 {
			bw.status = http.StatusOK
		}
		e := storage.AuditEntry{
			Type: EventAdminRequest, Actor: audit.Admin, IP: s.ips.String(r),
			Outcome: "ok", ClientID: note.clientID, Subject: note.subject,
			Details: map[string]string{"method": r.Method, "route": routeOf(inner), "status": strconv.Itoa(bw.status)},
		}
		if note.typ != "" {
			e.Type = note.typ
			for k, v := range note.details {
				e.Details[k] = v
			}
		}
		if bw.status == http.StatusUnauthorized {
			e.Actor = audit.Anonymous
		}
		if bw.status >= 400 {
			e.Outcome = errorCodeOf(bw.body.Bytes(), bw.status)
		}
		if err := s.trail.Append(r.Context(), e); err != nil {
			web.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The audit trail could not be written; the request may have taken effect. Check and retry.")
			return
		}
		w.WriteHeader(bw.status)
		_, _ = w.Write(bw.body.Bytes())
	})
}

// routeOf is the matched route pattern of an admin request ("GET
// /admin/clients/{id}" style without the method), or the path's first
// two segments when none matched: never a raw path with IDs in it.
func routeOf(r *http.Request) string {
	if p := r.Pattern; p != "" && p != "/" {
		return p
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	if len(parts) >= 2 {
		return web.Truncate("/"+parts[0]+"/"+parts[1], audit.MaxField)
	}
	return "unmatched"
}

// errorCodeOf reads the "error" member of a JSON error answer.
func errorCodeOf(body []byte, status int) string {
	const key = `"error":`
	i := bytes.Index(body, []byte(key))
	if i >= 0 {
		rest := bytes.TrimLeft(body[i+len(key):], " ")
		if len(rest) > 0 && rest[0] == '"' {
			if j := bytes.IndexByte(rest[1:], '"'); j >= 0 && j < 64 {
				return string(rest[1 : 1+j])
			}
		}
	}
	return "http_" + strconv.Itoa(status)
}
