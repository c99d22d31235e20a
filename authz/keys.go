package authz

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/personkeys"
	"github.com/idvauth/idvauth/authz/seal"
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
// secrets, and wraps every person's data key under it (online, a person
// at a time), so that the others can be dropped; it returns how many keys
// and people it rewrote. It works on the store directly, without a
// running server (and on the person-key store at personKeysURL, if any).
func Reencrypt(ctx context.Context, databaseURL, personKeysURL string, secrets []string) (keyCount, people int, err error) {
	sealer, err := keys.NewSealer(secrets, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("authz: %w", err)
	}
	st, err := dialStore(ctx, Config{DatabaseURL: databaseURL}, zap.NewNop(), nil, nil)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	if keyCount, err = keys.Reencrypt(ctx, st, sealer); err != nil {
		return keyCount, 0, err
	}
	ss, err := sealStore(ctx, st, Config{Secrets: secrets, PersonKeysDatabaseURL: personKeysURL}, zap.NewNop())
	if err != nil {
		return keyCount, 0, err
	}
	defer ss.CloseVault()
	pr, err := ss.Rewrap(ctx, 0)
	return keyCount, pr.Changed, err
}

// SealPeople seals the people stored in plain text (written before
// sealing) and moves data keys to the person-key store at personKeysURL
// (if any), online, batch rows read at a time; with statusOnly it only
// counts them.
func SealPeople(ctx context.Context, databaseURL, personKeysURL string, secrets []string, batch int, statusOnly bool) (seal.Progress, error) {
	st, err := dialStore(ctx, Config{DatabaseURL: databaseURL}, zap.NewNop(), nil, nil)
	if err != nil {
		return seal.Progress{}, err
	}
	defer st.Close()
	if statusOnly {
		return personkeys.Status(ctx, st)
	}
	ss, err := sealStore(ctx, st, Config{Secrets: secrets, PersonKeysDatabaseURL: personKeysURL}, zap.NewNop())
	if err != nil {
		return seal.Progress{}, err
	}
	defer ss.CloseVault()
	return personkeys.Seal(ctx, ss, batch, personKeysURL != "")
}
