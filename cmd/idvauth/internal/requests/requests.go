// Package requests is the 'idvauth requests' command group: the four-eyes
// requests of the admin API (IDVAUTH_FOUR_EYES=on), listed, shown,
// approved and rejected. The idvauth command hands it what every admin
// command shares (the client, the flags, -o) through Config.
package requests

import (
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/adminapi"
)

// Config is what the commands take from the idvauth command.
type Config struct {
	// Group makes a command group (help alone, unknown subcommands
	// refused). Required.
	Group func(*cobra.Command) *cobra.Command
	// AddAdminFlags adds --admin-url and --admin-token to a group.
	// Required.
	AddAdminFlags func(*cobra.Command)
	// AddOutputFlag adds -o to a command. Required.
	AddOutputFlag func(*cobra.Command)
	// JSON reads -o of a command: true for json; an error for a bad
	// value. Required.
	JSON func(*cobra.Command) (bool, error)
	// Client builds the admin API client of a command run from its
	// flags, environment and config file. Required.
	Client func(*cobra.Command) (*adminapi.Client, error)
	// Usage wraps an error in the use of a command (bad flags). Required.
	Usage func(format string, args ...any) error
}

// Command returns the 'requests' command group of cfg.
func Command(cfg Config) *cobra.Command {
	cmd := cfg.Group(&cobra.Command{
		Use:   "requests",
		Short: "List, approve and reject four-eyes requests",
		Long: `With four-eyes on (IDVAUTH_FOUR_EYES=on on the server), erasing a person,
retiring a key with --revoke-tokens, granting the role owner or admin and
deleting a client do not happen at once: the server holds each as a pending
request, which another operator holding the action's scope approves (the
action then runs once, as the approver) or rejects within 24 hours. The
operator who asked cannot approve their own request; they may reject
(withdraw) it. Every decision is in the audit trail.`,
		Example: `  idvauth requests list --state pending
  idvauth requests approve req_3mJr7AoUXx2Wqd9KvYg5Tw -o json`,
	})
	cfg.AddAdminFlags(cmd)
	run := cfg.run
	list := listCmd(cfg)
	get := &cobra.Command{
		Use:     "get ID",
		Short:   "Show one four-eyes request: the call it holds, who asked, its state",
		Long:    "Show one four-eyes request: the admin call it holds (method, path, body), who asked and when, until when it may be approved, and how it was decided.",
		Example: "  idvauth requests get req_3mJr7AoUXx2Wqd9KvYg5Tw\n  idvauth requests get req_3mJr7AoUXx2Wqd9KvYg5Tw -o json",
		Args:    cobra.ExactArgs(1),
		RunE: run(func(c *call, args []string) error {
			return show(c, adminapi.WriteRequest)(c.api.GetRequest(c.cmd.Context(), args[0]))
		}),
	}
	approve := &cobra.Command{
		Use:   "approve ID",
		Short: "Approve a four-eyes request: its action runs now, once, as you",
		Long: `Approve a four-eyes request: its action runs now, once, with your rights,
and prints what it answered (for a new operator, their enrollment link, shown
once). You need the scope of the action (admin:people:erase, admin:keys:write,
admin:operators:write or admin:clients:write) and must not be the one who asked.
If the action fails (its target has gone), the request ends failed.`,
		Example: "  idvauth requests approve req_3mJr7AoUXx2Wqd9KvYg5Tw\n  idvauth requests approve req_3mJr7AoUXx2Wqd9KvYg5Tw -o json",
		Args:    cobra.ExactArgs(1),
		RunE: run(func(c *call, args []string) error {
			return show(c, adminapi.WriteRequestDecision)(c.api.ApproveRequest(c.cmd.Context(), args[0]))
		}),
	}
	reject := &cobra.Command{
		Use:     "reject ID",
		Short:   "Reject a four-eyes request: its action never runs",
		Long:    "Reject a four-eyes request: its action never runs. You need the scope of the action; the one who asked may reject (withdraw) their own request.",
		Example: "  idvauth requests reject req_3mJr7AoUXx2Wqd9KvYg5Tw\n  idvauth requests reject req_3mJr7AoUXx2Wqd9KvYg5Tw -o json",
		Args:    cobra.ExactArgs(1),
		RunE: run(func(c *call, args []string) error {
			return show(c, adminapi.WriteRequestDecision)(c.api.RejectRequest(c.cmd.Context(), args[0]))
		}),
	}
	for _, c := range []*cobra.Command{list, get, approve, reject} {
		cfg.AddOutputFlag(c)
		cmd.AddCommand(c)
	}
	return cmd
}

// listCmd is 'requests list'.
func listCmd(cfg Config) *cobra.Command {
	list := &cobra.Command{
		Use:   "list [--state STATE]",
		Short: "List the four-eyes requests, newest first",
		Long: "List the four-eyes requests, newest first (at most 500), or those in one state: " +
			strings.Join(adminapi.RequestStates(), ", ") + ". Needs admin:audit:read (every role).",
		Example: "  idvauth requests list --state pending\n  idvauth requests list -o json",
		Args:    cobra.NoArgs,
		RunE: cfg.run(func(c *call, _ []string) error {
			state, _ := c.cmd.Flags().GetString("state")
			if state != "" && !slices.Contains(adminapi.RequestStates(), state) {
				return cfg.Usage("--state must be one of %s, not %q", strings.Join(adminapi.RequestStates(), ", "), state)
			}
			return show(c, adminapi.WriteRequestList)(c.api.ListRequests(c.cmd.Context(), state))
		}),
	}
	list.Flags().String("state", "", "only the requests in this state: "+strings.Join(adminapi.RequestStates(), ", "))
	return list
}

// run is the RunE of a command of the group: -o, the client, then body.
func (cfg Config) run(body func(c *call, args []string) error) func(*cobra.Command, []string) error {
	return func(cc *cobra.Command, args []string) error {
		asJSON, err := cfg.JSON(cc)
		if err != nil {
			return err
		}
		api, err := cfg.Client(cc)
		if err != nil {
			return err
		}
		return body(&call{cmd: cc, out: cc.OutOrStdout(), api: api, json: asJSON}, args)
	}
}

// call is one run of a command.
type call struct {
	cmd  *cobra.Command
	out  io.Writer
	api  *adminapi.Client
	json bool
}

// show prints an answer: as the API sent it with -o json, through text
// otherwise; a failed call's error is returned as it is.
func show[T any](c *call, text func(io.Writer, T) error) func(T, []byte, error) error {
	return func(v T, raw []byte, err error) error {
		if err != nil {
			return err
		}
		if c.json {
			_, err := c.out.Write(raw)
			return err
		}
		return text(c.out, v)
	}
}
