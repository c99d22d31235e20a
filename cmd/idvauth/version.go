package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/buildinfo"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

func newVersionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the idvauth version",
		Long: `Print the idvauth version, the commit it was built from (with its time, and
"modified" if the tree had uncommitted changes), the build time when the
binary was built with 'make build', and the Go version.`,
		Example: "  idvauth version\n  idvauth version -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := clikit.OutputJSON(cmd)
			if err != nil {
				return err
			}
			v := buildinfo.Read()
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(v)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), "idvauth "+v.String())
			return err
		},
	}
	cmd.Flags().StringP("output", "o", "table", "output format: table (one line) or json")
	return cmd
}
