package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz"
)

// databaseURL resolves the database URL for the commands that need one.
func databaseURL(cmd *cobra.Command, env lookupEnv) (string, error) {
	r, err := newResolver(cmd, env)
	if err != nil {
		return "", err
	}
	u, _ := r.get(sDatabaseURL)
	if u == "" {
		return "", fmt.Errorf("no database: set IDVAUTH_DATABASE_URL (e.g. postgres://idvauth@127.0.0.1:5432/idvauth)")
	}
	return u, nil
}

func newMigrateCmd(env lookupEnv) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "migrate",
		Short: "Apply or show PostgreSQL schema migrations",
		Long: `Apply or show the schema migrations built into this binary. 'serve' refuses
to start against a database whose schema is behind.`,
		Example: `  IDVAUTH_DATABASE_URL=postgres://idvauth@127.0.0.1:5432/idvauth idvauth migrate up
  idvauth migrate status -o json`,
	})
	for _, c := range []*cobra.Command{migrateUpCmd(env), migrateStatusCmd(env)} {
		c.Flags().String(sDatabaseURL.flag, "", sDatabaseURL.usage+" (env "+sDatabaseURL.env+")")
		addOutputFlag(c)
		cmd.AddCommand(c)
	}
	return cmd
}

func migrateUpCmd(env lookupEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Long: `Apply every pending migration. Safe to run from several replicas at once:
one migrates while the others wait, then finds nothing left to do.`,
		Example: "  IDVAUTH_DATABASE_URL=postgres://idvauth@127.0.0.1:5432/idvauth idvauth migrate up\n  idvauth migrate up -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			u, err := databaseURL(cmd, env)
			if err != nil {
				return err
			}
			from, to, err := authz.Migrate(cmd.Context(), u)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]int32{"from": from, "to": to})
			}
			if from == to {
				fmt.Fprintf(cmd.OutOrStdout(), "schema is up to date (version %d)\n", to)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "migrated schema from version %d to %d\n", from, to)
			}
			return nil
		},
	}
}

func migrateStatusCmd(env lookupEnv) *cobra.Command {
	return &cobra.Command{
		Use:     "status",
		Short:   "Show which migrations are applied",
		Long:    "Show every migration this binary has and whether the database has it.",
		Example: "  idvauth migrate status\n  idvauth migrate status -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			u, err := databaseURL(cmd, env)
			if err != nil {
				return err
			}
			st, err := authz.MigrationStatus(cmd.Context(), u)
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					Version int32  `json:"version"`
					Name    string `json:"name"`
					Applied bool   `json:"applied"`
				}
				out := make([]row, 0, len(st))
				for _, m := range st {
					out = append(out, row{m.Version, m.Name, m.Applied})
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{"migrations": out})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
			pending := 0
			for _, m := range st {
				fmt.Fprintf(tw, "%d\t%s\t%t\n", m.Version, m.Name, m.Applied)
				if !m.Applied {
					pending++
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if pending > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%d pending: run 'idvauth migrate up'\n", pending)
			}
			return nil
		},
	}
}

func newJanitorCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "janitor",
		Short: "Delete expired tokens now (one pass)",
		Long: `Delete expired token records in batches, once. 'serve' does this on its own
every --janitor-interval; this command runs a pass on demand. If another
replica is cleaning at the same moment, this pass deletes nothing.`,
		Example: "  IDVAUTH_DATABASE_URL=postgres://idvauth@127.0.0.1:5432/idvauth idvauth janitor -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			u, err := databaseURL(cmd, env)
			if err != nil {
				return err
			}
			n, err := authz.RunJanitor(cmd.Context(), u)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]int{"deleted": n})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %d expired token records\n", n)
			return nil
		},
	}
	cmd.Flags().String(sDatabaseURL.flag, "", sDatabaseURL.usage+" (env "+sDatabaseURL.env+")")
	addOutputFlag(cmd)
	return cmd
}
