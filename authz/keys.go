package authz

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/keys"
)

// notifyKeysChanged wakes the key loop; it never blocks.
func (s *Server) notifyKeysChanged() {
	select {
	case s.keysChanged <- struct{}{}:
	default:
	}
}

// MaintainKeys reloads the signing keys and takes every rotation step that
// is due; Serve calls it every KeyCheckInterval.
func (s *Server) MaintainKeys(ctx context.Context) error {
	before := s.activeKIDs()
	changed, err := s.ring.Maintain(ctx)
	if err != nil {
		return fmt.Errorf("authz: key rotation: %w", err)
	}
	if changed {
		s.logKeyChange("signing keys rotated", before)
	}
	return nil
}

// ReloadKeys reads the signing keys again, as after another replica's
// change.
func (s *Server) ReloadKeys(ctx context.Context) error {
	before := s.activeKIDs()
	if err := s.ring.Reload(ctx); err != nil {
		return fmt.Errorf("authz: reload keys: %w", err)
	}
	s.logKeyChange("signing keys reloaded", before)
	return nil
}

func (s *Server) activeKIDs() map[string]string {
	m := make(map[string]string)
	for _, alg := range keys.Algorithms() {
		if k, err := s.ring.Active(alg); err == nil {
			m[alg] = k.ID
		}
	}
	return m
}

// logKeyChange logs the active keys if they differ from before. Key IDs
// are public (they are in the JWKS).
func (s *Server) logKeyChange(msg string, before map[string]string) {
	after := s.activeKIDs()
	for alg, kid := range after {
		if before[alg] != kid {
			s.log.Info(msg, zap.String("alg", alg), zap.String("active_kid", kid), zap.String("previous_kid", before[alg]))
		}
	}
}

// runKeys keeps the key ring current until ctx is done: a reload at once
// when the store reports a change, and a reload with any due rotation
// step every KeyCheckInterval.
func (s *Server) runKeys(ctx context.Context) {
	t := time.NewTicker(s.cfg.KeyCheckInterval)
	defer t.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-s.keysChanged:
			err = s.ReloadKeys(ctx)
		case <-t.C:
			err = s.MaintainKeys(ctx)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("signing keys not refreshed; retrying", zap.Error(err))
		}
	}
}

// Reencrypt seals every signing key in the store under the first of
// secrets, so that the others can be dropped; it returns how many keys it
// rewrote. It works on the store directly, without a running server.
func Reencrypt(ctx context.Context, databaseURL string, secrets []string) (int, error) {
	sealer, err := keys.NewSealer(secrets, nil)
	if err != nil {
		return 0, fmt.Errorf("authz: %w", err)
	}
	st, err := openStore(ctx, Config{DatabaseURL: databaseURL}, zap.NewNop(), nil, nil)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return keys.Reencrypt(ctx, st, sealer)
}
