package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

func newAPIKeysCmd(env lookupEnv) *cobra.Command {
	cmd := clikit.Group(&cobra.Command{
		Use:   "api-keys",
		Short: "Manage the API keys of a client",
		Long: `Manage the API keys of a client: long-lived credentials for simple
server-to-server integrations. A key gets client_credentials tokens at the
token endpoint (Authorization: Bearer idvk_...), and resource servers may
introspect it directly. The key is shown once, when it is made.`,
		Example: `  idvauth clients api-keys create demo-service --name "ci pipeline" --scope identity.verify --expires-in 720h
  idvauth clients api-keys list demo-service
  idvauth clients api-keys rotate demo-service 3f2a... --grace 1h
  idvauth clients api-keys revoke demo-service 3f2a...`,
	})
	for _, c := range []*cobra.Command{apiKeysCreateCmd(env), apiKeysListCmd(env), apiKeysRevokeCmd(env), apiKeysRotateCmd(env)} {
		clikit.AddOutputFlag(c)
		cmd.AddCommand(c)
	}
	return cmd
}

func apiKeysCreateCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create CLIENT_ID",
		Short: "Make an API key of a client and print it (shown once)",
		Long: `Make an API key of a confidential client with the client_credentials
grant. Its scope and audience are subsets of the client's (default: all of
them); it expires after --expires-in (default 90 days); with --network it
works only from those ranges. The key is printed once: store it now.`,
		Example: `  idvauth clients api-keys create demo-service --name "ci pipeline"
  idvauth clients api-keys create demo-service --name office --scope identity.verify \
    --audience idv-api --network 203.0.113.0/24 --expires-in 720h -o json`,
		Args: cobra.ExactArgs(1),
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			f := a.cmd.Flags()
			var in adminapi.APIKeyCreate
			in.Name, _ = f.GetString("name")
			in.Scope, _ = f.GetString("scope")
			in.Audience, _ = f.GetStringArray("audience")
			in.Networks, _ = f.GetStringArray("network")
			if d, _ := f.GetDuration("expires-in"); d != 0 {
				if d < time.Second {
					return errors.New("--expires-in must be a positive duration, e.g. 720h")
				}
				in.ExpiresIn = int64(d / time.Second)
			}
			return show(a, adminapi.WriteAPIKey)(a.api.CreateAPIKey(a.ctx, args[0], in))
		}),
	}
	f := cmd.Flags()
	f.String("name", "", "what the key is for (required)")
	f.String("scope", "", "space-separated scopes, a subset of the client's (default: the client's)")
	f.StringArray("audience", nil, "an audience of the client the key's tokens are for (repeatable; default: the client's)")
	f.StringArray("network", nil, "a CIDR range the key may be used from (repeatable; default: anywhere)")
	f.Duration("expires-in", 0, "lifetime, e.g. 720h (default 90 days, at most the server's maximum)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func apiKeysListCmd(env lookupEnv) *cobra.Command {
	return &cobra.Command{
		Use:     "list CLIENT_ID",
		Short:   "List the API keys of a client (never the keys)",
		Long:    "List the API keys of a client: ID, name, scope, networks, when made, when they expire, when last used (to within about 10 seconds) and what replaced them. The keys themselves are not stored and never shown again.",
		Example: "  idvauth clients api-keys list demo-service\n  idvauth clients api-keys list demo-service -o json",
		Args:    cobra.ExactArgs(1),
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			return show(a, adminapi.WriteAPIKeyList)(a.api.ListAPIKeys(a.ctx, args[0]))
		}),
	}
}

func apiKeysRevokeCmd(env lookupEnv) *cobra.Command {
	return &cobra.Command{
		Use:     "revoke CLIENT_ID KEY_ID",
		Short:   "Revoke an API key: refused everywhere at once",
		Long:    "Revoke an API key. Every replica refuses it from the next request on, at the token endpoint and at introspection; tokens it already got stay valid until they expire.",
		Example: "  idvauth clients api-keys revoke demo-service 3f2a9c0e1b7d4a6e8f10\n  idvauth clients api-keys revoke demo-service 3f2a9c0e1b7d4a6e8f10 -o json",
		Args:    cobra.ExactArgs(2),
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			return showDeleted(a, a.api.RevokeAPIKey(a.ctx, args[0], args[1]), args[1], "API key "+args[1]+" revoked")
		}),
	}
}

func apiKeysRotateCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate CLIENT_ID KEY_ID",
		Short: "Replace an API key with a new one (shown once); the old one works for --grace more",
		Long: `Make a new key with the old one's name, scope, audience, networks and
lifetime. The old key keeps working for --grace (default 24h; 0 ends it at
once), so that the integration can switch without an outage.`,
		Example: "  idvauth clients api-keys rotate demo-service 3f2a9c0e1b7d4a6e8f10 --grace 1h\n  idvauth clients api-keys rotate demo-service 3f2a9c0e1b7d4a6e8f10 --grace 0s -o json",
		Args:    cobra.ExactArgs(2),
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			var in adminapi.APIKeyRotate
			if a.cmd.Flags().Changed("grace") {
				d, _ := a.cmd.Flags().GetDuration("grace")
				if d < 0 {
					return errors.New("--grace must not be negative")
				}
				secs := int64(d / time.Second)
				in.GracePeriod = &secs
			}
			return show(a, adminapi.WriteAPIKey)(a.api.RotateAPIKey(a.ctx, args[0], args[1], in))
		}),
	}
	cmd.Flags().Duration("grace", 24*time.Hour, "how long the old key keeps working")
	return cmd
}
