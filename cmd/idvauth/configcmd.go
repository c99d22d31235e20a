package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/devkit"
	"github.com/idvauth/idvauth/authz/settings"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

// This file holds `idvauth config check` and the example config file,
// both made from allSettings so that they cannot drift from serve.

// secretSettings are shown as [REDACTED] by config check.
var secretSettings = map[string]bool{sSecrets.Env: true, sAdminToken.Env: true, sMetricsToken.Env: true}

func newConfigCmd(env lookupEnv) *cobra.Command {
	cmd := clikit.Group(&cobra.Command{
		Use:   "config",
		Short: "Check the settings serve would start with",
		Long: `Check the settings: 'config check' resolves them as serve does (flags, then
IDVAUTH_* environment variables, then the config file, then defaults) and
validates them. idvauth.example.yaml in the repository lists every setting
with its environment variable and default.`,
		Example: "  idvauth config check --config /etc/idvauth.yaml\n  idvauth config check --config /etc/idvauth.yaml -o json",
	})
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the settings and print them with their sources, secrets redacted",
		Long: `Resolve the settings as 'idvauth serve' would, with the same flags, and
validate them as serve does before it listens: values, limits, the settings
serve cannot start without (unless --dev), and that the TLS files load. It
neither connects to the database nor listens.

It prints every setting with its value and where the value came from (flag,
env, file:line or default); the admin token, the secrets and the metrics
token show as [REDACTED] and a database URL without its password. The exit
code is 1 on any problem, with the problem on stderr.`,
		Example: `  idvauth config check --config /etc/idvauth.yaml
  IDVAUTH_SECRETS=... IDVAUTH_ADMIN_TOKEN=... idvauth config check --config idvauth.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return configCheck(cmd, env) },
	}
	// serve's own flags, --dev among them, so that the two cannot differ.
	check.Flags().AddFlagSet(newServeCmd(env).Flags())
	clikit.AddLocalOutputFlag(check)
	cmd.AddCommand(check)
	return cmd
}

// checkedSetting is one line of config check.
type checkedSetting struct {
	Key    string `json:"key"`
	Env    string `json:"env"`
	Value  string `json:"value"`
	Source string `json:"source"` // flag --x, env IDVAUTH_X, file F:LINE, or default
}

func configCheck(cmd *cobra.Command, env lookupEnv) error {
	asJSON, err := clikit.OutputJSON(cmd)
	if err != nil {
		return err
	}
	sc, err := loadServeConfig(cmd, env)
	if err != nil {
		return err
	}
	if _, err := sc.authz.WithDefaults(); err != nil {
		return err
	}
	if a := sc.authz; a.TLSCertFile != "" || a.TLSKeyFile != "" {
		if _, err := tls.LoadX509KeyPair(a.TLSCertFile, a.TLSKeyFile); err != nil {
			return fmt.Errorf("%s, %s: %w", sTLSCert.Env, sTLSKey.Env, err)
		}
	}
	if f := sc.authz.TLSClientCAFile; f != "" && len(devkit.ReadCerts(f)) == 0 {
		return fmt.Errorf("%s: %s holds no PEM certificate", sTLSClientCA.Env, f)
	}
	r, err := newResolver(cmd, env)
	if err != nil {
		return err
	}
	var out []checkedSetting
	for _, s := range allSettings {
		v, _ := r.Get(s)
		switch {
		case secretSettings[s.Env] && v != "":
			v = "[REDACTED]"
		case (s.Env == sDatabaseURL.Env || s.Env == sPersonKeysURL.Env) && v != "":
			if u, err := url.Parse(v); err == nil {
				v = u.Redacted()
			} else {
				v = "[REDACTED: not a URL]"
			}
		}
		out = append(out, checkedSetting{Key: s.FileKey(), Env: s.Env, Value: v, Source: r.Source(s)})
	}
	w := cmd.OutOrStdout()
	if asJSON {
		return json.NewEncoder(w).Encode(map[string]any{"ok": true, "settings": out})
	}
	tw := adminapi.NewTable(w)
	fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE")
	for _, c := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Key, adminapi.Dash(c.Value), c.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, "settings OK")
	return err
}

// exampleConfig is idvauth.example.yaml: every setting of allSettings,
// commented out at its default, with its env variable and flag.
func exampleConfig() []byte {
	var entries []settings.ExampleEntry
	for _, s := range allSettings {
		usage := s.Usage
		if usage == "" {
			usage = noFlagUsage[s.Env]
		}
		entries = append(entries, settings.ExampleEntry{Key: s.FileKey(), Env: s.Env, Flag: s.Flag, Default: s.Def, Usage: usage, List: schema.IsList(s)})
	}
	return settings.ExampleYAML(entries)
}

// noFlagUsage describes the settings that have no flag.
var noFlagUsage = map[string]string{
	sSecrets.Env:      "comma-separated secrets of 32+ characters that encrypt signing keys: the first encrypts, all decrypt (required without --dev; a YAML list here)",
	sMetricsToken.Env: "bearer token that /metrics on the admin listener requires, 32+ characters (none: /metrics is open to whoever reaches the admin listener)",
}
