package authz

import (
	"context"
	"fmt"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/auditship"
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

// shipAudit readies the shipping of the audit trail to cfg.AuditSink, if
// one is set (Serve runs it).
func (s *Server) shipAudit() error {
	if s.cfg.AuditSink == "" {
		return nil
	}
	sink, err := auditship.Open(auditship.SinkConfig{URL: s.cfg.AuditSink, Token: s.cfg.AuditSinkToken, CAFile: s.cfg.AuditSinkCA})
	if err != nil {
		return fmt.Errorf("authz: audit sink (IDVAUTH_AUDIT_SINK): %w", err)
	}
	s.shipper, err = auditship.New(auditship.Config{Store: s.store, Sink: sink, OnLag: s.metrics.AuditShipLag(), Now: s.cfg.Now, Log: s.log})
	return err
}
