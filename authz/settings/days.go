package settings

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDays parses a Go duration (90s, 2160h) or a whole number of days
// (90d).
func ParseDays(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number of days", v)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}
