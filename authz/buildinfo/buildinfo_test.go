package buildinfo

import "testing"

func TestInfoString(t *testing.T) {
	for _, tt := range []struct {
		in   Info
		want string
	}{
		{Info{Version: "devel", Go: "go1.26.8"}, "devel (go1.26.8)"},
		{Info{Version: "v1.2.3", Commit: "0123456789abcdef0123", CommitTime: "2026-12-01T10:00:00Z", Modified: true, BuildTime: "2026-12-03T12:00:00Z", Go: "go1.26.8"},
			"v1.2.3 (commit 0123456789ab+modified of 2026-12-01T10:00:00Z, built 2026-12-03T12:00:00Z, go1.26.8)"},
	} {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}
