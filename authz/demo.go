package authz

import (
	"context"
	"errors"

	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
)

// Demo client IDs seeded by SeedDemo.
const (
	DemoServiceID        = "demo-service"
	DemoResourceServerID = "demo-resource-server"
)

// DemoClients are the seeded demo clients with their fresh secrets.
type DemoClients struct {
	Service        ClientJSON
	ResourceServer ClientJSON
}

// SeedDemo registers the demo clients of `serve --dev`: a backend service
// that may get identity.verify and identity.read_status tokens, and a
// resource server that may introspect. Clients that exist already get new
// secrets, so the printed credentials always work.
func (s *Server) SeedDemo(ctx context.Context) (DemoClients, error) {
	var d DemoClients
	var err error
	d.Service, err = s.seed(ctx, clientInput{
		ClientID:   DemoServiceID,
		ClientName: "Demo backend service",
		Scope:      scopes.Verify + " " + scopes.ReadStatus,
	})
	if err != nil {
		return d, err
	}
	d.ResourceServer, err = s.seed(ctx, clientInput{
		ClientID:             DemoResourceServerID,
		ClientName:           "Demo IDV resource server",
		GrantTypes:           []string{},
		IntrospectionAllowed: true,
	})
	return d, err
}

func (s *Server) seed(ctx context.Context, in clientInput) (ClientJSON, error) {
	out, err := s.createClient(ctx, in)
	if !errors.Is(err, storage.ErrAlreadyExists) {
		return out, err
	}
	secret, hash, err := newSecret()
	if err != nil {
		return out, err
	}
	if err := s.store.SetClientSecret(ctx, in.ClientID, hash, s.now()); err != nil {
		return out, err
	}
	c, err := s.store.GetClient(ctx, in.ClientID)
	if err != nil {
		return out, err
	}
	out = clientJSON(c)
	out.ClientSecret = secret
	return out, nil
}
