// Package buildinfo says which build of idvauth is running: its version,
// the commit it was built from, the build time and the Go version, from
// what the linker stamped in (make build) or else from the build
// information the go command records.
package buildinfo

import (
	"fmt"
	"runtime/debug"
)

// Set at link time (see the Makefile):
//
//	-ldflags "-X github.com/idvauth/idvauth/authz/buildinfo.Version=v1.2.3 -X ...Commit=... -X ...Time=..."
//
// They are the only package variables of the module that change: the
// linker writes them, nothing else should.
var (
	Version = ""
	Commit  = ""
	Time    = ""
)

// Info describes the running binary; empty fields are unknown.
type Info struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	Modified   bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	BuildTime  string `json:"build_time,omitempty"`
	Go         string `json:"go"`
}

// Read returns the Info of the running binary. The version is the
// link-time Version, else the module version, else devel-REVISION, else
// devel.
func Read() Info {
	v := Info{Version: Version, Commit: Commit, BuildTime: Time, Go: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		v.Go = bi.GoVersion
		if rev := setting(bi, "vcs.revision"); rev != "" {
			v.Commit = rev
			v.CommitTime = setting(bi, "vcs.time")
			v.Modified = setting(bi, "vcs.modified") == "true"
		}
	}
	switch {
	case v.Version != "":
	case ok && bi.Main.Version != "" && bi.Main.Version != "(devel)":
		v.Version = bi.Main.Version
	case len(v.Commit) >= 12:
		v.Version = "devel-" + v.Commit[:12]
	default:
		v.Version = "devel"
	}
	return v
}

// String is the one-line form: VERSION (commit C of T, built B, goX.Y).
func (v Info) String() string {
	line := v.Version + " ("
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
	return fmt.Sprintf("%s%s)", line, v.Go)
}

func setting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
