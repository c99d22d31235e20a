package authz

import (
	"context"

	"github.com/idvauth/idvauth/storage"
)

// OperatorToken issues an access token for the admin API to the operator
// operatorID with scopes, through clientID (a client of the
// client_credentials grant), by the token machinery the console's sign-in
// will use: signed by the key ring and recorded, so that introspection,
// revocation and every replica see it as any other token.
func OperatorToken(ctx context.Context, s *Server, clientID, operatorID string, scopes ...string) (string, error) {
	return s.operatorToken(ctx, clientID, operatorID, scopes)
}

// StoreForTest is s's store, for tests that set up what no admin call
// can make (operators with a role under four-eyes, as the bootstrap on
// the database does; a request made a day ago).
func (s *Server) StoreForTest() storage.Store { return s.store }
