package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

func newOperatorsCmd(env lookupEnv) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "operators",
		Short: "Manage the operators who run idvauth, with their roles",
		Long: `Manage operators: the people who run idvauth through the admin API and the
console, each with a role (owner, admin, support, auditor) that bounds the
admin scopes their tokens carry, and a mandatory second factor. Operators
are not the people who sign in to client applications (idvauth users).

create works on the database directly when a database URL is set
(IDVAUTH_DATABASE_URL or --database-url): that is how the first owner is
made. Everything else, and create without a database URL, goes through the
admin API at IDVAUTH_ADMIN_URL with the credential in IDVAUTH_ADMIN_TOKEN
(an access token with admin:operators:write, or the break-glass token).`,
		Example: `  IDVAUTH_DATABASE_URL=postgres://idvauth@127.0.0.1:5432/idvauth idvauth operators create --username ada --role owner
  idvauth operators list -o json
  idvauth operators update op_3mJr7AoUXx2Wqd9KvYg5Tw --role auditor
  idvauth operators disable op_3mJr7AoUXx2Wqd9KvYg5Tw
  idvauth operators mfa-reset op_3mJr7AoUXx2Wqd9KvYg5Tw`,
	})
	addAdminFlags(cmd)
	list := &cobra.Command{
		Use: "list", Short: "List every operator", Args: cobra.NoArgs,
		Long:    "List every operator with their role, state (enrolling, active, disabled) and whether they have a\nsecond factor. Needs admin:operators:write.",
		Example: "  idvauth operators list\n  idvauth operators list -o json",
		RunE: adminRunE(env, nil, func(a *adminCall, _ []string) error {
			return show(a, adminapi.WriteOperatorList)(a.api.ListOperators(a.ctx))
		}),
	}
	update := &cobra.Command{
		Use: "update ID --role ROLE", Short: "Change an operator's role (effective on their next request)", Args: cobra.ExactArgs(1),
		Long:    "Change an operator's role. Their tokens carry at most the new role's scopes from their next request\non, on every replica. The last enabled owner cannot be demoted.",
		Example: "  idvauth operators update op_3mJr7AoUXx2Wqd9KvYg5Tw --role support -o json",
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			role, _ := a.cmd.Flags().GetString("role")
			return show(a, adminapi.WriteOperator)(a.api.UpdateOperator(a.ctx, args[0], adminapi.OperatorUpdate{Role: &role}))
		}),
	}
	update.Flags().String("role", "", "owner, admin, support or auditor")
	_ = update.MarkFlagRequired("role")
	disable := &cobra.Command{
		Use: "disable ID", Short: "Disable an operator: every replica refuses their tokens at once", Args: cobra.ExactArgs(1),
		Long:    "Disable an operator. Every replica refuses their tokens from the next request on. The last\nenabled owner cannot be disabled.",
		Example: "  idvauth operators disable op_3mJr7AoUXx2Wqd9KvYg5Tw -o json",
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			yes := true
			return show(a, adminapi.WriteOperator)(a.api.UpdateOperator(a.ctx, args[0], adminapi.OperatorUpdate{Disabled: &yes}))
		}),
	}
	reset := &cobra.Command{
		Use: "mfa-reset ID", Short: "Remove an operator's second factor and print a new enrollment link", Args: cobra.ExactArgs(1),
		Long:    "Remove an operator's second factor (a lost phone) and print a new single-use enrollment link,\nvalid 30 minutes, with which they enroll a new one. Any pending link stops working.",
		Example: "  idvauth operators mfa-reset op_3mJr7AoUXx2Wqd9KvYg5Tw -o json",
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			return show(a, adminapi.WriteEnrollment)(a.api.ResetOperatorMFA(a.ctx, args[0]))
		}),
	}
	for _, c := range []*cobra.Command{operatorsCreateCmd(env), list, update, disable, reset} {
		addOutputFlag(c)
		cmd.AddCommand(c)
	}
	return cmd
}

func operatorsCreateCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --username USERNAME --role ROLE",
		Short: "Create an operator and print their single-use enrollment link (valid 30 minutes)",
		Long: `Create an operator with a role and print the link with which they set their
password and second factor: single use, valid 30 minutes, shown once (only
its digest is kept). Send it to them privately.

With a database URL (IDVAUTH_DATABASE_URL or --database-url) the operator
is created in the database directly, which is how the first owner is made;
the link then points at IDVAUTH_ADMIN_URL. Without one, through the admin
API.`,
		Example: `  # The first owner, on the database
  IDVAUTH_DATABASE_URL=postgres://idvauth@127.0.0.1:5432/idvauth \
    IDVAUTH_ADMIN_URL=https://idvauth-admin.internal idvauth operators create --username ada --role owner

  # Another operator, through the admin API
  idvauth operators create --username bob --role support -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			var in adminapi.OperatorInput
			in.Username, _ = f.GetString("username")
			in.Role, _ = f.GetString("role")
			if dbURL, err := databaseURL(cmd, env); err == nil {
				return dbRunE(env, func(d *dbCall) error {
					r, err := newResolver(cmd, env)
					if err != nil {
						return err
					}
					adminURL, _ := r.get(sAdminURL)
					e, err := authz.CreateOperator(d.ctx, dbURL, in.Username, in.Role, adminURL)
					if err != nil {
						return err
					}
					return d.print(e, func(w io.Writer) error { return adminapi.WriteEnrollment(w, e) })
				})(cmd, args)
			}
			return adminRunE(env, nil, func(a *adminCall, _ []string) error {
				return show(a, adminapi.WriteEnrollment)(a.api.CreateOperator(a.ctx, in))
			})(cmd, args)
		},
	}
	cmd.Flags().String("username", "", "what the operator types to sign in (letters, digits, . _ - @)")
	cmd.Flags().String("role", "", "owner, admin, support or auditor")
	cmd.Flags().String(sDatabaseURL.flag, "", "PostgreSQL URL (env "+sDatabaseURL.env+"): create on the database directly")
	_ = cmd.MarkFlagRequired("username")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}
