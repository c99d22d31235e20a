package pgtest

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	var b strings.Builder
	Report(&b, 3)
	want := "SKIPPED 3 PostgreSQL tests of pgtest: set " + EnvURL + " (e.g. " + EnvURL + "="
	if got := b.String(); !strings.HasPrefix(got, want) || strings.Count(got, "\n") != 1 {
		t.Errorf("Report(3) = %q, want one line starting %q", got, want)
	}
}
