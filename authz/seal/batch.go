package seal

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/idvauth/idvauth/storage"
)

// Progress is what a walk over every person did.
type Progress struct {
	// Changed is how many people it sealed or rewrapped.
	Changed int
	// Skipped is how many it left because their row changed or went
	// while it worked (a later run takes them).
	Skipped int
	// Left is how many rows are still plain after it.
	Left int
	// KeysLeft is how many sealed rows still keep their data key in the
	// main store after it (MoveKeys moves them to the vault).
	KeysLeft int
	// Factors is how many factor secrets it sealed under their person's
	// data key (those stored before sealing).
	Factors int
}

// walk visits every person in pages of batch rows (one read each), stores
// what fix returns for those it changes, each in a transaction of its own
// that touches one row, then seals their factor secrets of before (one
// row each too). Nothing is locked for long, and an interrupted walk
// loses at most one person's step: a new walk starts over and passes
// quickly over what is done.
func (s *Store) walk(ctx context.Context, batch int, fix func(storage.User) (storage.User, bool, error)) (Progress, error) {
	var pr Progress
	if batch <= 0 {
		batch = 100
	}
	after := ""
	for {
		page, err := s.Store.ListUsersByID(ctx, after, batch)
		if err != nil {
			return pr, err
		}
		for _, u := range page {
			if err := ctx.Err(); err != nil {
				return pr, err
			}
			next, ok, err := fix(u)
			if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
				pr.Skipped++
				continue
			} else if err != nil {
				return pr, err
			}
			if ok {
				switch err := s.Store.SealUser(ctx, u, next); {
				case err == nil:
					pr.Changed++
				case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
					s.afterSkip(ctx, u, err)
					pr.Skipped++
					continue
				default:
					return pr, err
				}
			}
			n, err := s.sealFactors(ctx, u.ID)
			pr.Factors += n
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return pr, err
			}
		}
		if len(page) < batch {
			break
		}
		after = page[len(page)-1].ID
	}
	left, err := s.Store.CountPlainUsers(ctx)
	pr.Left = left
	if err == nil {
		pr.KeysLeft, _, err = s.Store.CountKeyPlaces(ctx)
	}
	return pr, err
}

// afterSkip cleans the vault after a walk's SealUser of u found the row
// gone (ErrNotFound): a person gone keeps no key there. A key stored for a
// row that changed meanwhile (ErrConflict) stays: it holds that person's
// data key, which the next step sealing them takes.
func (s *Store) afterSkip(ctx context.Context, u storage.User, err error) {
	if s.vault != nil && errors.Is(err, storage.ErrNotFound) {
		_ = s.vault.DeletePersonKey(ctx, u.ID)
	}
}

// SealPlain seals every plain row and every factor secret of before,
// batch rows read at a time (100 if batch <= 0). It may run while servers
// serve: they read both forms.
func (s *Store) SealPlain(ctx context.Context, batch int) (Progress, error) {
	pr, err := s.walk(ctx, batch, func(u storage.User) (storage.User, bool, error) {
		if u.Sealed != nil {
			return u, false, nil
		}
		su, err := s.sealNew(ctx, u)
		return su, err == nil, err
	})
	if err == nil && pr.Left == 0 {
		s.plainLeft.Store(false)
	}
	return pr, err
}

// Rewrap wraps every data key that the current key-encryption key did
// not wrap again under it, in the main store and in the vault, and
// recomputes every blind index under the first secret, so that older
// secrets can be dropped afterwards. The fields stay sealed under the
// same data keys; factor secrets of before sealing (sealed under the
// secrets directly) move under them.
func (s *Store) Rewrap(ctx context.Context, batch int) (Progress, error) {
	vaultOnly := 0 // people whose key in the vault alone was rewrapped
	pr, err := s.walk(ctx, batch, func(u storage.User) (storage.User, bool, error) {
		if u.Sealed == nil {
			return u, false, nil
		}
		pu, dek, err := s.open(ctx, u)
		if err != nil {
			return u, false, fmt.Errorf("%w (is IDVAUTH_SECRETS right?)", err)
		}
		p := u.Sealed
		rewrapped := false
		if p.KeyRef != "" {
			if rewrapped, err = s.rewrapVaulted(ctx, u.ID, dek); err != nil {
				return u, false, err
			}
		}
		if (p.KeyRef != "" || p.KEK == s.keys.Current()) && bytes.Equal(p.UsernameIndex, blindIndex(s.index[0], "username", pu.Username)) &&
			bytes.Equal(p.EmailIndex, blindIndex(s.index[0], "email", pu.Email)) {
			if rewrapped {
				vaultOnly++
			}
			return u, false, nil
		}
		at := storage.Profile{Key: p.Key, KEK: p.KEK, KeyRef: p.KeyRef}
		if p.KeyRef == "" && p.KEK != s.keys.Current() {
			if at.Key, at.KEK, err = s.keys.Wrap(ctx, dek, keyAAD(u.ID)); err != nil {
				return u, false, fmt.Errorf("seal: wrap the data key of user %q: %w", u.ID, err)
			}
		}
		su, err := s.seal(pu, dek, at)
		return su, err == nil, err
	})
	pr.Changed += vaultOnly
	return pr, err
}

// PlainLeft returns how many rows are not sealed yet.
func (s *Store) PlainLeft(ctx context.Context) (int, error) { return s.Store.CountPlainUsers(ctx) }
