package authz

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/keys"
)

// MaintainKeys reloads the signing keys and takes every rotation step that
// is due; Serve does so every KeyCheckInterval.
func (s *Server) MaintainKeys(ctx context.Context) error {
	if err := s.keeper.Maintain(ctx); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	return nil
}

// Reencrypt seals every signing key in the store under the first of
// secrets, so that the others can be dropped; it returns how many keys it
// rewrote. It works on the store directly, without a running server.
func Reencrypt(ctx context.Context, databaseURL string, secrets []string) (int, error) {
	sealer, err := keys.NewSealer(secrets, nil)
	if err != nil {
		return 0, fmt.Errorf("authz: %w", err)
	}
	st, err := dialStore(ctx, Config{DatabaseURL: databaseURL}, zap.NewNop(), nil, nil)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return keys.Reencrypt(ctx, st, sealer)
}
