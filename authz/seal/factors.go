package seal

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/idvauth/idvauth/storage"
)

// factorVersion starts a factor secret sealed under the person's data
// key; a secret that starts otherwise is in the form of before sealing
// (keys.Sealer's, which starts with 1), opened by Config.OpenLegacyFactor.
const factorVersion = 0x81

func factorAAD(userID, factorID string) []byte {
	return fieldAAD(userID, "factor:"+factorID)
}

// dataKey returns the person's data key, sealing their profile first if
// it is still plain (a factor can then be sealed under it).
func (s *Store) dataKey(ctx context.Context, userID string) ([]byte, error) {
	u, err := s.Store.GetUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.Sealed == nil {
		su, err := s.sealNew(ctx, u)
		if err != nil {
			return nil, err
		}
		if err := s.Store.SealUser(ctx, u, su); err != nil && !errors.Is(err, storage.ErrConflict) {
			return nil, err
		}
		// Sealed now, by this call or a concurrent one: read what won.
		if u, err = s.Store.GetUser(ctx, userID); err != nil {
			return nil, err
		}
	}
	_, dek, err := s.open(ctx, u)
	return dek, err
}

func (s *Store) sealFactor(dek []byte, f storage.Factor) ([]byte, error) {
	aead, err := gcm(dek)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	b := make([]byte, 1+nonceLen, 1+nonceLen+len(f.Secret)+aead.Overhead())
	b[0] = factorVersion
	if _, err := io.ReadFull(s.rand, b[1:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return aead.Seal(b, b[1:], f.Secret, factorAAD(f.UserID, f.ID)), nil
}

// CreateFactor implements storage.FactorStore: the factor's secret (as
// the caller gives it, in the clear) goes down sealed under the person's
// data key, so that erasing the person shreds it too.
func (s *Store) CreateFactor(ctx context.Context, f storage.Factor) error {
	dek, err := s.dataKey(ctx, f.UserID)
	if err != nil {
		return fmt.Errorf("seal: create factor of user %q: %w", f.UserID, err)
	}
	if f.Secret, err = s.sealFactor(dek, f); err != nil {
		return err
	}
	return s.Store.CreateFactor(ctx, f)
}

// ListFactors implements storage.FactorStore, with each secret in the
// clear.
func (s *Store) ListFactors(ctx context.Context, userID string) ([]storage.Factor, error) {
	fs, err := s.Store.ListFactors(ctx, userID)
	if err != nil || len(fs) == 0 {
		return fs, err
	}
	var dek []byte
	for i, f := range fs {
		if len(f.Secret) == 0 || f.Secret[0] != factorVersion {
			if fs[i].Secret, err = s.openLegacy(userID, f); err != nil {
				return nil, err
			}
			continue
		}
		if dek == nil {
			if dek, err = s.dataKey(ctx, userID); err != nil {
				return nil, fmt.Errorf("seal: list factors of user %q: %w", userID, err)
			}
		}
		aead, err := gcm(dek)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		if len(f.Secret) < 1+nonceLen {
			return nil, fmt.Errorf("seal: factor %q of user %q is malformed: %w", f.ID, userID, ErrSealed)
		}
		if fs[i].Secret, err = aead.Open(nil, f.Secret[1:1+nonceLen], f.Secret[1+nonceLen:], factorAAD(userID, f.ID)); err != nil {
			return nil, fmt.Errorf("seal: factor %q of user %q fails authentication: %w", f.ID, userID, ErrSealed)
		}
	}
	return fs, nil
}

func (s *Store) openLegacy(userID string, f storage.Factor) ([]byte, error) {
	if s.legacy == nil {
		return nil, fmt.Errorf("seal: factor %q of user %q is in a form of before sealing: %w", f.ID, userID, ErrSealed)
	}
	b, err := s.legacy(userID, f.ID, f.Secret)
	if err != nil {
		return nil, fmt.Errorf("seal: factor %q of user %q: %w", f.ID, userID, err)
	}
	return b, nil
}

// sealFactors seals under the person's data key every factor secret of
// theirs that is still in the form of before; it returns how many.
func (s *Store) sealFactors(ctx context.Context, userID string) (int, error) {
	fs, err := s.Store.ListFactors(ctx, userID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range fs {
		if len(f.Secret) > 0 && f.Secret[0] == factorVersion {
			continue
		}
		plain, err := s.openLegacy(userID, f)
		if err != nil {
			return n, err
		}
		dek, err := s.dataKey(ctx, userID)
		if err != nil {
			return n, err
		}
		sealed, err := s.sealFactor(dek, storage.Factor{ID: f.ID, UserID: userID, Secret: plain})
		if err != nil {
			return n, err
		}
		switch err := s.Store.SetFactorSecret(ctx, userID, f.ID, f.Secret, sealed); {
		case err == nil:
			n++
		case !errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrNotFound):
			return n, err
		}
	}
	return n, nil
}
