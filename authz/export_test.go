package authz

import (
	"context"
	"time"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/storage"
)

// OperatorToken issues an access token for the admin API to the operator
// operatorID with scopes, through clientID (a client of the
// client_credentials grant), by the token machinery the console's sign-in
// will use: signed by the key ring and recorded, so that introspection,
// revocation and every replica see it as any other token.
func (s *Server) OperatorToken(ctx context.Context, clientID, operatorID string, scopes ...string) (string, error) {
	c, err := s.fstore.GetClient(ctx, clientID)
	if err != nil {
		return "", err
	}
	now := s.now().Truncate(time.Second)
	sess := &session{Subject: operatorID, AccessExp: now.Add(s.cfg.AccessTokenTTL)}
	ar := fosite.NewAccessRequest(sess)
	ar.GrantTypes = fosite.Arguments{grantClientCredentials}
	ar.Client, ar.RequestedAt = c, now
	for _, sc := range scopes {
		ar.AppendRequestedScope(sc)
		ar.GrantScope(sc)
	}
	ar.GrantAudience(s.cfg.AdminAudience)
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		return "", err
	}
	return resp.GetAccessToken(), nil
}

// StoreForTest is s's store, for tests that set up what no admin call
// can make (operators with a role under four-eyes, as the bootstrap on
// the database does; a request made a day ago).
func (s *Server) StoreForTest() storage.Store { return s.store }
