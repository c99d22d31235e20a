package authz_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/apikeys"
	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// keyToken asks for a client_credentials token with an API key.
func (ts *testServer) keyToken(t testing.TB, key string, form url.Values) (int, http.Header, []byte) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("grant_type", "client_credentials")
	req := formRequest(t, ts.Public+"/oauth2/token", "", "", form)
	req.Header.Set("Authorization", "Bearer "+key)
	return do(t, req)
}

// introspectKey introspects an API key as the demo resource server, with
// form's extra parameters.
func (ts *testServer) introspectKey(t testing.TB, key string, form url.Values) map[string]any {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("token", key)
	rs := ts.Demo.ResourceServer
	code, _, body := post(t, ts.Public+"/oauth2/introspect", rs.ClientID, rs.ClientSecret, form)
	if code != http.StatusOK {
		t.Fatalf("introspect API key: %d %s", code, body)
	}
	return decodeJSONMap(t, body)
}

func (ts *testServer) createAPIKey(t testing.TB, clientID string, in adminapi.APIKeyCreate) adminapi.APIKeyJSON {
	t.Helper()
	return adminCall[adminapi.APIKeyJSON](t, ts, http.MethodPost, "/admin/clients/"+clientID+"/api-keys", in, http.StatusCreated)
}

// TestAPIKeys: an API key gets client_credentials tokens for its client,
// within its scopes and audience, and introspects as api_key; revoked,
// rotated past its grace or expired, it is refused; from outside its
// networks too. On memory and PostgreSQL.
func TestAPIKeys(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		clock := testutil.NewClock(time.Now())
		cfg.Now = clock.Now
		ts := startServer(t, cfg)
		svc := ts.Demo.Service
		k := ts.createAPIKey(t, svc.ClientID, adminapi.APIKeyCreate{Name: "ci pipeline", Scope: "identity.verify"})
		if !regexp.MustCompile(`^` + apikeys.ScannerPattern + `$`).MatchString(k.Key) {
			t.Fatalf("key %q does not match the documented scanner pattern", k.Key)
		}
		if k.Scope != "identity.verify" || !k.ExpiresAt.Equal(k.CreatedAt.Add(90*24*time.Hour)) {
			t.Errorf("new key = %+v, want scope identity.verify, 90 days", k)
		}

		// The token endpoint: a JWT within the key's scope.
		code, _, body := ts.keyToken(t, k.Key, url.Values{"scope": {"identity.verify"}})
		if code != http.StatusOK {
			t.Fatalf("token with an API key = %d %s", code, body)
		}
		cl := ts.verify(t, accessToken(t, body), jose.ES256)
		if cl.Scope != "identity.verify" || cl.ClientID != svc.ClientID {
			t.Errorf("token of an API key: scope %q, client %q; want identity.verify of %s", cl.Scope, cl.ClientID, svc.ClientID)
		}
		if code, _, body := ts.keyToken(t, k.Key, url.Values{"scope": {"identity.read_status"}}); code != http.StatusBadRequest || !strings.Contains(string(body), "invalid_scope") {
			t.Errorf("token with an API key for a scope it lacks = %d %s, want invalid_scope", code, body)
		}
		if code, _, _ := ts.keyToken(t, k.Key, url.Values{"client_secret": {"x"}}); code != http.StatusBadRequest {
			t.Errorf("API key and a secret = %d, want 400", code)
		}

		// Introspection.
		m := ts.introspectKey(t, k.Key, nil)
		if m["active"] != true || m["token_type"] != "api_key" || m["client_id"] != svc.ClientID || m["scope"] != "identity.verify" ||
			m["exp"] != float64(k.ExpiresAt.Unix()) {
			t.Errorf("introspection of an API key = %v", m)
		}
		if m := ts.introspectKey(t, k.Key, url.Values{"scope": {"identity.read_status"}}); m["active"] != false {
			t.Errorf("introspection of an API key for a scope it lacks = %v, want inactive", m)
		}
		other, _, _ := apikeys.New()
		if m := ts.introspectKey(t, other, nil); len(m) != 1 || m["active"] != false {
			t.Errorf("introspection of an unknown key = %v, want exactly inactive", m)
		}

		// Networks: refused from elsewhere; at introspection, the
		// resource server says where the key came from.
		netKey := ts.createAPIKey(t, svc.ClientID, adminapi.APIKeyCreate{Name: "office", Networks: []string{"203.0.113.0/24"}})
		if code, _, _ := ts.keyToken(t, netKey.Key, nil); code != http.StatusUnauthorized {
			t.Errorf("token with a key from outside its networks = %d, want 401", code)
		}
		if m := ts.introspectKey(t, netKey.Key, url.Values{"source_ip": {"203.0.113.9"}}); m["active"] != true {
			t.Errorf("introspection of a key used from its network = %v, want active", m)
		}
		if m := ts.introspectKey(t, netKey.Key, nil); m["active"] != false {
			t.Errorf("introspection of a network-bound key with no source_ip = %v, want inactive", m)
		}

		// Rotation: both work during the grace period, then the old
		// one stops.
		next := adminCall[adminapi.APIKeyJSON](t, ts, http.MethodPost, "/admin/clients/"+svc.ClientID+"/api-keys/"+k.ID+"/rotate",
			map[string]any{"grace_period": 3600}, http.StatusCreated)
		if next.Key == "" || next.Key == k.Key || next.Scope != k.Scope {
			t.Fatalf("rotated key = %+v", next)
		}
		for _, key := range []string{k.Key, next.Key} {
			if code, _, body := ts.keyToken(t, key, nil); code != http.StatusOK {
				t.Errorf("token within the grace period = %d %s", code, body)
			}
		}
		clock.Advance(time.Hour + time.Second)
		if code, _, _ := ts.keyToken(t, k.Key, nil); code != http.StatusUnauthorized {
			t.Errorf("old key after its grace period = %d, want 401", code)
		}
		if m := ts.introspectKey(t, k.Key, nil); m["active"] != false {
			t.Errorf("old key after its grace period introspects %v", m)
		}

		// The list shows last use and never a key.
		code, list := ts.adminJSON(t, http.MethodGet, "/admin/clients/"+svc.ClientID+"/api-keys", nil)
		if code != http.StatusOK || strings.Contains(string(list), next.Key) || strings.Contains(string(list), `"key"`) {
			t.Fatalf("list of keys = %d %s: want 200 without any key", code, list)
		}

		// Revoked: refused at once.
		if code, body := ts.adminJSON(t, http.MethodDelete, "/admin/clients/"+svc.ClientID+"/api-keys/"+next.ID, nil); code != http.StatusNoContent {
			t.Fatalf("revoke = %d %s", code, body)
		}
		if code, _, _ := ts.keyToken(t, next.Key, nil); code != http.StatusUnauthorized {
			t.Errorf("revoked key at the token endpoint = %d, want 401", code)
		}
		if m := ts.introspectKey(t, next.Key, nil); m["active"] != false {
			t.Errorf("revoked key introspects %v", m)
		}

		// No key in the audit trail.
		_, audit := ts.adminJSON(t, http.MethodGet, "/admin/audit?limit=1000", nil)
		for _, key := range []string{k.Key, next.Key, netKey.Key} {
			_, secret, _ := apikeys.Parse(key)
			if strings.Contains(string(audit), secret) {
				t.Fatal("an API key's secret is in the audit trail")
			}
		}
		if !strings.Contains(string(audit), adminapi.EventAPIKeyRotated) || !strings.Contains(string(audit), `"api_key_id"`) {
			t.Errorf("the audit trail has no rotation entry or no api_key_id: %.300s", audit)
		}
	})
}

// TestAPIKeyBadInput: malformed or impossible key requests are 4xx and
// store nothing.
func TestAPIKeyBadInput(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		svc := ts.Demo.Service
		base := "/admin/clients/" + svc.ClientID + "/api-keys"
		for name, tt := range map[string]struct {
			method, path string
			body         any
			want         int
		}{
			"no name":              {http.MethodPost, base, map[string]any{}, 400},
			"unprintable name":     {http.MethodPost, base, map[string]any{"name": "a\x01b"}, 400},
			"long name":            {http.MethodPost, base, map[string]any{"name": strings.Repeat("n", 101)}, 400},
			"scope not the client": {http.MethodPost, base, map[string]any{"name": "x", "scope": "openid"}, 400},
			"foreign audience":     {http.MethodPost, base, map[string]any{"name": "x", "audience": []string{"billing"}}, 400},
			"expiry too long":      {http.MethodPost, base, map[string]any{"name": "x", "expires_in": 400 * 86400}, 400},
			"expiry negative":      {http.MethodPost, base, map[string]any{"name": "x", "expires_in": -5}, 400},
			"bad network":          {http.MethodPost, base, map[string]any{"name": "x", "networks": []string{"10.0.0.1"}}, 400},
			"unknown field":        {http.MethodPost, base, map[string]any{"name": "x", "secret": "mine"}, 400},
			"wrong type":           {http.MethodPost, base, map[string]any{"name": 5}, 400},
			"unknown client":       {http.MethodPost, "/admin/clients/nobody/api-keys", map[string]any{"name": "x"}, 404},
			"unknown client list":  {http.MethodGet, "/admin/clients/nobody/api-keys", nil, 404},
			"wrong method":         {http.MethodPut, base, map[string]any{"name": "x"}, 405},
			"revoke unknown":       {http.MethodDelete, base + "/0000", nil, 404},
			"rotate unknown":       {http.MethodPost, base + "/0000/rotate", nil, 404},
			"rotate wrong method":  {http.MethodGet, base + "/0000/rotate", nil, 405},
			"public client":        {http.MethodPost, "/admin/clients/" + ts.createWebClient(t, adminapi.ClientJSON{TokenEndpointAuthMethod: "none"}).ClientID + "/api-keys", map[string]any{"name": "x"}, 400},
		} {
			t.Run(name, func(t *testing.T) {
				code, body := ts.adminJSON(t, tt.method, tt.path, tt.body)
				if code != tt.want || !strings.Contains(string(body), `"error"`) {
					t.Errorf("%s %s = %d %s, want %d with an error", tt.method, tt.path, code, body, tt.want)
				}
			})
		}
		k := ts.createAPIKey(t, svc.ClientID, adminapi.APIKeyCreate{Name: "x"})
		code, body := ts.adminJSON(t, http.MethodPost, base+"/"+k.ID+"/rotate", map[string]any{"grace_period": -1})
		if code != http.StatusBadRequest {
			t.Errorf("rotate with a negative grace period = %d %s, want 400", code, body)
		}
		list := adminCall[adminapi.APIKeyList](t, ts, http.MethodGet, base, nil, http.StatusOK)
		if len(list.APIKeys) != 1 {
			t.Errorf("after refused requests the client has %d keys, want the 1 created", len(list.APIKeys))
		}
	})
}

// TestAPIKeyGuessing: wrong secrets for a key's ID meet the lock-out, as
// secrets do, counted under the key so its client is not locked out.
func TestAPIKeyGuessing(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.ClientAuthMaxFailures, cfg.ClientAuthMaxFailuresPerIP = 3, 1000
		cfg.RateLimits.FailedPerIP = -1
		ts := startServer(t, cfg)
		svc := ts.Demo.Service
		k := ts.createAPIKey(t, svc.ClientID, adminapi.APIKeyCreate{Name: "x"})
		id, _, _ := apikeys.Parse(k.Key)
		guess, _, _ := apikeys.New()
		_, secret, _ := apikeys.Parse(guess)
		wrong := apikeys.Prefix + id + "_" + secret
		codes := []int{}
		for range 5 {
			code, _, _ := ts.keyToken(t, wrong, nil)
			codes = append(codes, code)
		}
		if codes[2] != http.StatusUnauthorized || codes[3] != http.StatusTooManyRequests || codes[4] != http.StatusTooManyRequests {
			t.Fatalf("five wrong secrets for one key = %v, want 401 ×3 then 429", codes)
		}
		if code, _, body := ts.keyToken(t, k.Key, nil); code != http.StatusTooManyRequests {
			t.Errorf("the right key while it cools off = %d %s, want 429", code, body)
		}
		if _, err := ts.ccConfig(svc, "identity.verify").Token(context.Background()); err != nil {
			t.Errorf("the client's own secret while its key cools off: %v", err)
		}
	})
}

// TestAPIKeyRevokedOnEveryReplica: a key revoked through one replica is
// refused by another at once.
func TestAPIKeyRevokedOnEveryReplica(t *testing.T) {
	dbURL := pgtest.URL(t)
	a := startServer(t, authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer})
	b := startServer(t, authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer}, serverOptions{ReplicaOf: a.harnessServer})
	k := a.createAPIKey(t, a.Demo.Service.ClientID, adminapi.APIKeyCreate{Name: "x"})
	if code, _, body := b.keyToken(t, k.Key, nil); code != http.StatusOK {
		t.Fatalf("key made on A, used on B = %d %s", code, body)
	}
	if m := b.introspectKey(t, k.Key, nil); m["active"] != true {
		t.Fatalf("key made on A, introspected on B = %v", m)
	}
	if code, body := a.adminJSON(t, http.MethodDelete, "/admin/clients/"+a.Demo.Service.ClientID+"/api-keys/"+k.ID, nil); code != http.StatusNoContent {
		t.Fatalf("revoke on A = %d %s", code, body)
	}
	if code, _, _ := b.keyToken(t, k.Key, nil); code != http.StatusUnauthorized {
		t.Errorf("key revoked on A, used on B = %d, want 401", code)
	}
	if m := b.introspectKey(t, k.Key, nil); m["active"] != false {
		t.Errorf("key revoked on A, introspected on B = %v, want inactive", m)
	}
}

func decodeJSONMap(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return m
}
