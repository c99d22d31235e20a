package main

import (
	"fmt"
	"os"
	"strings"
)

// fileSettings are the secret settings that may also be read from a file
// named by their variable with _FILE appended (IDVAUTH_ADMIN_TOKEN_FILE),
// as container secrets (Docker, Compose, Kubernetes volumes) are mounted.
var fileSettings = []setting{sDatabaseURL, sSecrets, sAdminToken, sMetricsToken}

// withSecretFiles returns env in which each setting of fileSettings whose
// _FILE variable is set reads as the file's content, without its trailing
// line break. Setting both a variable and its _FILE, an unreadable file
// or an empty one is an error, which names the variable and never the
// content.
func withSecretFiles(env lookupEnv) (lookupEnv, error) {
	vals := map[string]string{}
	for _, s := range fileSettings {
		path, ok := env(s.env + "_FILE")
		if !ok || path == "" {
			continue
		}
		if v, ok := env(s.env); ok && v != "" {
			return nil, fmt.Errorf("%s and %s_FILE are both set: set one", s.env, s.env)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s_FILE: %w", s.env, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return nil, fmt.Errorf("%s_FILE: %s is empty", s.env, path)
		}
		vals[s.env] = v
	}
	if len(vals) == 0 {
		return env, nil
	}
	return func(k string) (string, bool) {
		if v, ok := vals[k]; ok {
			return v, true
		}
		return env(k)
	}, nil
}
