package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/adminapi"
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

// named makes a 404 of the admin API name what was not found: "no user
// "ada"" rather than only "No such resource.".
func named(err error, kind, id string) error {
	var ae *adminapi.Error
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return fmt.Errorf("no %s %q: %w", kind, id, err)
	}
	return err
}

// userID returns the ID of the person that arg names: an ID, or else a
// username (case-insensitive, as usernames are stored lower-case).
func userID(a *adminCall, arg string) (string, error) {
	_, _, err := a.api.GetUser(a.ctx, arg)
	var ae *adminapi.Error
	if err == nil || !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		return arg, err
	}
	l, _, lerr := a.api.ListUsers(a.ctx)
	if lerr != nil {
		return "", lerr
	}
	for _, u := range l.Users {
		if strings.EqualFold(u.Username, arg) {
			return u.ID, nil
		}
	}
	return "", fmt.Errorf("no user with ID or username %q: %w", arg, err)
}
