package operators

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
)

// The built-in clients through which operators get tokens for the admin
// API: the web console, and `idvauth login`. Both are public clients
// (nothing to keep secret in a browser tab or on a laptop) of the
// authorization-code grant with PKCE, served on the admin listener only:
// the public endpoints refuse them, and no operator signs in there.
const (
	ConsoleClientID = "idvauth-console"
	CLIClientID     = "idvauth-cli"
	// ReservedPrefix starts the ID of every built-in client; the admin
	// API registers no client with it, and changes none that has it.
	ReservedPrefix = "idvauth-"
)

// ConsoleCallbackPath is where the console receives its authorization
// code, on the admin listener.
const ConsoleCallbackPath = "/console/callback"

// CLIRedirectURIs are the loopback redirect URIs of `idvauth login`
// (RFC 8252 section 7.3: any port).
var cliRedirectURIs = []string{"http://127.0.0.1/callback", "http://[::1]/callback"}

// MaxGrantLifetime bounds how long an operator's sign-in through a
// built-in client lasts, refreshes included: a working day. A longer
// IDVAUTH_REFRESH_TOKEN_MAX_LIFETIME applies to applications only.
const MaxGrantLifetime = 12 * time.Hour

// GrantLifetime is the longest lifetime of a grant of the client id, on
// a server whose grants last at most serverMax.
func GrantLifetime(id string, serverMax time.Duration) time.Duration {
	if IsBuiltin(id) {
		return min(serverMax, MaxGrantLifetime)
	}
	return serverMax
}

// IsBuiltin reports whether id is (or would be) a built-in client's.
func IsBuiltin(id string) bool { return strings.HasPrefix(id, ReservedPrefix) }

// Builtins are the built-in clients of a server whose admin API is the
// resource adminAudience and whose admin listener is reached at adminURL.
func Builtins(adminAudience, adminURL string) []storage.Client {
	base := storage.Client{
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		Scopes: append(adminauth.Scopes(), scopes.OfflineAccess), Audience: []string{adminAudience}, TokenEndpointAuthMethod: "none",
	}
	console, cli := base, base
	console.ID, console.Name = ConsoleClientID, "idvauth web console"
	console.RedirectURIs = []string{strings.TrimSuffix(adminURL, "/") + ConsoleCallbackPath}
	cli.ID, cli.Name = CLIClientID, "idvauth command line (idvauth login)"
	cli.RedirectURIs = slices.Clone(cliRedirectURIs)
	return []storage.Client{console, cli}
}

// ClientStore is what EnsureBuiltins reads and writes.
type ClientStore interface {
	CreateClient(ctx context.Context, c storage.Client) error
	UpdateClient(ctx context.Context, c storage.Client) error
	SetClientSecret(ctx context.Context, id string, hash []byte, now time.Time) error
}

// EnsureBuiltins stores each of clients, or sets the stored one back to
// it (another replica with other settings started last, or someone
// changed it with psql): every field, and no secret. Replicas may call it
// at once; a change reaches every replica's client cache as any other.
func EnsureBuiltins(ctx context.Context, st ClientStore, clients []storage.Client, now time.Time) error {
	now = now.UTC().Truncate(time.Second)
	for _, c := range clients {
		c.CreatedAt, c.UpdatedAt = now, now
		err := st.CreateClient(ctx, c)
		if errors.Is(err, storage.ErrAlreadyExists) {
			err = st.UpdateClient(ctx, c)
			if err == nil {
				err = st.SetClientSecret(ctx, c.ID, nil, now)
			}
		}
		if err != nil {
			return fmt.Errorf("operators: store the built-in client %s: %w", c.ID, err)
		}
	}
	return nil
}

// Subjects reads the subjects of grants.
type Subjects interface {
	GetUser(ctx context.Context, id string) (storage.User, error)
	GetOperator(ctx context.Context, id string) (storage.Operator, error)
}

// SubjectStands returns an error that wraps storage.ErrNotFound when
// subject, of a grant of the client clientID, is gone: the person, or for
// the built-in clients the operator, gone or disabled.
func SubjectStands(ctx context.Context, st Subjects, clientID, subject string) error {
	if !IsBuiltin(clientID) {
		_, err := st.GetUser(ctx, subject)
		return err
	}
	o, err := st.GetOperator(ctx, subject)
	if err == nil && o.Disabled {
		return fmt.Errorf("operators: operator %s is disabled: %w", o.ID, storage.ErrNotFound)
	}
	return err
}

// ErrNoAdmin is the start-up error of a server nobody could administer.
var ErrNoAdmin = errors.New("nobody could use the admin API: create the first owner with " +
	"'idvauth operators create --username NAME --role owner' (it works on the database and prints an enrollment link), " +
	"or set the break-glass token IDVAUTH_ADMIN_TOKEN (32+ characters)")

// CheckReachable refuses, with ErrNoAdmin, a server without a break-glass
// token whose store holds no enabled operator: its admin API would be
// closed to all.
func CheckReachable(ctx context.Context, st interface {
	ListOperators(ctx context.Context) ([]storage.Operator, error)
}, breakGlass string) error {
	if breakGlass != "" {
		return nil
	}
	ops, err := st.ListOperators(ctx)
	if err != nil {
		return fmt.Errorf("operators: read the operators: %w", err)
	}
	if !slices.ContainsFunc(ops, func(o storage.Operator) bool { return !o.Disabled }) {
		return ErrNoAdmin
	}
	return nil
}
