package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/login"
	"github.com/idvauth/idvauth/storage"
)

// EraseUser erases a person: their browser sessions are logged out first
// (their clients told, EndPerson), then profile, password hash, consents,
// browser sessions, refresh tokens and codes are removed and their access
// tokens made inactive, in one store transaction; their login failure
// counter is forgotten. The audit trail keeps only the opaque ID.
// ErrNotFound (wrapped) if there is no such person. A person whose row
// remains though their profile no longer opens (see RowFinder) is erased
// too: their row and what hangs on it go.
func (h *Handler) EraseUser(ctx context.Context, id string) error {
	u, err := h.store.GetUser(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		u, err = storage.User{}, findUserRow(ctx, h.store, id)
	}
	if err != nil {
		return err
	}
	if err := h.cfg.EndPerson(ctx, id, "erased"); err != nil {
		return err
	}
	if err := h.store.DeleteUser(ctx, id); err != nil {
		return err
	}
	keys := []string{login.MFAFailureKey(id)}
	if u.Username != "" { // unknown if the profile no longer opened
		keys = append(keys, h.cfg.AccountKey(u.Username))
	}
	for _, key := range keys {
		if err := h.store.ClearFailures(ctx, key); err != nil {
			h.log.Warn("login failure counter of an erased person not cleared", web.RequestField(ctx), userField(id), zap.Error(err))
		}
	}
	return nil
}

// RowFinder is a Store that finds a person's row even when their profile
// no longer opens: a sealed profile whose data key is gone from the
// person-key store, after an erasure that failed half-way or in a row
// back from a restored backup. GetUser answers ErrNotFound for such a
// row; erasing or deleting the person must still find it, or the row,
// its password hash, consents and tokens could never be removed.
// *seal.Store is one.
type RowFinder interface {
	// FindUserRow answers nil if a row of the person id exists,
	// ErrNotFound (wrapped) if none does.
	FindUserRow(ctx context.Context, id string) error
}

// findUserRow answers nil if the store holds a row of the person id,
// opened or not (RowFinder); a store that is no RowFinder keeps no
// profile it cannot open, and answers through GetUser.
func findUserRow(ctx context.Context, store Store, id string) error {
	if rf, ok := store.(RowFinder); ok {
		return rf.FindUserRow(ctx, id)
	}
	_, err := store.GetUser(ctx, id)
	return err
}

// ExportUser gathers everything held about a person.
func (h *Handler) ExportUser(ctx context.Context, id string) (adminapi.UserExport, error) {
	var out adminapi.UserExport
	u, err := h.store.GetUser(ctx, id)
	if err != nil {
		return out, err
	}
	out.User = userJSON(u)
	out.Password = "an argon2id hash of the password is held; it is not exported"
	consents, err := h.store.ListConsents(ctx, id)
	if err != nil {
		return out, fmt.Errorf("admin: export consents: %w", err)
	}
	out.Consents = make([]adminapi.ConsentJSON, 0, len(consents))
	for _, c := range consents {
		out.Consents = append(out.Consents, adminapi.ConsentJSON{ClientID: c.ClientID, Scope: strings.Join(c.Scopes, " "), GrantedAt: rfc3339(c.GrantedAt)})
	}
	sessions, err := h.store.ListBrowserSessions(ctx, id)
	if err != nil {
		return out, fmt.Errorf("admin: export sessions: %w", err)
	}
	out.Sessions = make([]adminapi.SessionJSON, 0, len(sessions))
	for _, bs := range sessions {
		out.Sessions = append(out.Sessions, adminapi.SessionJSON{AuthTime: rfc3339(bs.AuthTime), ExpiresAt: rfc3339(bs.ExpiresAt), AMR: bs.AMR})
	}
	if err := h.exportFactors(ctx, id, &out); err != nil {
		return out, err
	}
	tokens, err := h.store.ListTokensBySubject(ctx, id)
	if err != nil {
		return out, fmt.Errorf("admin: export tokens: %w", err)
	}
	out.Tokens = make([]adminapi.TokenRecordJSON, 0, len(tokens))
	for _, t := range tokens {
		out.Tokens = append(out.Tokens, adminapi.TokenRecordJSON{
			Kind: string(t.Kind), ClientID: t.ClientID, Scope: strings.Join(t.Scopes, " "), Audience: t.Audience, JTI: t.JTI,
			IssuedAt: rfc3339(t.IssuedAt), ExpiresAt: rfc3339(t.ExpiresAt), ConsumedAt: rfc3339(t.ConsumedAt),
		})
	}
	out.Audit = []adminapi.AuditEntryJSON{}
	f := storage.AuditFilter{Subject: id, Limit: storage.MaxAuditPage}
	for {
		page, err := h.store.ListAudit(ctx, f)
		if err != nil {
			return out, fmt.Errorf("admin: export audit entries: %w", err)
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

// exportFactors adds the person's factors (never their secrets) and how
// many recovery codes they have left to out.
func (h *Handler) exportFactors(ctx context.Context, id string, out *adminapi.UserExport) error {
	factors, err := h.store.ListFactors(ctx, id)
	if err != nil {
		return fmt.Errorf("admin: export factors: %w", err)
	}
	out.Factors = make([]adminapi.FactorJSON, 0, len(factors))
	for _, f := range factors {
		out.Factors = append(out.Factors, adminapi.FactorJSON{Kind: string(f.Kind), Name: f.Name, CreatedAt: rfc3339(f.CreatedAt), LastUsedAt: rfc3339(f.LastUsedAt)})
	}
	if out.RecoveryCodesLeft, err = h.store.RecoveryCodesLeft(ctx, id); err != nil {
		return fmt.Errorf("admin: export recovery codes: %w", err)
	}
	return nil
}

// userErase serves POST /admin/users/{id}/erase.
func (h *Handler) userErase(w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST")
	}
	ctx := r.Context()
	id := r.PathValue("id")
	if err := h.EraseUser(ctx, id); err != nil {
		return reply{}, err
	}
	h.log.Info("user erased", web.RequestField(ctx), userField(id))
	return reply{status: http.StatusOK, body: adminapi.UserErasure{UserID: id, Erased: true},
		event: &event{typ: adminapi.EventUserErased, subject: id}}, nil
}

// userExport serves GET /admin/users/{id}/export.
func (h *Handler) userExport(w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, "GET")
	}
	out, err := h.ExportUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusOK, body: out, event: &event{typ: adminapi.EventUserExported, subject: out.User.ID}}, nil
}
