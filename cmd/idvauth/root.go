package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/cliconf"
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
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "Error:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "Error:", err)
	if isCobraUsage(err) {
		return exitUsage
	}
	return 1
}

// Exit codes: 0 success, 1 failure, 2 a command line that is wrong (as
// in Go's flag package and most Unix tools), 3 `migrate status` with
// migrations pending (like terraform plan -detailed-exitcode).
const (
	exitUsage   = 2
	exitPending = 3
)

// exitError ends the CLI with code, printing err if it is not nil.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is an error in the command line: exit code 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
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
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: exitUsage, err: err} })
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				var ee *exitError
				if errors.As(err, &ee) {
					return err
				}
				return &exitError{code: exitUsage, err: err}
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		markUsageErrors(c)
	}
}

// group makes cmd a command group that shows its help when called alone and
// fails on an unknown subcommand, suggesting the nearest: cobra would
// otherwise show the help and exit 0 for `idvauth migrate donw`, which
// scripts take for success, and suggests only at the top level.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // as cobra's own default at the top level
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
		}
		return usageErrorf("%s", msg)
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return cmd
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
	root.AddCommand(newServeCmd(env), newMigrateCmd(env), newJanitorCmd(env), newClientsCmd(env), newKeysCmd(env), newUsersCmd(env), newOperatorsCmd(env), newAuditCmd(env), newCertsCmd(), newHealthCmd(env), newTokenCmd(env), newIntrospectCmd(env), newConfigCmd(env), newVersionCmd())
	root.AddCommand(requests.Command(requests.Config{Group: group, AddAdminFlags: addAdminFlags, AddOutputFlag: addOutputFlag, JSON: outputJSON,
		Client: func(cmd *cobra.Command) (*adminapi.Client, error) { return newAdminClient(cmd, env) }, Usage: usageErrorf}))
	return root
}

// addOutputFlag adds -o, --output to cmd, a command that calls the admin
// API.
func addOutputFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("output", "o", "table", "output format: table or json (exactly what the admin API returned)")
}

// addLocalOutputFlag adds -o, --output to cmd, a command that does not
// call the admin API.
func addLocalOutputFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("output", "o", "table", "output format: table (text) or json")
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
	return false, usageErrorf("--output must be table or json, not %q", o)
}
