package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
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
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	return 0
}

// group makes cmd a command group that shows its help when called alone and
// fails on an unknown subcommand: cobra would otherwise show the help and
// exit 0 for `idvauth migrate donw`, which scripts take for success.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return cmd
}

// lookupEnv reads an environment variable; tests pass their own.
type lookupEnv func(string) (string, bool)

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
	root.AddCommand(newServeCmd(env), newMigrateCmd(env), newJanitorCmd(env), newClientsCmd(env), newKeysCmd(env), newUsersCmd(env), newAuditCmd(env), newCertsCmd(), newHealthCmd(env), newVersionCmd())
	return root
}

// addOutputFlag adds -o, --output to cmd.
func addOutputFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("output", "o", "table", "output format: table or json (exactly what the admin API returned)")
}

// outputJSON reports whether -o asks for JSON; a command without -o
// prints text.
func outputJSON(cmd *cobra.Command) (bool, error) {
	o, _ := cmd.Flags().GetString("output")
	switch o {
	case "table", "":
		return false, nil
	case "json":
		return true, nil
	}
	return false, fmt.Errorf("--output must be table or json, not %q", o)
}
