package authz

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/auditship"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/metrics"
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

// newShipper readies the shipping of the audit trail to cfg.AuditSink;
// nil if none is set (Serve runs it).
func newShipper(cfg Config, store storage.Store, m *metrics.Metrics, log *zap.Logger) (*auditship.Shipper, error) {
	if cfg.AuditSink == "" {
		return nil, nil
	}
	sink, err := auditship.Open(auditship.SinkConfig{URL: cfg.AuditSink, Token: cfg.AuditSinkToken, CAFile: cfg.AuditSinkCA})
	if err != nil {
		return nil, fmt.Errorf("authz: audit sink (IDVAUTH_AUDIT_SINK): %w", err)
	}
	return auditship.New(auditship.Config{Store: store, Sink: sink, OnLag: m.AuditShipLag(), Now: cfg.Now, Log: log})
}
