package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func newHealthCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check that the server on this host is ready",
		Long: `Ask the public listener's /health/ready (or /health/live with --live)
and exit 0 if it answers 200, 1 otherwise. Container images carry no curl:
the Dockerfile's HEALTHCHECK runs this.

The address is the public listener's as serve reads it (--public-addr,
IDVAUTH_PUBLIC_ADDR or the config file); an unspecified host (0.0.0.0, ::)
is asked on loopback. With IDVAUTH_TLS_CERT set it asks over HTTPS without
checking the certificate (it sends nothing and reads only the status);
--url names another endpoint, checked normally.`,
		Example: `  # The container's HEALTHCHECK
  idvauth health

  # Liveness only, of a server elsewhere
  idvauth health --live --url http://10.0.0.7:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return health(cmd, env) },
	}
	addFlag(cmd, sPublicAddr)
	cmd.Flags().String("url", "", "base URL of the public listener (default: from --public-addr)")
	cmd.Flags().Bool("live", false, "ask /health/live (the process serves) instead of /health/ready (store reachable, key active)")
	cmd.Flags().Duration("timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}

func health(cmd *cobra.Command, env lookupEnv) error {
	r, err := newResolver(cmd, env)
	if err != nil {
		return err
	}
	base, _ := cmd.Flags().GetString("url")
	live, _ := cmd.Flags().GetBool("live")
	timeout, _ := cmd.Flags().GetDuration("timeout")
	client := &http.Client{Timeout: timeout}
	if base == "" {
		addr, _ := r.get(sPublicAddr)
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("IDVAUTH_PUBLIC_ADDR: %q is not host:port", addr)
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		base = "http://" + net.JoinHostPort(host, port)
		if cert, _ := r.get(sTLSCert); cert != "" {
			base = "https://" + net.JoinHostPort(host, port)
			// Loopback, no credentials sent, only the status read: the
			// certificate names the issuer's host, not this address.
			client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		}
	}
	path := "/health/ready"
	if live {
		path = "/health/live"
	}
	resp, err := client.Get(base + path)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %d", path, resp.StatusCode)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "ok: %s answered 200\n", path)
	return nil
}
