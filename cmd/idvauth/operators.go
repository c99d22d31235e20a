package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

func newOperatorsCmd(env lookupEnv) *cobra.Command {
	cmd := clikit.Group(&cobra.Command{
		Use:   "operators",
		Short: "Manage the operators who run idvauth, with their roles",
		Long: `Manage operators: the people who run idvauth, each with a role (owner, admin,
support, auditor) that bounds the admin scopes of their tokens, and a second
factor. They are not the people who sign in to applications (idvauth users).
create works on the database when a database URL is set (the first owner);
the rest goes through the admin API (IDVAUTH_ADMIN_URL, IDVAUTH_ADMIN_TOKEN).`,
		Example: `  IDVAUTH_DATABASE_URL=postgres://idvauth@127.0.0.1:5432/idvauth idvauth operators create --username ada --role owner
  idvauth operators list -o json
  idvauth operators update op_3mJr7AoUXx2Wqd9KvYg5Tw --role auditor`,
	})
	addAdminFlags(cmd)
	op := func(use, short, long, example string, args cobra.PositionalArgs, run func(*adminCall, []string) error) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Long: long, Example: "  idvauth operators " + example, Args: args, RunE: adminRunE(env, nil, run)}
	}
	list := op("list", "List every operator", "List every operator with their role and state; needs admin:operators:write.", "list -o json",
		cobra.NoArgs, func(a *adminCall, _ []string) error {
			return show(a, adminapi.WriteOperatorList)(a.api.ListOperators(a.ctx))
		})
	update := op("update ID --role ROLE", "Change an operator's role", "Change an operator's role: their tokens carry at most its scopes "+
		"from their next request on, on every replica. The last enabled owner keeps the role.", "update op_3mJr7AoUXx2Wqd9KvYg5Tw --role support -o json",
		cobra.ExactArgs(1), func(a *adminCall, args []string) error {
			role, _ := a.cmd.Flags().GetString("role")
			return show(a, adminapi.WriteOperator)(a.api.UpdateOperator(a.ctx, args[0], adminapi.OperatorUpdate{Role: &role}))
		})
	update.Flags().String("role", "", "owner, admin, support or auditor")
	_ = update.MarkFlagRequired("role")
	disable := op("disable ID", "Disable an operator", "Disable an operator: every replica refuses their tokens from the next request on. "+
		"The last enabled owner cannot be disabled.", "disable op_3mJr7AoUXx2Wqd9KvYg5Tw -o json",
		cobra.ExactArgs(1), func(a *adminCall, args []string) error {
			yes := true
			return show(a, adminapi.WriteOperator)(a.api.UpdateOperator(a.ctx, args[0], adminapi.OperatorUpdate{Disabled: &yes}))
		})
	reset := op("mfa-reset ID", "Remove an operator's second factor; print a new enrollment link", "Remove an operator's second factor "+
		"(a lost phone) and print a new single-use enrollment link, valid 30 minutes.", "mfa-reset op_3mJr7AoUXx2Wqd9KvYg5Tw -o json",
		cobra.ExactArgs(1), func(a *adminCall, args []string) error {
			return show(a, adminapi.WriteEnrollment)(a.api.ResetOperatorMFA(a.ctx, args[0]))
		})
	for _, c := range []*cobra.Command{operatorsCreateCmd(env), list, update, disable, reset} {
		clikit.AddOutputFlag(c)
		cmd.AddCommand(c)
	}
	return cmd
}

func operatorsCreateCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --username USERNAME --role ROLE",
		Short: "Create an operator and print their single-use enrollment link (valid 30 minutes)",
		Long: `Create an operator and print the link, single use and valid 30 minutes, with
which they set their password and second factor (only its digest is kept).
With a database URL the operator is made in the database directly (the first
owner; the link is on IDVAUTH_ADMIN_URL); without one, through the admin API.`,
		Example: `  IDVAUTH_DATABASE_URL=postgres://idvauth@127.0.0.1:5432/idvauth idvauth operators create --username ada --role owner
  idvauth operators create --username bob --role support -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var in adminapi.OperatorInput
			in.Username, _ = cmd.Flags().GetString("username")
			in.Role, _ = cmd.Flags().GetString("role")
			if _, err := databaseURL(cmd, env); err != nil {
				return adminRunE(env, nil, func(a *adminCall, _ []string) error {
					return show(a, adminapi.WriteEnrollment)(a.api.CreateOperator(a.ctx, in))
				})(cmd, args)
			}
			return dbRunE(env, func(d *dbCall) error {
				r, err := newResolver(cmd, env)
				if err != nil {
					return err
				}
				adminURL, _ := r.Get(sAdminURL)
				e, err := authz.CreateOperator(d.ctx, d.url, in.Username, in.Role, adminURL)
				if err != nil {
					return err
				}
				return d.print(e, func(w io.Writer) error { return adminapi.WriteEnrollment(w, e) })
			})(cmd, args)
		},
	}
	cmd.Flags().String("username", "", "what the operator types to sign in (letters, digits, . _ - @)")
	cmd.Flags().String("role", "", "owner, admin, support or auditor")
	cmd.Flags().String(sDatabaseURL.Flag, "", "PostgreSQL URL (env "+sDatabaseURL.Env+"): create in the database directly")
	_ = cmd.MarkFlagRequired("username")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}
