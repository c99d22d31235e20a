// Package clikit holds what the commands of idvauth share: exit codes,
// command groups, the -o flag, and the confirmation of destructive
// commands.
package clikit

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/prompt"
)

// Exit codes: 0 success, 1 failure, 2 a command line that is wrong (as
// in Go's flag package and most Unix tools), 3 `migrate status` with
// migrations pending (like terraform plan -detailed-exitcode).
const (
	ExitUsage   = 2
	ExitPending = 3
)

// ExitError ends the CLI with code, printing err if it is not nil.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// UsageErrorf is an error in the command line: exit code 2.
func UsageErrorf(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// Group makes cmd a command group that shows its help when called alone and
// fails on an unknown subcommand, suggesting the nearest: cobra would
// otherwise show the help and exit 0 for `idvauth migrate donw`, which
// scripts take for success, and suggests only at the top level.
func Group(cmd *cobra.Command) *cobra.Command {
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
		return UsageErrorf("%s", msg)
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return cmd
}

// AddOutputFlag adds -o, --output to cmd, a command that calls the admin
// API.
func AddOutputFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("output", "o", "table", "output format: table or json (exactly what the admin API returned)")
}

// AddLocalOutputFlag adds -o, --output to cmd, a command that does not
// call the admin API.
func AddLocalOutputFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("output", "o", "table", "output format: table (text) or json")
}

// OutputJSON reports whether -o asks for JSON; a command without -o
// prints text.
func OutputJSON(cmd *cobra.Command) (bool, error) {
	o, _ := cmd.Flags().GetString("output")
	switch o {
	case "table", "":
		return false, nil
	case "json":
		return true, nil
	}
	return false, UsageErrorf("--output must be table or json, not %q", o)
}

// Destructive commands (users delete and erase, clients delete, keys
// retire) act only when confirmed: asked on a terminal, --yes for scripts
// and CI, which have none. Without either nothing is changed.

// AddYesFlag adds --yes to a destructive command.
func AddYesFlag(cmd *cobra.Command) {
	cmd.Flags().BoolP("yes", "y", false, "do it without asking (for scripts: without a terminal, nothing happens unless --yes is given)")
}

// ConfirmCheck is the check of adminRunE for a destructive command: what
// describes, from the arguments, what will happen ("delete user ada").
func ConfirmCheck(what func(args []string) string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return Confirm(cmd, what(args))
	}
}

// Confirm returns nil if the user confirmed action: --yes, or "y" or
// "yes" typed at a prompt when stdin is a terminal.
func Confirm(cmd *cobra.Command, action string) error {
	if yes, _ := cmd.Flags().GetBool("yes"); yes {
		return nil
	}
	in := cmd.InOrStdin()
	if _, tty := prompt.Terminal(in); !tty {
		return UsageErrorf("%s: add --yes to confirm (no terminal to ask on; nothing was changed)", action)
	}
	ok, err := prompt.Confirm(in, cmd.ErrOrStderr(), strings.ToUpper(action[:1])+action[1:]+"? This cannot be undone.")
	if err != nil || ok {
		return err
	}
	return fmt.Errorf("%s: not confirmed; nothing was changed", action)
}
