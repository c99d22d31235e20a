package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

func newKeysCmd(env lookupEnv) *cobra.Command {
	cmd := clikit.Group(&cobra.Command{
		Use:   "keys",
		Short: "List, rotate and retire signing keys",
		Long: `Manage the keys that sign access tokens. list, rotate and retire talk to the
admin API of a running server (IDVAUTH_ADMIN_URL, IDVAUTH_ADMIN_TOKEN);
reencrypt works on the database directly.

Keys rotate on their own every --key-rotation-interval (serve): a new key is
published in the JWKS before it signs, and an old one stays published until
every token it signed has expired. rotate and retire are for emergencies.`,
		Example: `  idvauth keys list
  idvauth keys rotate --alg ES256
  idvauth keys retire KID --revoke-tokens -o json`,
	})

	list := &cobra.Command{
		Use:     "list",
		Short:   "Show every signing key: kid, algorithm, state and times",
		Long:    "Show every signing key the store holds, removed ones too, oldest first. Private parts never leave the server.",
		Example: "  idvauth keys list\n  idvauth keys list -o json",
		Args:    cobra.NoArgs,
		RunE: adminRunE(env, nil, func(a *adminCall, _ []string) error {
			return show(a, adminapi.WriteKeyList)(a.api.ListKeys(a.ctx))
		}),
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new key sign now (every algorithm, or --alg)",
		Long: `Make a new key sign from now on and retire the current one; tokens it signed
stay valid until they expire. The new key is the published next key if there
is one (resource servers may know it already), otherwise a new key: resource
servers that have not seen it fetch the JWKS again when they meet its kid.`,
		Example: "  idvauth keys rotate\n  idvauth keys rotate --alg RS256 -o json",
		Args:    cobra.NoArgs,
		RunE: adminRunE(env, nil, func(a *adminCall, _ []string) error {
			alg, _ := a.cmd.Flags().GetString("alg")
			return show(a, adminapi.WriteKeyList)(a.api.RotateKeys(a.ctx, adminapi.RotateKeysRequest{Alg: alg}))
		}),
	}
	rotate.Flags().String("alg", "", "rotate only this algorithm: ES256, RS256 or PS256")
	retire := &cobra.Command{
		Use:   "retire KID",
		Short: "Stop a key signing; with --revoke-tokens, unpublish it and kill its tokens",
		Long: `Stop a key signing. An active key is replaced at once (as by rotate). Its
tokens stay valid until they expire, unless --revoke-tokens: then the key
leaves the JWKS now and every token it signed introspects inactive, on every
replica within a second. Use --revoke-tokens when the key may have leaked.

On a terminal it asks first; scripts confirm with --yes (without a terminal
and without --yes nothing is retired).`,
		Example: "  idvauth keys retire 3kT0...Qw --revoke-tokens\n  idvauth keys retire 3kT0...Qw --yes -o json\n\n  # A kid that starts with - goes after --\n  idvauth keys retire --revoke-tokens --yes -- -xY2...Qw",
		Args:    cobra.ExactArgs(1),
		RunE: adminRunE(env, func(cmd *cobra.Command, args []string) error {
			action := "retire signing key " + args[0]
			if revoke, _ := cmd.Flags().GetBool("revoke-tokens"); revoke {
				action += " and make every token it signed inactive"
			}
			return clikit.Confirm(cmd, action)
		}, func(a *adminCall, args []string) error {
			revoke, _ := a.cmd.Flags().GetBool("revoke-tokens")
			return show(a, adminapi.WriteKeyList)(a.api.RetireKey(a.ctx, args[0], adminapi.RetireKeyRequest{RevokeTokens: revoke}))
		}),
	}
	clikit.AddYesFlag(retire)
	retire.Flags().Bool("revoke-tokens", false, "also unpublish the key and make every token it signed inactive")
	for _, c := range []*cobra.Command{list, rotate, retire} {
		// Not on the group: reencrypt works on the database, not the API.
		addAdminFlags(c)
		clikit.AddOutputFlag(c)
	}
	cmd.AddCommand(list, rotate, retire, newReencryptCmd(env))
	return cmd
}

func newReencryptCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reencrypt",
		Short: "Re-encrypt every signing key and person key under the first of IDVAUTH_SECRETS",
		Long: `Re-encrypt the private keys in the database, and wrap every person's data
key again, under the first secret of IDVAUTH_SECRETS (people a page at a time,
one short transaction each, while servers run). To change the secret: put the new one first and keep the old
one after it ("new,old"), restart the servers, run this, then drop the old
secret. Works on the database directly (IDVAUTH_DATABASE_URL, and the
person-key store at IDVAUTH_PERSON_KEYS_DATABASE_URL if set); a key that
none of the secrets decrypts is an error, and nothing is regenerated.`,
		Example: `  IDVAUTH_SECRETS="$NEW,$OLD" IDVAUTH_DATABASE_URL=postgres://idvauth@127.0.0.1:5432/idvauth \
    idvauth keys reencrypt
  idvauth keys reencrypt -o json`,
		Args: cobra.NoArgs,
		RunE: dbRunE(env, func(d *dbCall) error {
			r, err := newResolver(d.cmd, env)
			if err != nil {
				return err
			}
			secrets := secretList(r)
			if len(secrets) == 0 {
				return errors.New("no secrets: set IDVAUTH_SECRETS (the new secret first, then the old ones)")
			}
			n, people, err := authz.Reencrypt(d.ctx, d.url, r.Value(sPersonKeysURL), secrets)
			if err != nil {
				return err
			}
			return d.print(map[string]int{"reencrypted": n, "people_rewrapped": people},
				textf("re-encrypted %d keys and rewrapped %d people's data keys under the first secret\n", n, people))
		}),
	}
	addDatabaseFlags(cmd)
	cmd.Flags().String(sPersonKeysURL.Flag, "", "PostgreSQL URL of the person-key store (env "+sPersonKeysURL.Env+")")
	return cmd
}
