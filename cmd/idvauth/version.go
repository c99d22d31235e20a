package main

import (
	"encoding/json"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion, buildCommit and buildTime are set at link time (see the
// Makefile): -ldflags "-X main.buildVersion=v1.2.3 -X main.buildTime=...".
// Without them the version comes from the build info the go command
// records (module version, or the VCS revision), and the build time is
// unknown: the build info has only the commit's time.
var (
	buildVersion = ""
	buildCommit  = ""
	buildTime    = ""
)

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		if rev := buildSetting(bi, "vcs.revision"); len(rev) >= 12 {
			return "devel-" + rev[:12]
		}
	}
	return "devel"
}

// buildSetting is the value of key in bi's settings, "" if none.
func buildSetting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// versionInfo is what `idvauth version -o json` prints; empty fields are
// unknown to this binary.
type versionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	Modified   bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	BuildTime  string `json:"build_time,omitempty"`
	Go         string `json:"go"`
}

func readVersionInfo() versionInfo {
	v := versionInfo{Version: version(), BuildTime: buildTime, Go: "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Go = bi.GoVersion
		v.Commit = buildSetting(bi, "vcs.revision")
		v.CommitTime = buildSetting(bi, "vcs.time")
		v.Modified = buildSetting(bi, "vcs.modified") == "true"
	}
	if v.Commit == "" {
		v.Commit = buildCommit
	}
	return v
}

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
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			v := readVersionInfo()
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(v)
			}
			line := "idvauth " + v.Version + " ("
			if v.Commit != "" {
				line += "commit " + v.Commit[:min(12, len(v.Commit))]
				if v.Modified {
					line += "+modified"
				}
				if v.CommitTime != "" {
					line += " of " + v.CommitTime
				}
				line += ", "
			}
			if v.BuildTime != "" {
				line += "built " + v.BuildTime + ", "
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), line+v.Go+")")
			return err
		},
	}
	cmd.Flags().StringP("output", "o", "table", "output format: table (one line) or json")
	return cmd
}
