package main

import (
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/settings"
)

// TestSettingsPAR checks IDVAUTH_PAR_TTL and IDVAUTH_REQUIRE_PAR from
// each source, their defaults, and malformed values.
func TestSettingsPAR(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, "par_ttl: 30s\nrequire_par: on\n")
	for _, tt := range []struct {
		name    string
		env     map[string]string
		args    []string
		ttl     time.Duration
		require bool
	}{
		{"default", nil, []string{"--dev"}, settings.DefaultPARTTL, false},
		{"file", nil, []string{"--dev", "--config", file}, 30 * time.Second, true},
		{"env", map[string]string{"IDVAUTH_PAR_TTL": "90s", "IDVAUTH_REQUIRE_PAR": "off"}, []string{"--dev", "--config", file}, 90 * time.Second, false},
		{"flag", map[string]string{"IDVAUTH_PAR_TTL": "90s"}, []string{"--dev", "--par-ttl", "2m", "--require-par", "on"}, 2 * time.Minute, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := loadServe(t, tt.env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if sc.authz.PARTTL != tt.ttl || sc.authz.RequirePAR != tt.require {
				t.Errorf("PARTTL, RequirePAR = %s, %t, want %s, %t", sc.authz.PARTTL, sc.authz.RequirePAR, tt.ttl, tt.require)
			}
		})
	}
	for env, val := range map[string]string{"IDVAUTH_PAR_TTL": "a minute", "IDVAUTH_REQUIRE_PAR": "maybe"} {
		if _, err := loadServe(t, map[string]string{env: val}, "--dev"); err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%s=%q: %v, want an error naming %s", env, val, err, env)
		}
	}
}
