package authz

import (
	"context"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/storage"
)

// onKeyChange audits a key lifecycle step this replica took.
func (s *Server) onKeyChange(ctx context.Context, alg string, ch storage.KeyChange, requested bool) {
	typ := map[string]string{
		"next": adminapi.EventKeyCreated, "active": adminapi.EventKeyActivated, "retired": adminapi.EventKeyRetired, "removed": adminapi.EventKeyRemoved,
	}[ch.To]
	if ch.From == "" {
		typ = adminapi.EventKeyCreated
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
