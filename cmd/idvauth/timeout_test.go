package main

import (
	"testing"
	"time"
)

// TestSettingsDatabaseTimeout: --database-timeout, IDVAUTH_DATABASE_TIMEOUT
// and database_timeout set authz.Config.DatabaseTimeout (the flag first,
// then the environment, then the file); unset it is the default, 2s; a
// value that is not a duration is an error.
func TestSettingsDatabaseTimeout(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, "database_timeout: 3s\n")
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want time.Duration
	}{
		{"unset", nil, []string{"--dev"}, 2 * time.Second},
		{"file", nil, []string{"--dev", "--config", file}, 3 * time.Second},
		{"env", map[string]string{"IDVAUTH_DATABASE_TIMEOUT": "500ms"}, []string{"--dev", "--config", file}, 500 * time.Millisecond},
		{"flag", map[string]string{"IDVAUTH_DATABASE_TIMEOUT": "500ms"}, []string{"--dev", "--database-timeout", "5s"}, 5 * time.Second},
	} {
		sc, err := loadServe(t, tt.env, tt.args...)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if sc.authz.DatabaseTimeout != tt.want {
			t.Errorf("%s: DatabaseTimeout = %v, want %v", tt.name, sc.authz.DatabaseTimeout, tt.want)
		}
	}
	if _, err := loadServe(t, nil, "--dev", "--database-timeout", "soon"); err == nil {
		t.Error("--database-timeout soon: no error")
	}
}
