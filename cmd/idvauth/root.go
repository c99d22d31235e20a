package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/certscmd"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/cliconf"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/requests"
)

// run executes the CLI with args and returns the process exit code. env
// reads the environment (os.LookupEnv in main); stdin is where `users
// create` reads a password (os.Stdin in main: a terminal is prompted);
// cancelling ctx stops `serve` like SIGTERM does.
func run(ctx context.Context, args []string, env lookupEnv, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := newRootCmd(env)
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	markUsageErrors(cmd)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *clikit.ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(stderr, "Error:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, "Error:", err)
	if isCobraUsage(err) {
		return clikit.ExitUsage
	}
	return 1
}

// isCobraUsage reports whether err is one of cobra's own command-line
// errors that no hook of ours sees: an unknown top-level command, a
// missing required flag.
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "required flag(s) ") ||
		strings.HasPrefix(msg, "if any flags in the group ")
}

// markUsageErrors makes every flag error and argument count error of cmd
// and its subcommands a usage error (exit 2).
func markUsageErrors(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &clikit.ExitError{Code: clikit.ExitUsage, Err: err} })
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				var ee *clikit.ExitError
				if errors.As(err, &ee) {
					return err
				}
				return &clikit.ExitError{Code: clikit.ExitUsage, Err: err}
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		markUsageErrors(c)
	}
}

// lookupEnv reads an environment variable; tests pass their own.
type lookupEnv = cliconf.Lookup

func newRootCmd(env lookupEnv) *cobra.Command {
	root := &cobra.Command{
		Use:   "idvauth",
		Short: "OAuth 2.0 / OpenID Connect authorization server for identity verification",
		Long: `idvauth issues short-lived access tokens for identity-verification (IDV,
KYC/AML) APIs, signs them with keys it rotates, and lets resource servers
check them through its JWKS or its introspection endpoint.

Settings come from flags, then IDVAUTH_* environment variables, then the
config file (--config), then defaults. See 'idvauth serve --help'.`,
		Example: `  # Try it: one command, nothing persists
  idvauth serve --dev

  # Register a backend service (talks to the admin API)
  export IDVAUTH_ADMIN_TOKEN=...
  idvauth clients create --name "KYC backend" --scope identity.verify`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("config", "", "YAML config file (env IDVAUTH_CONFIG)")
	root.AddCommand(newServeCmd(env), newMigrateCmd(env), newJanitorCmd(env), newClientsCmd(env), newKeysCmd(env), newUsersCmd(env), newOperatorsCmd(env), newLoginCmd(env), newAuditCmd(env), certscmd.New(), newHealthCmd(env), newTokenCmd(env), newIntrospectCmd(env), newConfigCmd(env), newVersionCmd())
	root.AddCommand(requests.Command(requests.Config{Group: clikit.Group, AddAdminFlags: addAdminFlags, AddOutputFlag: clikit.AddOutputFlag, JSON: clikit.OutputJSON,
		Client: func(cmd *cobra.Command) (*adminapi.Client, error) { return newAdminClient(cmd, env) }, Usage: clikit.UsageErrorf}))
	return root
}
