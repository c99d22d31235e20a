// Package seal keeps people's personal data sealed at rest. It wraps a
// storage.Store: what goes down to the backend is each person's username,
// name and e-mail encrypted with AES-256-GCM under a data key of their own
// (the associated data binds every ciphertext to the person's ID and the
// field's name), the data key wrapped by a key-encryption key that a
// KeyProvider holds (Local: derived from IDVAUTH_SECRETS), and keyed blind
// indexes (HMAC-SHA-256) of the username and the e-mail for the lookups.
// What comes back up is the plain profile, so the packages above see
// storage.User as before; both backends store the same sealed bytes.
//
// The wrapped data keys are kept in a person-key store of their own (the
// vault, Config.Vault: a database apart from the main one) when one is
// configured, and the main store keeps only a reference (vault.go);
// without one they are kept in the main store, as before.
//
// Deleting a person deletes their data key with them (crypto-shredding):
// a copy of their sealed row made before can no longer be opened once the
// wrapped key is gone from every copy too (with a vault, from the vault
// and its short-lived backups), or once the secrets that wrapped it are
// retired (see docs/sealing.md).
//
// Rows written before sealing stay readable: Store reads both forms, and
// SealPlain seals the plain ones online, one short transaction per person.
// MoveKeys moves the keys kept in the main store to the vault, online in
// the same way. Rewrap wraps every data key (in either place) again under
// the current key-encryption key
// (and recomputes the blind indexes under the first secret) so that older
// secrets can be dropped.
package seal
