package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/prompt"
)

// Destructive commands (users delete and erase, clients delete, keys
// retire) act only when confirmed: asked on a terminal, --yes for scripts
// and CI, which have none. Without either nothing is changed.

// addYesFlag adds --yes to a destructive command.
func addYesFlag(cmd *cobra.Command) {
	cmd.Flags().BoolP("yes", "y", false, "do it without asking (for scripts: without a terminal, nothing happens unless --yes is given)")
}

// confirmCheck is the check of adminRunE for a destructive command: what
// describes, from the arguments, what will happen ("delete user ada").
func confirmCheck(what func(args []string) string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return confirm(cmd, what(args))
	}
}

// confirm returns nil if the user confirmed action: --yes, or "y" or
// "yes" typed at a prompt when stdin is a terminal.
func confirm(cmd *cobra.Command, action string) error {
	if yes, _ := cmd.Flags().GetBool("yes"); yes {
		return nil
	}
	in := cmd.InOrStdin()
	if _, tty := prompt.Terminal(in); !tty {
		return usageErrorf("%s: add --yes to confirm (no terminal to ask on; nothing was changed)", action)
	}
	ok, err := prompt.Confirm(in, cmd.ErrOrStderr(), strings.ToUpper(action[:1])+action[1:]+"? This cannot be undone.")
	if err != nil || ok {
		return err
	}
	return fmt.Errorf("%s: not confirmed; nothing was changed", action)
}
