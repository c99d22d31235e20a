package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// userStore is the storage.UserStore part of Store: people, their
// consents and their browser sessions. Errors name people by their opaque
// ID only: never a username, an email or a session digest.
type userStore struct{ pool *pgxpool.Pool }

// userSelect reads a user in either form, with the person's wrapped data
// key when sealed (or the reference to the person-key store that has it).
const userSelect = `SELECT u.id, COALESCE(u.username, ''), COALESCE(u.name, ''), COALESCE(u.email, ''), u.password_hash,
	u.created_at, u.updated_at, u.username_index, u.email_index, u.username_sealed, u.name_sealed, u.email_sealed,
	k.wrapped, COALESCE(k.kek, ''), COALESCE(u.key_ref, '') FROM users u LEFT JOIN person_keys k ON k.user_id = u.id`

func scanUser(row pgx.Row) (storage.User, error) {
	var u storage.User
	var p storage.Profile
	err := row.Scan(&u.ID, &u.Username, &u.Name, &u.Email, &u.PasswordHash, &u.CreatedAt, &u.UpdatedAt,
		&p.UsernameIndex, &p.EmailIndex, &p.Username, &p.Name, &p.Email, &p.Key, &p.KEK, &p.KeyRef)
	if p.Username != nil {
		u.Sealed = &p
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, err
}

// CreateUser implements storage.UserStore. The primary key and the unique
// username (or username index) refuse a second user with either; a
// sealed user's row and data key go in one transaction.
func (s *userStore) CreateUser(ctx context.Context, u storage.User) error {
	if !pgconv.TextOK(u.ID) || !pgconv.TextOK(u.Username) || !pgconv.TextOK(u.Name) || !pgconv.TextOK(u.Email) || !pgconv.TextOK(u.PasswordHash) {
		return fmt.Errorf("postgres: create user %q: text PostgreSQL cannot store: %w", u.ID, storage.ErrConflict)
	}
	op := fmt.Sprintf("create user %q", u.ID)
	if u.Sealed == nil {
		_, err := s.pool.Exec(ctx, `INSERT INTO users (id, username, name, email, password_hash, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, u.ID, u.Username, u.Name, u.Email, u.PasswordHash, u.CreatedAt, u.UpdatedAt)
		return pgconv.MapErr(op, err)
	}
	if !pgconv.TextOK(u.Sealed.KEK) || !pgconv.TextOK(u.Sealed.KeyRef) {
		return fmt.Errorf("postgres: %s: text PostgreSQL cannot store: %w", op, storage.ErrConflict)
	}
	p := u.Sealed
	return pgconv.MapErr(op, pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (id, password_hash, created_at, updated_at,
			username_index, email_index, username_sealed, name_sealed, email_sealed, key_ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULLIF($10, ''))`,
			u.ID, u.PasswordHash, u.CreatedAt, u.UpdatedAt, p.UsernameIndex, p.EmailIndex, p.Username, p.Name, p.Email, p.KeyRef)
		if err != nil || p.KeyRef != "" {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO person_keys (user_id, wrapped, kek) VALUES ($1, $2, $3)`, u.ID, p.Key, p.KEK)
		return err
	}))
}

// GetUser implements storage.UserStore.
func (s *userStore) GetUser(ctx context.Context, id string) (storage.User, error) {
	if !pgconv.TextOK(id) {
		return storage.User{}, fmt.Errorf("postgres: get user: %w", storage.ErrNotFound)
	}
	u, err := scanUser(s.pool.QueryRow(ctx, userSelect+` WHERE u.id = $1`, id))
	return u, pgconv.MapErr(fmt.Sprintf("get user %q", id), err)
}

// GetUserByUsername implements storage.UserStore: one read of the unique
// index (plain rows only; sealed ones are found by GetUserByIndex).
func (s *userStore) GetUserByUsername(ctx context.Context, username string) (storage.User, error) {
	if !pgconv.TextOK(username) {
		return storage.User{}, fmt.Errorf("postgres: get user by username: %w", storage.ErrNotFound)
	}
	u, err := scanUser(s.pool.QueryRow(ctx, userSelect+` WHERE u.username = $1`, username))
	return u, pgconv.MapErr("get user by username", err)
}

// ListUsers implements storage.UserStore. Usernames are ordered byte by
// byte (COLLATE "C"), as in every backend, whatever the database's
// collation; sealed rows (no plain username) come last, by ID.
func (s *userStore) ListUsers(ctx context.Context) ([]storage.User, error) {
	rows, err := s.pool.Query(ctx, userSelect+` ORDER BY u.username COLLATE "C", u.id COLLATE "C"`)
	if err != nil {
		return nil, pgconv.MapErr("list users", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.User, error) { return scanUser(r) })
	return out, pgconv.MapErr("list users", err)
}

// DeleteUser implements storage.UserStore in one transaction: the user
// row (whose foreign keys delete the consents, browser sessions, factors
// and recovery codes), then
// the tokens issued for them. The user goes first so that a call for an ID
// that is no user (a client's, say) deletes no tokens.
func (s *userStore) DeleteUser(ctx context.Context, id string) error {
	if !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: delete user: %w", storage.ErrNotFound)
	}
	found := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		found = true
		_, err = tx.Exec(ctx, `DELETE FROM tokens WHERE subject = $1`, id)
		return err
	})
	if err != nil {
		return pgconv.MapErr(fmt.Sprintf("delete user %q", id), err)
	}
	if !found {
		return fmt.Errorf("postgres: delete user %q: %w", id, storage.ErrNotFound)
	}
	return nil
}

// SaveConsent implements storage.UserStore with one upsert; the foreign
// keys refuse a missing user or client.
func (s *userStore) SaveConsent(ctx context.Context, c storage.Consent) error {
	if !pgconv.TextOK(c.UserID) || !pgconv.TextOK(c.ClientID) {
		return fmt.Errorf("postgres: save consent: %w", storage.ErrNotFound)
	}
	op := fmt.Sprintf("save consent of user %q to client %q", c.UserID, c.ClientID)
	if !pgconv.AllTextOK(c.Scopes) {
		return fmt.Errorf("postgres: %s: text PostgreSQL cannot store: %w", op, storage.ErrConflict)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = EXCLUDED.scopes, granted_at = EXCLUDED.granted_at`,
		c.UserID, c.ClientID, pgconv.NonNil(c.Scopes), c.GrantedAt)
	return pgconv.MapErr(op, err)
}

const consentCols = `user_id, client_id, scopes, granted_at`

func scanConsent(row pgx.Row) (storage.Consent, error) {
	var c storage.Consent
	err := row.Scan(&c.UserID, &c.ClientID, &c.Scopes, &c.GrantedAt)
	c.GrantedAt = c.GrantedAt.UTC()
	return c, err
}

// GetConsent implements storage.UserStore.
func (s *userStore) GetConsent(ctx context.Context, userID, clientID string) (storage.Consent, error) {
	if !pgconv.TextOK(userID) || !pgconv.TextOK(clientID) {
		return storage.Consent{}, fmt.Errorf("postgres: get consent: %w", storage.ErrNotFound)
	}
	c, err := scanConsent(s.pool.QueryRow(ctx, `SELECT `+consentCols+` FROM consents WHERE user_id = $1 AND client_id = $2`,
		userID, clientID))
	return c, pgconv.MapErr(fmt.Sprintf("get consent of user %q to client %q", userID, clientID), err)
}

// ListConsents implements storage.UserStore, ordered byte by byte.
func (s *userStore) ListConsents(ctx context.Context, userID string) ([]storage.Consent, error) {
	if !pgconv.TextOK(userID) {
		return []storage.Consent{}, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+consentCols+` FROM consents WHERE user_id = $1 ORDER BY client_id COLLATE "C"`, userID)
	if err != nil {
		return nil, pgconv.MapErr("list consents", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Consent, error) { return scanConsent(r) })
	return out, pgconv.MapErr("list consents", err)
}

// DeleteConsents implements storage.UserStore in one transaction: the
// consents, then the tokens of the grants behind them (only if userID is
// a user, as in DeleteUser). Every replica reads token rows at
// introspection and refresh, so the revocation holds everywhere at once.
func (s *userStore) DeleteConsents(ctx context.Context, userID, clientID string) (storage.Withdrawal, error) {
	var w storage.Withdrawal
	if !pgconv.TextOK(userID) || !pgconv.TextOK(clientID) {
		return w, nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM consents WHERE user_id = $1 AND ($2 = '' OR client_id = $2)`, userID, clientID)
		if err != nil {
			return err
		}
		w.Consents = int(tag.RowsAffected())
		return tx.QueryRow(ctx, `WITH revoked AS (
			DELETE FROM tokens WHERE subject = $1 AND ($2 = '' OR client_id = $2)
				AND EXISTS (SELECT 1 FROM users WHERE id = $1)
			RETURNING kind, consumed_at)
		SELECT count(*) FROM revoked WHERE kind IN ($3, $4, $5) AND consumed_at IS NULL`,
			userID, clientID, string(storage.AccessToken), string(storage.RefreshToken), string(storage.AuthorizeCode)).Scan(&w.Tokens)
	})
	if err != nil {
		return storage.Withdrawal{}, pgconv.MapErr(fmt.Sprintf("delete consents of user %q", userID), err)
	}
	return w, nil
}

// CreateBrowserSession implements storage.UserStore; the foreign key
// refuses a missing user.
func (s *userStore) CreateBrowserSession(ctx context.Context, bs storage.BrowserSession) error {
	if !pgconv.TextOK(bs.UserID) {
		return fmt.Errorf("postgres: create browser session: %w", storage.ErrNotFound)
	}
	op := fmt.Sprintf("create browser session of user %q", bs.UserID)
	if !pgconv.TextOK(bs.ID) || !pgconv.TextOK(bs.Device) || !pgconv.AllTextOK(bs.AMR) {
		return fmt.Errorf("postgres: %s: text PostgreSQL cannot store: %w", op, storage.ErrConflict)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO browser_sessions (id, user_id, auth_time, expires_at, amr, device) VALUES ($1, $2, $3, $4, $5, $6)`,
		bs.ID, bs.UserID, bs.AuthTime, bs.ExpiresAt, pgconv.NonNil(bs.AMR), bs.Device)
	return pgconv.MapErr(op, err)
}

const sessionCols = `id, user_id, auth_time, expires_at, amr, device`

func scanSession(row pgx.Row) (storage.BrowserSession, error) {
	var bs storage.BrowserSession
	err := row.Scan(&bs.ID, &bs.UserID, &bs.AuthTime, &bs.ExpiresAt, &bs.AMR, &bs.Device)
	if len(bs.AMR) == 0 {
		bs.AMR = nil
	}
	bs.AuthTime, bs.ExpiresAt = bs.AuthTime.UTC(), bs.ExpiresAt.UTC()
	return bs, err
}

// GetBrowserSession implements storage.UserStore.
func (s *userStore) GetBrowserSession(ctx context.Context, id string) (storage.BrowserSession, error) {
	if !pgconv.TextOK(id) {
		return storage.BrowserSession{}, fmt.Errorf("postgres: get browser session: %w", storage.ErrNotFound)
	}
	bs, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM browser_sessions WHERE id = $1`, id))
	return bs, pgconv.MapErr("get browser session", err)
}

// DeleteBrowserSession implements storage.UserStore.
func (s *userStore) DeleteBrowserSession(ctx context.Context, id string) error {
	if !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: delete browser session: %w", storage.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM browser_sessions WHERE id = $1`, id)
	return pgconv.Affected("delete browser session", tag, err)
}

// ListBrowserSessions implements storage.UserStore.
func (s *userStore) ListBrowserSessions(ctx context.Context, userID string) ([]storage.BrowserSession, error) {
	if !pgconv.TextOK(userID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+sessionCols+` FROM browser_sessions WHERE user_id = $1
		ORDER BY auth_time, id COLLATE "C"`, userID)
	if err != nil {
		return nil, pgconv.MapErr("list browser sessions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.BrowserSession, error) { return scanSession(r) })
	return out, pgconv.MapErr("list browser sessions", err)
}
