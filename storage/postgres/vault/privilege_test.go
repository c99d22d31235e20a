package vault_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// TestOpenLeastPrivilege: once the table exists, a role with no CREATE on
// the schema (only USAGE, and the rights on the table that the store
// uses) opens the store and reads and writes keys: Open runs no DDL.
func TestOpenLeastPrivilege(t *testing.T) {
	ctx := context.Background()
	u := pgtest.VaultURL(t)
	open(t, u) // creates the table, as the first start does
	var b [6]byte
	_, _ = rand.Read(b[:])
	role := "idvauth_vault_user_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var schema string
	if err := admin.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT USAGE ON SCHEMA ` + schema + ` TO ` + role,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON vault_person_keys TO ` + role,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), u)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), `DROP OWNED BY `+role)
		_, _ = c.Exec(context.Background(), `DROP ROLE `+role)
	})
	var canCreate bool
	if err := admin.QueryRow(ctx, `SELECT has_schema_privilege($1, $2, 'CREATE')`, role, schema).Scan(&canCreate); err != nil || canCreate {
		t.Fatalf("the role may create in the schema (%v): the test would prove nothing", err)
	}
	ru, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	ru.User = url.User(role)
	s := open(t, ru.String())
	if err := s.CreatePersonKey(ctx, storage.PersonKey{UserID: "u_1", Wrapped: []byte{1}, KEK: "local:x"}); err != nil {
		t.Errorf("CreatePersonKey as the least-privilege role = %v", err)
	}
}
