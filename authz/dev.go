package authz

import (
	"context"

	"github.com/idvauth/idvauth/authz/admin"
	"github.com/idvauth/idvauth/authz/internal/web"
)

// The demo of `idvauth serve --dev`; see admin.Demo.
const (
	DemoServiceID        = admin.DemoServiceID
	DemoResourceServerID = admin.DemoResourceServerID
	DemoWebID            = admin.DemoWebID
	DemoUsername         = admin.DemoUsername
	// DevCallbackPath is where the demo web client's browser lands
	// (Config.Dev only).
	DevCallbackPath = admin.DemoCallbackPath
)

// DemoClients are the seeded demo clients with their fresh secrets, and
// the demo person with their fresh password.
type DemoClients = admin.DemoClients

// SeedDemo registers the demo clients and person of `serve --dev`. Clients
// that exist already get new secrets, so the printed credentials always
// work.
func (s *Server) SeedDemo(ctx context.Context) (DemoClients, error) { return s.demo.Seed(ctx) }

// NewSecret returns a new 256-bit random secret, base64url (43
// characters): for IDVAUTH_SECRETS or an admin token.
func NewSecret() string { return web.RandomToken() }
