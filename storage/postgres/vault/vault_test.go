package vault_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
	"github.com/idvauth/idvauth/storage/postgres/vault"
	"github.com/idvauth/idvauth/storage/storagetest/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t *testing.T, url string) *vault.Store {
	t.Helper()
	s, err := vault.Open(context.Background(), vault.Config{URL: url})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestContract(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) storage.PersonKeyStore { return open(t, pgtest.VaultURL(t)) })
}

// TestOpenTwice: a second Open (another replica) finds the table and the
// keys the first stored.
func TestOpenTwice(t *testing.T) {
	u := pgtest.VaultURL(t)
	a := open(t, u)
	k := storage.PersonKey{UserID: "u_1", Wrapped: []byte{1, 2, 3}, KEK: "local:x"}
	if err := a.CreatePersonKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if got, err := open(t, u).GetPersonKey(context.Background(), "u_1"); err != nil || string(got.Wrapped) != "\x01\x02\x03" {
		t.Errorf("GetPersonKey through a second store = %+v, %v", got, err)
	}
}

// TestBadURL: a URL that does not parse is refused without echoing it
// (it may hold a password).
func TestBadURL(t *testing.T) {
	_, err := vault.Open(context.Background(), vault.Config{URL: "postgres://idvauth:s3cr3t@db:notaport/x"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("Open(bad URL) = %v; want an error without the password", err)
	}
}
