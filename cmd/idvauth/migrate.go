package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

// databaseURL resolves the database URL for the commands that need one.
func databaseURL(cmd *cobra.Command, env lookupEnv) (string, error) {
	r, err := newResolver(cmd, env)
	if err != nil {
		return "", err
	}
	u, _ := r.Get(sDatabaseURL)
	if u == "" {
		return "", fmt.Errorf("no database: set IDVAUTH_DATABASE_URL (e.g. postgres://idvauth@127.0.0.1:5432/idvauth)")
	}
	return u, nil
}

// addDatabaseFlags adds --database-url and -o to a command that works on
// the database directly.
func addDatabaseFlags(cmd *cobra.Command) {
	cmd.Flags().String(sDatabaseURL.Flag, "", "PostgreSQL URL (env "+sDatabaseURL.Env+")")
	clikit.AddLocalOutputFlag(cmd)
}

// dbCall is one run of a command that works on the database directly.
type dbCall struct {
	ctx  context.Context
	cmd  *cobra.Command
	out  io.Writer
	url  string // the database URL
	json bool   // -o json
}

// dbRunE is the RunE of a command that works on the database directly:
// it reads -o and the database URL, then hands both to run.
func dbRunE(env lookupEnv, run func(*dbCall) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		asJSON, err := clikit.OutputJSON(cmd)
		if err != nil {
			return err
		}
		u, err := databaseURL(cmd, env)
		if err != nil {
			return err
		}
		return run(&dbCall{ctx: cmd.Context(), cmd: cmd, out: cmd.OutOrStdout(), url: u, json: asJSON})
	}
}

// print prints v as a JSON line with -o json, through text otherwise.
func (d *dbCall) print(v any, text func(io.Writer) error) error {
	if d.json {
		return json.NewEncoder(d.out).Encode(v)
	}
	return text(d.out)
}

// textf is the text func of print that prints one formatted line.
func textf(format string, args ...any) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := fmt.Fprintf(w, format, args...)
		return err
	}
}

func newMigrateCmd(env lookupEnv) *cobra.Command {
	cmd := clikit.Group(&cobra.Command{
		Use:   "migrate",
		Short: "Apply or show PostgreSQL schema migrations",
		Long: `Apply or show the schema migrations built into this binary. 'serve' refuses
to start against a database whose schema is behind.`,
		Example: `  IDVAUTH_DATABASE_URL=postgres://idvauth@127.0.0.1:5432/idvauth idvauth migrate up
  idvauth migrate status -o json`,
	})
	for _, c := range []*cobra.Command{migrateUpCmd(env), migrateStatusCmd(env), migrateSealCmd(env)} {
		addDatabaseFlags(c)
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
		RunE: dbRunE(env, func(d *dbCall) error {
			from, to, err := authz.Migrate(d.ctx, d.url)
			if err != nil {
				return err
			}
			text := textf("migrated schema from version %d to %d\n", from, to)
			if from == to {
				text = textf("schema is up to date (version %d)\n", to)
			}
			return d.print(map[string]int32{"from": from, "to": to}, text)
		}),
	}
}

func migrateStatusCmd(env lookupEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show which migrations are applied",
		Long: `Show every migration this binary has and whether the database has it.

Exit code: 0 when the schema is current, 3 when migrations are pending
(like terraform plan -detailed-exitcode), 1 on any error.`,
		Example: "  idvauth migrate status\n  idvauth migrate status -o json\n  idvauth migrate status >/dev/null; [ $? -eq 3 ] && idvauth migrate up",
		Args:    cobra.NoArgs,
		RunE: dbRunE(env, func(d *dbCall) error {
			st, err := authz.MigrationStatus(d.ctx, d.url)
			if err != nil {
				return err
			}
			type row struct {
				Version int32  `json:"version"`
				Name    string `json:"name"`
				Applied bool   `json:"applied"`
			}
			rows, pending := make([]row, 0, len(st)), 0
			for _, m := range st {
				rows = append(rows, row{m.Version, m.Name, m.Applied})
				if !m.Applied {
					pending++
				}
			}
			err = d.print(map[string]any{"migrations": rows, "pending": pending}, func(w io.Writer) error {
				tw := adminapi.NewTable(w)
				fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
				for _, m := range rows {
					fmt.Fprintf(tw, "%d\t%s\t%t\n", m.Version, m.Name, m.Applied)
				}
				if err := tw.Flush(); err != nil || pending == 0 {
					return err
				}
				_, err := fmt.Fprintf(w, "%d pending: run 'idvauth migrate up'\n", pending)
				return err
			})
			if err == nil && pending > 0 {
				return &clikit.ExitError{Code: clikit.ExitPending}
			}
			return err
		}),
	}
}

func migrateSealCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "seal",
		Short: "Seal the people stored in plain text before sealing (online, resumable)",
		Long: `Seal every person written before migration 019 (username, name and e-mail in
plain text) under a data key of their own, wrapped under IDVAUTH_SECRETS. It
reads --batch people at a time and seals each in a transaction of its own,
so servers keep serving (they read both forms); if it stops, run it again.
With IDVAUTH_PERSON_KEYS_DATABASE_URL set, it then moves the data keys kept
in the main database to that person-key store, the same way. --status only
counts the people left.`,
		Example: `  IDVAUTH_SECRETS=... IDVAUTH_DATABASE_URL=postgres://idvauth@127.0.0.1:5432/idvauth idvauth migrate seal
  idvauth migrate seal --status -o json`,
		Args: cobra.NoArgs,
		RunE: dbRunE(env, func(d *dbCall) error {
			r, err := newResolver(d.cmd, env)
			if err != nil {
				return err
			}
			batch, _ := d.cmd.Flags().GetInt("batch")
			status, _ := d.cmd.Flags().GetBool("status")
			pr, err := authz.SealPeople(d.ctx, d.url, r.Value(sPersonKeysURL), secretList(r), batch, status)
			if err != nil {
				return err
			}
			return d.print(map[string]int{"sealed": pr.Changed, "skipped": pr.Skipped, "left": pr.Left, "keys_left": pr.KeysLeft},
				textf("sealed or moved the keys of %d people (%d changed meanwhile, left for the next run); %d left in plain text, "+
					"%d with their data key in the main database\n", pr.Changed, pr.Skipped, pr.Left, pr.KeysLeft))
		}),
	}
	cmd.Flags().Int("batch", 100, "people read per page")
	cmd.Flags().Bool("status", false, "only count the people left in plain text")
	cmd.Flags().String(sPersonKeysURL.Flag, "", "PostgreSQL URL of the person-key store (env "+sPersonKeysURL.Env+")")
	return cmd
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
		RunE: dbRunE(env, func(d *dbCall) error {
			n, err := authz.RunJanitor(d.ctx, d.url)
			if err != nil {
				return err
			}
			return d.print(map[string]int{"deleted": n}, textf("deleted %d expired token records\n", n))
		}),
	}
	addDatabaseFlags(cmd)
	return cmd
}
