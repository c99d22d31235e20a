package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/prompt"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

func newUsersCmd(env lookupEnv) *cobra.Command {
	cmd := clikit.Group(&cobra.Command{
		Use:   "users",
		Short: "Manage the people who sign in, through the admin API",
		Long: `Manage the people who sign in at the login page (authorization_code flow)
through the admin API of a running server.

The admin API is found at IDVAUTH_ADMIN_URL (default http://127.0.0.1:8081)
and authenticated with IDVAUTH_ADMIN_TOKEN. Passwords are never taken as
flags: create prompts for one, or reads it from stdin.`,
		Example: `  export IDVAUTH_ADMIN_TOKEN=...
  idvauth users create --username ada --name "Ada Lovelace" --email ada@example.com
  idvauth users list -o json
  idvauth users export u_3mJr7AoUXx2Wqd9KvYg5Tw
  idvauth users erase u_3mJr7AoUXx2Wqd9KvYg5Tw --yes
  idvauth users mfa-reset u_3mJr7AoUXx2Wqd9KvYg5Tw
  idvauth users update ada --email ada@analytical.example
  idvauth users password-reset ada`,
	})
	addAdminFlags(cmd)
	for _, c := range []*cobra.Command{usersCreateCmd(env), usersListCmd(env), usersGetCmd(env), usersDeleteCmd(env),
		usersWithdrawCmd(env), usersEraseCmd(env), usersMFAResetCmd(env), usersUpdateCmd(env), usersPasswordResetCmd(env)} {
		clikit.AddOutputFlag(c)
		cmd.AddCommand(c)
	}
	cmd.AddCommand(usersExportCmd(env))
	return cmd
}

func usersCreateCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --username USERNAME",
		Short: "Register a person; the password is prompted for or read from stdin",
		Long: `Register a person who can then sign in at the login page.

The password is never a flag (flags show in ps and in shell history). In a
terminal it is asked for twice, without echo. Otherwise, or with
--password-stdin, it is the first line of stdin, without its line ending.

The server checks the password (at least 12 characters, not a well-known
one, not the username or email) and keeps only an argon2id hash of it.`,
		Example: `  # Asked for the password twice
  idvauth users create --username ada --name "Ada Lovelace" --email ada@example.com

  # From a script: the password on stdin
  printf '%s\n' "$ADA_PASSWORD" | idvauth users create --username ada --password-stdin -o json`,
		Args: cobra.NoArgs,
		RunE: adminRunE(env, nil, func(a *adminCall, _ []string) error {
			f := a.cmd.Flags()
			var in adminapi.UserInput
			in.Username, _ = f.GetString("username")
			in.Name, _ = f.GetString("name")
			in.Email, _ = f.GetString("email")
			fromStdin, _ := f.GetBool("password-stdin")
			var err error
			if in.Password, err = prompt.ReadPassword(a.ctx, a.cmd.InOrStdin(), a.cmd.ErrOrStderr(), in.Username, fromStdin); err != nil {
				return err
			}
			return show(a, adminapi.WriteUser)(a.api.CreateUser(a.ctx, in))
		}),
	}
	cmd.Flags().String("username", "", "what the person types to sign in (stored lower-case)")
	cmd.Flags().String("name", "", "the person's full name")
	cmd.Flags().String("email", "", "the person's email address")
	cmd.Flags().Bool("password-stdin", false, "read the password from stdin (the default when stdin is not a terminal)")
	_ = cmd.MarkFlagRequired("username")
	return cmd
}

func usersListCmd(env lookupEnv) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List people",
		Long:    "List every registered person, ordered by username (never their passwords).",
		Example: "  idvauth users list\n  idvauth users list -o json",
		Args:    cobra.NoArgs,
		RunE: adminRunE(env, nil, func(a *adminCall, _ []string) error {
			return show(a, adminapi.WriteUserList)(a.api.ListUsers(a.ctx))
		}),
	}
}

func usersGetCmd(env lookupEnv) *cobra.Command {
	return &cobra.Command{
		Use:     "get USER_ID|USERNAME",
		Short:   "Show one person",
		Long:    "Show one person's record (never their password), by ID or username.",
		Example: "  idvauth users get ada\n  idvauth users get u_3mJr7AoUXx2Wqd9KvYg5Tw -o json",
		Args:    cobra.ExactArgs(1),
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			id, err := a.api.UserID(a.ctx, args[0])
			if err != nil {
				return err
			}
			return show(a, adminapi.WriteUser)(a.api.GetUser(a.ctx, id))
		}),
	}
}

func usersDeleteCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete USER_ID|USERNAME",
		Short: "Delete a person, end their sessions and revoke their tokens",
		Long: `Delete a person with their consents, by ID or username. Their browser
sessions end and every token issued for them is revoked at once:
introspection answers active: false.

On a terminal it asks first; scripts confirm with --yes (without a terminal
and without --yes nothing is deleted).`,
		Example: "  idvauth users delete ada\n  idvauth users delete u_3mJr7AoUXx2Wqd9KvYg5Tw --yes -o json",
		Args:    cobra.ExactArgs(1),
		RunE: adminRunE(env, clikit.ConfirmCheck(func(args []string) string { return "delete user " + args[0] }), func(a *adminCall, args []string) error {
			id, err := a.api.UserID(a.ctx, args[0])
			if err != nil {
				return err
			}
			return showDeleted(a, adminapi.Named(a.api.DeleteUser(a.ctx, id), "user", id), id, "deleted user "+id)
		}),
	}
	clikit.AddYesFlag(cmd)
	return cmd
}

func usersWithdrawCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "withdraw-consents USER_ID|USERNAME",
		Short: "Withdraw a person's consents, to every client or to one",
		Long: `Withdraw what a person consented to: to one client with --client, to every
client otherwise. The client must ask for consent again the next time the
person signs in. The grants behind the consents end at once, on every
replica: the person's access tokens, refresh tokens and authorization codes
of that client (or of every client) are revoked.`,
		Example: `  idvauth users withdraw-consents u_3mJr7AoUXx2Wqd9KvYg5Tw
  idvauth users withdraw-consents u_3mJr7AoUXx2Wqd9KvYg5Tw --client kyc-web -o json`,
		Args: cobra.ExactArgs(1),
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			id, err := a.api.UserID(a.ctx, args[0])
			if err != nil {
				return err
			}
			client, _ := a.cmd.Flags().GetString("client")
			to := ""
			if client != "" {
				to = " to client " + client
			}
			return show(a, func(w io.Writer, cw adminapi.ConsentWithdrawal) error {
				_, err := fmt.Fprintf(w, "withdrew %d %s of user %s%s; revoked %d %s\n", cw.Withdrawn, adminapi.Plural(cw.Withdrawn, "consent", "consents"), cw.UserID, to,
					cw.TokensRevoked, adminapi.Plural(cw.TokensRevoked, "token", "tokens"))
				return err
			})(a.api.WithdrawConsents(a.ctx, id, client))
		}),
	}
	cmd.Flags().String("client", "", "withdraw only the consent to this client_id")
	return cmd
}

func usersEraseCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "erase USER_ID|USERNAME",
		Short: "Erase a person for good (GDPR right to erasure)",
		Long: `Erase a person: their profile, password hash, consents, browser sessions,
refresh tokens and codes are removed and their access tokens stop working
(introspection answers active: false), in one step. The audit trail keeps
only the opaque user ID. It cannot be undone: save 'idvauth users export'
first if the person asked for their data too.

On a terminal it asks first; scripts confirm with --yes (without a terminal
and without --yes nothing is erased).`,
		Example: `  idvauth users export u_3mJr7AoUXx2Wqd9KvYg5Tw > ada.json
  idvauth users erase u_3mJr7AoUXx2Wqd9KvYg5Tw --yes
  idvauth users erase u_3mJr7AoUXx2Wqd9KvYg5Tw --yes -o json`,
		Args: cobra.ExactArgs(1),
		RunE: adminRunE(env, clikit.ConfirmCheck(func(args []string) string {
			return "erase user " + args[0] + " and everything held about them"
		}), func(a *adminCall, args []string) error {
			id, err := a.api.UserID(a.ctx, args[0])
			if err != nil {
				return err
			}
			return show(a, func(w io.Writer, ue adminapi.UserErasure) error {
				if !ue.Erased || ue.UserID != id {
					return fmt.Errorf("the admin API did not confirm the erasure of user %s", id)
				}
				_, err := fmt.Fprintf(w, "erased user %s: profile, password hash, consents, sessions and tokens removed\n", ue.UserID)
				return err
			})(a.api.EraseUser(a.ctx, id))
		}),
	}
	clikit.AddYesFlag(cmd)
	return cmd
}

func usersMFAResetCmd(env lookupEnv) *cobra.Command {
	return &cobra.Command{
		Use: "mfa-reset USER_ID", Short: "Remove every second factor of a person (a lost phone)", Args: cobra.ExactArgs(1),
		Long: `Remove a person's authenticator app and recovery codes (audited as user.mfa_reset); they set
up a new one at their next sign-in that needs it. Check who asks: an attacker with the password would.`,
		Example: "  idvauth users mfa-reset u_3mJr7AoUXx2Wqd9KvYg5Tw\n  idvauth users mfa-reset u_3mJr7AoUXx2Wqd9KvYg5Tw -o json",
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			return show(a, func(w io.Writer, m adminapi.MFAReset) error {
				_, err := fmt.Fprintf(w, "reset second factors of user %s: %d factor(s) and all recovery codes removed, %d session(s) ended\n", m.UserID, m.FactorsRemoved, m.SessionsEnded)
				return err
			})(a.api.ResetMFA(a.ctx, args[0]))
		}),
	}
}

func usersUpdateCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use: "update USER_ID|USERNAME [--name NAME] [--email EMAIL] [--username USERNAME]", Args: cobra.ExactArgs(1),
		Short: "Change a person's name, email or username",
		Long: `Change the fields given (an empty value clears name or email); the rest stay. A username
or email another person has is refused (409). Audited as user.updated with the fields' names only.`,
		Example: "  idvauth users update ada --name \"Ada King\" --email ada@analytical.example\n  idvauth users update u_3mJr7AoUXx2Wqd9KvYg5Tw --username countess -o json",
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			f := a.cmd.Flags()
			in := adminapi.PatchOf(f.Changed, func(n string) string { v, _ := f.GetString(n); return v })
			if in == (adminapi.UserPatch{}) {
				return fmt.Errorf("nothing to change: give --name, --email or --username")
			}
			id, err := a.api.UserID(a.ctx, args[0])
			if err != nil {
				return err
			}
			return show(a, adminapi.WriteUser)(a.api.UpdateUser(a.ctx, id, in))
		}),
	}
	cmd.Flags().String("name", "", "the person's full name")
	cmd.Flags().String("email", "", "the person's email address")
	cmd.Flags().String("username", "", "what the person types to sign in (stored lower-case)")
	return cmd
}

func usersPasswordResetCmd(env lookupEnv) *cobra.Command {
	return &cobra.Command{
		Use: "password-reset USER_ID|USERNAME", Args: cobra.ExactArgs(1),
		Short: "Print a single-use link at which a person sets a new password",
		Long: `Print a link, usable once within 30 minutes, at which the person sets a new password; then
all their sessions and refresh tokens end. The link is a credential: hand it over by a channel you trust.`,
		Example: "  idvauth users password-reset ada\n  idvauth users password-reset u_3mJr7AoUXx2Wqd9KvYg5Tw -o json",
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			id, err := a.api.UserID(a.ctx, args[0])
			if err != nil {
				return err
			}
			return show(a, adminapi.WritePasswordReset)(a.api.PasswordReset(a.ctx, id))
		}),
	}
}

func usersExportCmd(env lookupEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "export USER_ID|USERNAME",
		Short: "Print everything held about a person, as JSON (GDPR right of access)",
		Long: `Print everything idvauth holds about a person, as indented JSON: their
record, consents, browser sessions, the records of their tokens (never token
values, which are not kept) and the audit entries about them. The password
hash is held but not exported. The output is JSON either way: there is no
-o flag.

It holds personal data: write it somewhere only the person and you can read.`,
		Example: `  idvauth users export u_3mJr7AoUXx2Wqd9KvYg5Tw
  (umask 077; idvauth users export u_3mJr7AoUXx2Wqd9KvYg5Tw > ada.json)`,
		Args: cobra.ExactArgs(1),
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			id, err := a.api.UserID(a.ctx, args[0])
			if err != nil {
				return err
			}
			_, raw, err := a.api.ExportUser(a.ctx, id)
			if err != nil {
				return err
			}
			var out bytes.Buffer
			if err := json.Indent(&out, raw, "", "  "); err != nil {
				return fmt.Errorf("unexpected admin API answer: %w", err)
			}
			if !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
				out.WriteByte('\n')
			}
			_, err = a.out.Write(out.Bytes())
			return err
		}),
	}
}
