package seal

import (
	"context"
	"testing"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// BenchmarkLookup measures reading a person as sign-in does (by
// username) and as the token and admin paths do (by ID): "plain" is the
// backend on a row in plain text, as before sealing; "sealed" is the
// sealing layer on a sealed row (blind index, unwrap, three fields).
func BenchmarkLookup(b *testing.B) {
	for _, backend := range []string{"memory", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			var raw storage.Store = memory.New()
			if backend == "postgres" {
				raw = pgtest.Open(b)
			}
			plainUser, sealedUser := person("plain"), person("sealed")
			create(b, raw, plainUser)
			s := newStore(b, raw, secretA)
			create(b, s, sealedUser)
			for _, c := range []struct {
				name string
				st   storage.UserStore
				u    storage.User
			}{{"plain", raw, plainUser}, {"sealed", s, sealedUser}} {
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
