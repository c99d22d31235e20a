// Package personkeys assembles the sealing layer of a server or a
// command (authz/seal): the key-encryption key from IDVAUTH_SECRETS, the
// person-key store that the settings name (where the wrapped data keys
// are kept), and the opener of factor secrets sealed before sealing.
package personkeys

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/authz/seal"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/vault"
)

// Config says what to seal and where the keys are.
type Config struct {
	// Store is the main store; required.
	Store storage.Store
	// Secrets are IDVAUTH_SECRETS; required.
	Secrets []string
	// Vault is a person-key store the caller opened and closes; it takes
	// the place of URL.
	Vault storage.PersonKeyStore
	// URL is IDVAUTH_PERSON_KEYS_DATABASE_URL: the PostgreSQL person-key
	// store.
	URL string
	// Memory asks for a memory person-key store when neither Vault nor URL
	// is set (a server on its own memory store: serve --dev).
	Memory bool
	// MaxConns bounds the person-key store's pool (see vault.Config).
	MaxConns int32
	// Tracer traces the person-key store's queries; nil for none.
	Tracer pgx.QueryTracer
	// Warn is told what an operator must know (nil: nothing is told).
	Warn func(msg string)
}

// Open returns the sealing layer over cfg.Store. Its Close closes the
// main store and the person-key store Open opened.
func Open(ctx context.Context, cfg Config) (*seal.Store, error) {
	kp, err := seal.NewLocal(cfg.Secrets, nil)
	if err != nil {
		return nil, fmt.Errorf("personkeys: %w", err)
	}
	legacy, err := keys.NewSealer(cfg.Secrets, nil)
	if err != nil {
		return nil, fmt.Errorf("personkeys: %w", err)
	}
	sc := seal.Config{Store: cfg.Store, Keys: kp, Secrets: cfg.Secrets, Vault: cfg.Vault,
		OpenLegacyFactor: func(userID, factorID string, sealed []byte) ([]byte, error) {
			s, err := mfa.OpenSecret(legacy, userID, factorID, sealed)
			return []byte(s), err
		}}
	switch {
	case sc.Vault != nil:
	case cfg.URL != "":
		v, err := vault.Open(ctx, vault.Config{URL: cfg.URL, MaxConns: cfg.MaxConns, Tracer: cfg.Tracer})
		if err != nil {
			return nil, fmt.Errorf("personkeys: the person-key store (IDVAUTH_PERSON_KEYS_DATABASE_URL): %w", err)
		}
		sc.Vault, sc.CloseVault = v, v.Close
	case cfg.Memory:
		sc.Vault = memory.NewPersonKeys()
	}
	ss, err := seal.New(ctx, sc)
	if err != nil {
		if sc.CloseVault != nil {
			sc.CloseVault()
		}
		return nil, fmt.Errorf("personkeys: %w", err)
	}
	warn(ctx, cfg, ss, sc.Vault != nil)
	return ss, nil
}

// warn tells the operator where the keys are when that limits what an
// erasure reaches.
func warn(ctx context.Context, cfg Config, ss *seal.Store, vaulted bool) {
	if cfg.Warn == nil {
		return
	}
	here, _, err := ss.CountKeyPlaces(ctx)
	switch {
	case err != nil:
	case !vaulted:
		cfg.Warn("people's data keys are kept in the main database (IDVAUTH_PERSON_KEYS_DATABASE_URL is not set): " +
			"a copy of it taken before an erasure still opens with the current secrets until they are retired; " +
			"set a person-key database of its own so that erasures reach backups (docs/sealing.md)")
	case here > 0:
		cfg.Warn(fmt.Sprintf("%d people's data keys are still in the main database, where copies taken before an erasure keep them: "+
			"run idvauth migrate seal to move them to the person-key store", here))
	}
}

// Seal seals the people stored in plain text and, when ss has a
// person-key store, moves the data keys kept in the main store there:
// what `idvauth migrate seal` does, online and resumable.
func Seal(ctx context.Context, ss *seal.Store, batch int, move bool) (seal.Progress, error) {
	pr, err := ss.SealPlain(ctx, batch)
	if err != nil || !move {
		return pr, err
	}
	mv, err := ss.MoveKeys(ctx, batch)
	mv.Changed += pr.Changed
	mv.Skipped += pr.Skipped
	mv.Factors += pr.Factors
	return mv, err
}

// Status counts the people stored in plain text and those whose data key
// is still in the main store.
func Status(ctx context.Context, st storage.Store) (seal.Progress, error) {
	n, err := st.CountPlainUsers(ctx)
	if err != nil {
		return seal.Progress{}, err
	}
	here, _, err := st.CountKeyPlaces(ctx)
	return seal.Progress{Left: n, KeysLeft: here}, err
}
