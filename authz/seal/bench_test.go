package seal

import (
	"context"
	"testing"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
	"github.com/idvauth/idvauth/storage/postgres/vault"
)

// BenchmarkLookup measures reading a person as sign-in does (by
// username) and as the token and admin paths do (by ID): "plain" is the
// backend on a row in plain text, as before sealing; "sealed" is the
// sealing layer on a sealed row (blind index, unwrap, three fields);
// "vault" is that with the key in a person-key store (PostgreSQL: another
// database on the same server, one more round trip).
func BenchmarkLookup(b *testing.B) {
	for _, backend := range []string{"memory", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			var raw storage.Store = memory.New()
			var pk storage.PersonKeyStore = memory.NewPersonKeys()
			if backend == "postgres" {
				raw = pgtest.Open(b)
				v, err := vault.Open(context.Background(), vault.Config{URL: pgtest.VaultURL(b)})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(v.Close)
				pk = v
			}
			plainUser, sealedUser, vaultUser := person("plain"), person("sealed"), person("vault")
			create(b, raw, plainUser)
			s := newStore(b, raw, secretA)
			create(b, s, sealedUser)
			vs := newVaultStore(b, raw, pk, secretA)
			create(b, vs, vaultUser)
			for _, c := range []struct {
				name string
				st   storage.UserStore
				u    storage.User
			}{{"plain", raw, plainUser}, {"sealed", s, sealedUser}, {"vault", vs, vaultUser}} {
				b.Run(c.name+"/by-username", func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := c.st.GetUserByUsername(context.Background(), c.u.Username); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run(c.name+"/by-id", func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := c.st.GetUser(context.Background(), c.u.ID); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
