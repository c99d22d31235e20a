package seal

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/idvauth/idvauth/storage"
)

// The vault (storage.PersonKeyStore) keeps the wrapped data keys apart
// from the main store, in a database of its own. A row whose key is there
// holds the reference vaultRef and no key, so that a copy of the main
// database taken at any time holds ciphertexts and blind indexes only:
// once the key is deleted from the vault, nothing opens them, with any
// secret. Rows whose key is still in the main store (written before, or by
// a server without a vault) are read as before; MoveKeys moves them.
//
// The vault and the main store share no transaction, so each step orders
// its writes so that no interruption leaves a row whose key is lost:
// a key is stored in the vault before a row names it, and deleted from it
// after the row is gone (and before, see DeleteUser). What an interruption
// can leave is a key in the vault that no row names: it opens nothing.

// vaultRef is the KeyRef of a row whose key is in the vault.
const vaultRef = "vault"

// wrappedKey returns the wrapped data key of the sealed profile p of the
// user id, from the profile or from the vault.
func (s *Store) wrappedKey(ctx context.Context, id string, p *storage.Profile) ([]byte, string, error) {
	if p.KeyRef == "" {
		if p.Key == nil {
			return nil, "", fmt.Errorf("seal: user %q: no data key: %w", id, ErrSealed)
		}
		return p.Key, p.KEK, nil
	}
	if p.KeyRef != vaultRef || s.vault == nil {
		return nil, "", fmt.Errorf("seal: user %q: the data key is in a person-key store (%q) that is not configured: %w", id, p.KeyRef, ErrSealed)
	}
	k, err := s.vault.GetPersonKey(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		// Erased, or being erased: the row goes next.
		return nil, "", fmt.Errorf("seal: user %q: no data key in the person-key store: %w: %w", id, ErrSealed, storage.ErrNotFound)
	} else if err != nil {
		return nil, "", fmt.Errorf("seal: user %q: read the data key: %w", id, err)
	}
	return k.Wrapped, k.KEK, nil
}

// vaultKey returns the data key the vault holds for the user id.
func (s *Store) vaultKey(ctx context.Context, id string) ([]byte, error) {
	k, err := s.vault.GetPersonKey(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("seal: user %q: read the data key: %w", id, err)
	}
	dek, err := s.keys.Unwrap(ctx, k.Wrapped, k.KEK, keyAAD(id))
	if err != nil {
		return nil, fmt.Errorf("seal: user %q: unwrap the data key in the person-key store: %w: %w", id, ErrSealed, err)
	}
	return dek, nil
}

// dropNewKey deletes from the vault the key that sealNew stored for a new
// person whose row could not be created, unless a row of that ID exists
// (which no new person's random ID should meet). A key of a person that
// exists is never dropped on a failed write: a concurrent step may have
// written a row that names it. Best effort: a key left behind opens
// nothing, and is taken by the next sealing of that ID.
func (s *Store) dropNewKey(ctx context.Context, id string) {
	if s.vault == nil {
		return
	}
	if _, err := s.Store.GetUser(ctx, id); errors.Is(err, storage.ErrNotFound) {
		_ = s.vault.DeletePersonKey(ctx, id)
	}
}

// DeleteUser implements storage.UserStore: the person's key in the vault,
// then their row, then the key again. The first delete means that a
// failure leaves no row whose key outlives an erasure the caller was told
// failed; the second catches a key that a concurrent MoveKeys stored after
// the first. A person whose row is gone already still has their key
// deleted (a retried erasure).
//
// Without a vault, a person whose row names one (moved there after this
// server started) is not deleted: the key would outlive the erasure.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	if s.vault == nil {
		if u, err := s.Store.GetUser(ctx, id); err == nil && u.Sealed != nil && u.Sealed.KeyRef != "" {
			return fmt.Errorf("seal: user %q: the data key is in a person-key store that is not configured "+
				"(set IDVAUTH_PERSON_KEYS_DATABASE_URL): not deleted, the key would outlive the erasure", id)
		}
		return s.Store.DeleteUser(ctx, id)
	}
	if err := s.vault.DeletePersonKey(ctx, id); err != nil {
		return fmt.Errorf("seal: delete the data key of user %q: %w", id, err)
	}
	err := s.Store.DeleteUser(ctx, id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if verr := s.vault.DeletePersonKey(ctx, id); verr != nil {
		return fmt.Errorf("seal: delete the data key of user %q: %w", id, verr)
	}
	return err
}

// MoveKeys moves every data key kept in the main store to the vault,
// batch rows read at a time (100 if batch <= 0), one person at a time:
// the key goes into the vault as it is (the same wrapped bytes), then
// the row is rewritten with the reference and without the key, on the
// condition that its key did not change meanwhile. Servers read both
// forms while it runs; an interrupted run is run again.
func (s *Store) MoveKeys(ctx context.Context, batch int) (Progress, error) {
	if s.vault == nil {
		return Progress{}, errors.New("seal: no person-key store configured (IDVAUTH_PERSON_KEYS_DATABASE_URL)")
	}
	return s.walk(ctx, batch, func(u storage.User) (storage.User, bool, error) {
		p := u.Sealed
		if p == nil || p.KeyRef != "" {
			return u, false, nil
		}
		_, dek, err := s.open(ctx, u)
		if err != nil {
			return u, false, fmt.Errorf("%w (is IDVAUTH_SECRETS right?)", err)
		}
		err = s.vault.CreatePersonKey(ctx, storage.PersonKey{UserID: u.ID, Wrapped: p.Key, KEK: p.KEK})
		if errors.Is(err, storage.ErrAlreadyExists) {
			// An earlier, interrupted run's (or a concurrent one's): the
			// row may name it only if it holds this very data key.
			err = s.sameKey(ctx, u.ID, dek)
		}
		if err != nil {
			return u, false, err
		}
		next := u
		q := *p
		q.Key, q.KEK, q.KeyRef = nil, "", vaultRef
		next.Sealed = &q
		return next, true, nil
	})
}

// sameKey checks that the vault's key of the user id unwraps to dek;
// ErrConflict if it does not (or went meanwhile).
func (s *Store) sameKey(ctx context.Context, id string, dek []byte) error {
	got, err := s.vaultKey(ctx, id)
	if err != nil || !bytes.Equal(got, dek) {
		return fmt.Errorf("seal: user %q: the person-key store holds another data key, or none: %w", id, storage.ErrConflict)
	}
	return nil
}

// rewrapVaulted wraps the vault's key of u again under the current KEK if
// another wrapped it; it reports whether it did. ErrConflict or
// ErrNotFound: the key changed or went meanwhile.
func (s *Store) rewrapVaulted(ctx context.Context, id string, dek []byte) (bool, error) {
	k, err := s.vault.GetPersonKey(ctx, id)
	if err != nil {
		return false, fmt.Errorf("seal: user %q: read the data key: %w", id, err)
	}
	if k.KEK == s.keys.Current() {
		return false, nil
	}
	wrapped, kek, err := s.keys.Wrap(ctx, dek, keyAAD(id))
	if err != nil {
		return false, fmt.Errorf("seal: wrap the data key of user %q: %w", id, err)
	}
	if err := s.vault.ReplacePersonKey(ctx, k.Wrapped, storage.PersonKey{UserID: id, Wrapped: wrapped, KEK: kek}); err != nil {
		return false, fmt.Errorf("seal: rewrap the data key of user %q: %w", id, err)
	}
	return true, nil
}

// FindUserRow answers nil if the backend holds a row of the user id,
// whether or not its profile opens, and ErrNotFound (wrapped) if it holds
// none. A row whose key is gone from the vault (an erasure that failed
// after the key was deleted, or a row back from a restored backup of the
// main store) is found here though GetUser finds it not: what erases or
// deletes a person checks this, so that such a row can be deleted too.
func (s *Store) FindUserRow(ctx context.Context, id string) error {
	_, err := s.Store.GetUser(ctx, id)
	return err
}
