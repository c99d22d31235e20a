package authz

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/login"
	"github.com/idvauth/idvauth/storage"
)

// EraseUser erases a person: profile, password hash, consents, browser
// sessions, refresh tokens and codes are removed and their access tokens
// made inactive, in one store transaction; their login failure counter is
// forgotten. The audit trail keeps only the opaque ID. ErrNotFound (wrapped)
// if there is no such person.
func (s *Server) EraseUser(ctx context.Context, id string) error {
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteUser(ctx, id); err != nil {
		return err
	}
	account := login.AccountKey(s.throttleSecret, u.Username)
	if err := s.store.ClearFailures(ctx, account); err != nil {
		s.log.Warn("login failure counter of an erased person not cleared", web.RequestField(ctx), userField(id), zap.Error(err))
	}
	return nil
}

// ExportUser gathers everything held about a person.
func (s *Server) ExportUser(ctx context.Context, id string) (UserExport, error) {
	var out UserExport
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return out, err
	}
	out.User = userJSON(u)
	out.Password = "an argon2id hash of the password is held; it is not exported"
	consents, err := s.store.ListConsents(ctx, id)
	if err != nil {
		return out, fmt.Errorf("authz: export consents: %w", err)
	}
	out.Consents = make([]ConsentJSON, 0, len(consents))
	for _, c := range consents {
		out.Consents = append(out.Consents, ConsentJSON{ClientID: c.ClientID, Scope: strings.Join(c.Scopes, " "), GrantedAt: rfc3339(c.GrantedAt)})
	}
	sessions, err := s.store.ListBrowserSessions(ctx, id)
	if err != nil {
		return out, fmt.Errorf("authz: export sessions: %w", err)
	}
	out.Sessions = make([]SessionJSON, 0, len(sessions))
	for _, bs := range sessions {
		out.Sessions = append(out.Sessions, SessionJSON{AuthTime: rfc3339(bs.AuthTime), ExpiresAt: rfc3339(bs.ExpiresAt)})
	}
	tokens, err := s.store.ListTokensBySubject(ctx, id)
	if err != nil {
		return out, fmt.Errorf("authz: export tokens: %w", err)
	}
	out.Tokens = make([]TokenRecordJSON, 0, len(tokens))
	for _, t := range tokens {
		out.Tokens = append(out.Tokens, TokenRecordJSON{
			Kind: string(t.Kind), ClientID: t.ClientID, Scope: strings.Join(t.Scopes, " "), Audience: t.Audience, JTI: t.JTI,
			IssuedAt: rfc3339(t.IssuedAt), ExpiresAt: rfc3339(t.ExpiresAt), ConsumedAt: rfc3339(t.ConsumedAt),
		})
	}
	out.Audit = []AuditEntryJSON{}
	f := storage.AuditFilter{Subject: id, Limit: storage.MaxAuditPage}
	for {
		page, err := s.store.ListAudit(ctx, f)
		if err != nil {
			return out, fmt.Errorf("authz: export audit entries: %w", err)
		}
		for _, e := range page {
			j := auditJSON(e)
			if e.Actor != audit.User(id) {
				j.IP = "" // another party's address (a client's, a resource server's)
			}
			out.Audit = append(out.Audit, j)
		}
		if len(page) < f.Limit {
			return out, nil
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
}

// adminUserErase serves POST /admin/users/{id}/erase.
func (s *Server) adminUserErase(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		web.MethodNotAllowed(w, "POST")
		return
	}
	ctx := r.Context()
	id := r.PathValue("id")
	if err := s.EraseUser(ctx, id); err != nil {
		s.writeAdminError(w, r, err)
		return
	}
	s.log.Info("user erased", web.RequestField(ctx), userField(id))
	noteAdmin(ctx, EventUserErased, "", id, nil)
	web.WriteJSON(w, http.StatusOK, UserErasure{UserID: id, Erased: true})
}

// adminUserExport serves GET /admin/users/{id}/export.
func (s *Server) adminUserExport(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		web.MethodNotAllowed(w, "GET")
		return
	}
	out, err := s.ExportUser(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeAdminError(w, r, err)
		return
	}
	noteAdmin(r.Context(), EventUserExported, "", out.User.ID, nil)
	web.WriteJSON(w, http.StatusOK, out)
}
