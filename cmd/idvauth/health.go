package main

import (
	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/container"
)

func newHealthCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{Use: "health", Short: "Check that the server on this host is ready (the image's HEALTHCHECK)",
		Long: container.HealthDoc, Example: "  idvauth health\n  idvauth health --live --url http://10.0.0.7:8080", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := newResolver(cmd, env)
			if err != nil {
				return err
			}
			p := container.Probe{URL: cmd.Flag("url").Value.String(), Live: cmd.Flag("live").Value.String() == "true"}
			p.Addr, _ = r.get(sPublicAddr)
			cert, _ := r.get(sTLSCert)
			p.TLS = cert != ""
			return container.Health(cmd.Context(), cmd.OutOrStdout(), p)
		}}
	addFlag(cmd, sPublicAddr)
	cmd.Flags().String("url", "", "base URL of the public listener (default: from --public-addr)")
	cmd.Flags().Bool("live", false, "ask /health/live instead of /health/ready")
	return cmd
}
