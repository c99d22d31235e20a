package settings

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The parsers of the settings given as text (flags, environment, config
// file) whose form is not a Go type's: the CLI names the source of a
// value they refuse.

// ParsePrefixes parses a comma-separated list of IP addresses and CIDR
// ranges (an address is a range of one); bad is the first item that is
// neither, "" if none.
func ParsePrefixes(v string) (out []netip.Prefix, bad string) {
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, f
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, ""
}

// ParseRate parses a rate limit in requests per second: a decimal number
// of 0 or more, with 0 or "off" for no limit (-1, as RateLimits takes it).
func ParseRate(v string) (float64, bool) {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "off") {
		return -1, true
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	if f == 0 {
		return -1, true
	}
	return f, true
}

// ParseOnOff parses on or off (true and false too, any case).
func ParseOnOff(v string) (on, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true":
		return true, true
	case "off", "false":
		return false, true
	}
	return false, false
}

// FlagKind is the kind of value the setting of flag, with its default
// def, takes, as --help names it: rate, duration, on|off, host:port,
// cidrs, file, url, int or string.
func FlagKind(flag, def string) string {
	switch {
	case strings.HasPrefix(flag, "rate-limit-"):
		return "rate"
	case flag == "audit-retention":
		return "duration"
	case flag == "audit":
		return "on|off"
	case strings.HasSuffix(flag, "-addr"):
		return "host:port"
	case flag == "trusted-proxies" || flag == "allow-private-outbound":
		return "cidrs"
	case flag == "tls-cert" || flag == "tls-key" || flag == "tls-client-ca":
		return "file"
	case flag == "issuer" || strings.HasSuffix(flag, "-url"):
		return "url"
	}
	if _, err := strconv.ParseUint(def, 10, 64); err == nil {
		return "int"
	}
	if _, err := time.ParseDuration(def); err == nil {
		return "duration"
	}
	return "string"
}
