package authz

import (
	"encoding/json"
	"testing"
)

const (
	testSecret     = "test-secret-0123456789-0123456789-0123456789"
	testAdminToken = "test-admin-token-0123456789-0123456789"
)

func accessToken(t testing.TB, body []byte) string {
	t.Helper()
	var v struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.AccessToken == "" {
		t.Fatalf("no access_token in %s (%v)", body, err)
	}
	return v.AccessToken
}
