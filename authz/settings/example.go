package settings

import (
	"bytes"
	"fmt"
	"strings"
)

// ExampleEntry is one setting of the example config file.
type ExampleEntry struct {
	Key, Env, Flag string // Flag "" for a setting without one
	Default, Usage string
	List           bool // a YAML list
}

// ExampleYAML is the example config file (idvauth.example.yaml) of
// entries: each commented out at its default, with its usage, env name
// and flag, and a commented example of scopes.
func ExampleYAML(entries []ExampleEntry) []byte {
	var b bytes.Buffer
	b.WriteString(`# idvauth.example.yaml: every setting, with its environment variable, flag
# and default. Copy what you change into your config file (idvauth serve
# --config FILE, or IDVAUTH_CONFIG=FILE) and uncomment it; a flag wins over
# the environment, which wins over the file, which wins over the default.
# Check the result with: idvauth config check --config FILE
#
# Generated from the settings table in cmd/idvauth; do not edit by hand:
#   go test ./cmd/idvauth -run TestExampleConfig -update
`)
	for _, s := range entries {
		fmt.Fprintln(&b)
		for _, l := range wrap(s.Usage, 74) {
			fmt.Fprintf(&b, "# %s\n", l)
		}
		where := "env " + s.Env
		if s.Flag != "" {
			where += ", flag --" + s.Flag
		} else {
			where += " (no flag: flags show in ps)"
		}
		fmt.Fprintf(&b, "# %s\n", where)
		switch {
		case s.List:
			fmt.Fprintf(&b, "#%s: []\n", s.Key)
		case s.Default == "":
			fmt.Fprintf(&b, "#%s: \"\"\n", s.Key)
		default:
			fmt.Fprintf(&b, "#%s: %s\n", s.Key, yamlScalar(s.Default))
		}
	}
	b.WriteString(`
# The scopes clients may be granted, besides the built-in ones
# (identity.verify, identity.read_status, openid, ...). Config file only.
#scopes:
#  - name: identity.read_documents
#    description: Read the documents you submitted for verification.
`)
	return b.Bytes()
}

// Nearest returns the candidate closest to s in edit distance, if it is
// close enough to be a likely typo; "" otherwise.
func Nearest(s string, candidates []string) string {
	best, bestD := "", len(s)/2+2
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// yamlScalar quotes v where YAML would read it as something else than
// the string it is (on, off, numbers stay as they are: the file's fields
// are strings and yaml.v3 reads them as such).
func yamlScalar(v string) string {
	if strings.ContainsAny(v, ":#{}[],&*!|>'\"%@`") || strings.TrimSpace(v) != v {
		return fmt.Sprintf("%q", v)
	}
	return v
}

// wrap breaks s into lines of at most width runes, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len([]rune(line))+1+len([]rune(w)) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
