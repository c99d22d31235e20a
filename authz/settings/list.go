package settings

import "strings"

// SplitList splits a comma-separated setting (IDVAUTH_SECRETS), dropping
// blanks around and between the values; nil if none is left.
func SplitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
