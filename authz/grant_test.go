package authz_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/testutil"
)

// redemptionForm is the form that redeems code for c with verifier.
func redemptionForm(c webClient, code, verifier string) url.Values {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}}
	if c.TokenEndpointAuthMethod == "none" {
		form.Set("client_id", c.ClientID)
	}
	return form
}

// postAs posts form to the token endpoint as c: with Basic auth unless c
// is public.
func (ts *testServer) postAs(t testing.TB, c webClient, form url.Values) (int, []byte) {
	t.Helper()
	id := c.ClientID
	if c.TokenEndpointAuthMethod == "none" {
		id = ""
	}
	st, _, body := post(t, ts.Public+"/oauth2/token", id, c.ClientSecret, form)
	return st, body
}

// TestRefusedRedemptionUsesUpCode: a redemption refused after the client
// authenticated (a wrong verifier, another redirect_uri, another client)
// uses the code up, so that the right redemption after it fails too (RFC
// 9700 section 4.8); a failed client authentication does not.
func TestRefusedRedemptionUsesUpCode(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, b := startCodeFlow(t, cfg)
		other := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Other"})
		public := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Public", TokenEndpointAuthMethod: "none",
			RedirectURIs: []string{"http://127.0.0.1:49152/cb"}})
		v := oauth2.GenerateVerifier()
		for _, tt := range []struct {
			name   string
			client webClient
			// attempt is the refused request, as client.
			attempt func(c webClient, code string) (int, []byte)
		}{
			{"wrong verifier", c, func(c webClient, code string) (int, []byte) {
				return ts.postAs(t, c, redemptionForm(c, code, oauth2.GenerateVerifier()))
			}},
			{"no verifier", c, func(c webClient, code string) (int, []byte) {
				form := redemptionForm(c, code, "")
				form.Del("code_verifier")
				return ts.postAs(t, c, form)
			}},
			{"malformed verifier", c, func(c webClient, code string) (int, []byte) {
				return ts.postAs(t, c, redemptionForm(c, code, "short"))
			}},
			{"other redirect_uri", c, func(c webClient, code string) (int, []byte) {
				form := redemptionForm(c, code, v)
				form.Set("redirect_uri", "https://app.example/other")
				return ts.postAs(t, c, form)
			}},
			{"other client", c, func(_ webClient, code string) (int, []byte) {
				return ts.postAs(t, other, redemptionForm(other, code, v))
			}},
			{"public client, wrong verifier", public, func(c webClient, code string) (int, []byte) {
				return ts.postAs(t, c, redemptionForm(c, code, oauth2.GenerateVerifier()))
			}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				code := newCode(t, ts, b, tt.client, v)
				if st, body := tt.attempt(tt.client, code); st != http.StatusBadRequest {
					t.Fatalf("refused attempt = %d %s, want 400", st, body)
				}
				st, body := ts.redeem(t, tt.client, code, v)
				if e, _ := oauthErr(t, body); st != http.StatusBadRequest || e != "invalid_grant" {
					t.Fatalf("right redemption after a refused one = %d (error %q), want 400 invalid_grant", st, e)
				}
			})
		}

		t.Run("wrong client secret keeps the code", func(t *testing.T) {
			code := newCode(t, ts, b, c, v)
			wrong := c
			wrong.ClientSecret = "not-the-secret"
			if st, body := ts.postAs(t, wrong, redemptionForm(c, code, v)); st != http.StatusUnauthorized {
				t.Fatalf("wrong secret = %d %s, want 401", st, body)
			}
			ts.redeemOK(t, c, code, v)
		})

		t.Run("refused attempt after the redemption revokes its tokens", func(t *testing.T) {
			code := newCode(t, ts, b, c, v)
			tok := ts.redeemOK(t, c, code, v)
			if st, body := ts.postAs(t, c, redemptionForm(c, code, oauth2.GenerateVerifier())); st != http.StatusBadRequest {
				t.Fatalf("wrong verifier after the redemption = %d %s, want 400", st, body)
			}
			ts.requireInactive(t, tok.AccessToken)
			if st, body := ts.refresh(t, c, tok.RefreshToken); st != http.StatusBadRequest {
				t.Errorf("refresh token of the code = %d %s, want 400", st, body)
			}
		})
	})
}

// refreshAnswer is a refresh token response with its scope.
type refreshAnswer struct {
	tokenAnswer
	Scope string `json:"scope"`
}

// refreshScope refreshes rt for c asking for scope, and returns status
// and body.
func (ts *testServer) refreshScope(t testing.TB, c webClient, rt, scope string) (int, []byte) {
	t.Helper()
	st, _, body := post(t, ts.Public+"/oauth2/token", c.ClientID, c.ClientSecret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {scope}})
	return st, body
}

// TestRefreshNarrowsScope: a refresh that names a scope gets an access
// token with only that scope, while the new refresh token keeps the
// grant's; a scope not granted is invalid_scope and uses nothing up
// (RFC 6749 section 6).
func TestRefreshNarrowsScope(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, user, c, b := startCodeFlow(t, cfg)
		v := oauth2.GenerateVerifier()
		first := ts.redeemOK(t, c, newCode(t, ts, b, c, v), v)
		const full = "openid profile email offline_access identity.verify"
		decode := func(st int, body []byte) refreshAnswer {
			t.Helper()
			var a refreshAnswer
			a.tokenAnswer = decodeTokens(t, st, body)
			_ = json.Unmarshal(body, &a)
			return a
		}

		// Not granted: refused, and the refresh token still works.
		for _, scope := range []string{"identity.read_status", "identity.verify identity.read_status", "nonsense"} {
			st, body := ts.refreshScope(t, c, first.RefreshToken, scope)
			if e, _ := oauthErr(t, body); st != http.StatusBadRequest || e != "invalid_scope" {
				t.Fatalf("refresh with scope %q = %d (error %q), want 400 invalid_scope", scope, st, e)
			}
		}

		narrow := decode(ts.refreshScope(t, c, first.RefreshToken, "identity.verify identity.verify"))
		if narrow.Scope != "identity.verify" {
			t.Errorf("narrowed refresh: scope = %q, want identity.verify", narrow.Scope)
		}
		if got := ts.verify(t, narrow.AccessToken, jose.ES256).Scope; got != "identity.verify" {
			t.Errorf("narrowed access token: scope = %q, want identity.verify", got)
		}
		if m, _ := ts.introspect(t, narrow.AccessToken); m["scope"] != "identity.verify" {
			t.Errorf("narrowed access token introspects as %v, want scope identity.verify", m)
		}
		if narrow.IDToken != "" {
			t.Error("a refresh narrowed to no openid gave an ID token")
		}

		// The refresh token kept the grant's scope.
		if got := ts.usableRefreshRecord(t, user.ID).Scope; got != full {
			t.Errorf("refresh token of a narrowed refresh: scope = %q, want %q", got, full)
		}
		again := decode(ts.refresh(t, c, narrow.RefreshToken))
		if again.Scope != full {
			t.Errorf("refresh without scope after a narrowed one: scope = %q, want %q", again.Scope, full)
		}
		if got := ts.verify(t, again.AccessToken, jose.ES256).Scope; got != full {
			t.Errorf("access token after a narrowed refresh: scope = %q, want %q", got, full)
		}
		withID := decode(ts.refreshScope(t, c, again.RefreshToken, "identity.verify openid"))
		if withID.Scope != "openid identity.verify" || withID.IDToken == "" {
			t.Errorf("refresh narrowed to openid identity.verify = scope %q, ID token %t", withID.Scope, withID.IDToken != "")
		}
	})
}

// refreshRecord is what a person's data export shows of a refresh token.
type refreshRecord struct {
	Scope     string
	ExpiresAt time.Time
}

// usableRefreshRecord returns the person's unused refresh token record
// from their data export; it fails unless there is exactly one.
func (ts *testServer) usableRefreshRecord(t testing.TB, userID string) refreshRecord {
	t.Helper()
	code, body := ts.adminJSON(t, http.MethodGet, "/admin/users/"+userID+"/export", nil)
	if code != http.StatusOK {
		t.Fatalf("export = %d %s", code, body)
	}
	var export struct {
		Tokens []struct {
			Kind       string `json:"kind"`
			Scope      string `json:"scope"`
			ExpiresAt  string `json:"expires_at"`
			ConsumedAt string `json:"consumed_at"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal(body, &export); err != nil {
		t.Fatal(err)
	}
	var out []refreshRecord
	for _, tok := range export.Tokens {
		if tok.Kind == "refresh_token" && tok.ConsumedAt == "" {
			at, err := time.Parse(time.RFC3339, tok.ExpiresAt)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, refreshRecord{Scope: tok.Scope, ExpiresAt: at})
		}
	}
	if len(out) != 1 {
		t.Fatalf("usable refresh tokens = %+v, want exactly one", out)
	}
	return out[0]
}

// TestRefreshChainHasMaxLifetime: rotating a refresh token restarts its
// idle lifetime, but never past RefreshTokenMaxLifetime from the code's
// redemption; a refresh after that is invalid_grant.
func TestRefreshChainHasMaxLifetime(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		const idle, maxLife = 2 * time.Hour, 5 * time.Hour
		clock := testutil.NewClock(time.Now().Truncate(time.Second))
		cfg.Now = clock.Now
		cfg.RefreshTokenTTL, cfg.RefreshTokenMaxLifetime = idle, maxLife
		ts, user, c, b := startCodeFlow(t, cfg)
		v := oauth2.GenerateVerifier()
		code := newCode(t, ts, b, c, v)
		start := clock.Now()
		tok := ts.redeemOK(t, c, code, v)
		if got, want := ts.usableRefreshRecord(t, user.ID).ExpiresAt, start.Add(idle); !got.Equal(want) {
			t.Errorf("first refresh token expires at %v, want %v", got, want)
		}
		// Rotating every hour keeps the chain alive, each new token for
		// the idle lifetime, until the end of the maximum.
		for range 4 {
			now := clock.Advance(time.Hour)
			st, body := ts.refresh(t, c, tok.RefreshToken)
			tok = decodeTokens(t, st, body)
			want := now.Add(idle)
			if end := start.Add(maxLife); want.After(end) {
				want = end
			}
			if got := ts.usableRefreshRecord(t, user.ID).ExpiresAt; !got.Equal(want) {
				t.Errorf("refresh token rotated at start+%v expires at start+%v, want start+%v", now.Sub(start), got.Sub(start), want.Sub(start))
			}
		}
		clock.Advance(time.Hour) // start + maxLife
		st, body := ts.refresh(t, c, tok.RefreshToken)
		if e, _ := oauthErr(t, body); st != http.StatusBadRequest || e != "invalid_grant" {
			t.Fatalf("refresh at the end of the maximum lifetime = %d (error %q), want 400 invalid_grant", st, e)
		}
	})
}

// TestRefreshMaxLifetimeAtLeastTTL: a maximum shorter than the refresh
// token lifetime is a configuration error.
func TestRefreshMaxLifetimeAtLeastTTL(t *testing.T) {
	cfg := authz.Config{InMemory: true, Secrets: []string{testSecret}, AdminToken: testAdminToken,
		RefreshTokenTTL: 2 * time.Hour, RefreshTokenMaxLifetime: time.Hour}
	if srv, err := authz.New(t.Context(), cfg); err == nil {
		srv.Close()
		t.Fatal("New with a maximum refresh lifetime below the refresh token lifetime = a server, want an error")
	} else if !strings.Contains(err.Error(), "refresh token maximum lifetime") {
		t.Fatalf("New: %v, want it to name the refresh token maximum lifetime", err)
	}
	cfg.RefreshTokenMaxLifetime = 2 * time.Hour
	srv, err := authz.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New with equal lifetimes: %v", err)
	}
	srv.Close()
}

// TestRefreshNarrowsAudience: a refresh that names an audience (or an RFC
// 8707 resource) gets an access token for only that one, while the new
// refresh token keeps the grant's; one not granted is invalid_target and
// uses nothing up.
func TestRefreshNarrowsAudience(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, codeFlowConfig(cfg))
		ts.createUser(t, "ada")
		c := ts.createWebClient(t, adminapi.ClientJSON{Audience: []string{"idv-api", "billing"}})
		b := newBrowser(t)
		v := oauth2.GenerateVerifier()
		first := ts.redeemOK(t, c, newCode(t, ts, b, c, v), v)
		if aud := ts.verify(t, first.AccessToken, jose.ES256).Audience; strings.Join(aud, " ") != "idv-api billing" {
			t.Fatalf("access token of the code: aud = %v, want both registered audiences", aud)
		}
		refreshFor := func(rt, param, value string) (int, []byte) {
			st, _, body := post(t, ts.Public+"/oauth2/token", c.ClientID, c.ClientSecret,
				url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, param: {value}})
			return st, body
		}
		st, body := refreshFor(first.RefreshToken, "resource", "https://elsewhere.example")
		if e, _ := oauthErr(t, body); st != http.StatusBadRequest || e != "invalid_target" {
			t.Fatalf("refresh for an audience not granted = %d (error %q), want 400 invalid_target", st, e)
		}
		st, body = refreshFor(first.RefreshToken, "audience", "billing")
		narrow := decodeTokens(t, st, body)
		if aud := ts.verify(t, narrow.AccessToken, jose.ES256).Audience; strings.Join(aud, " ") != "billing" {
			t.Errorf("refresh for audience billing: aud = %v, want [billing]", aud)
		}
		st, body = refreshFor(narrow.RefreshToken, "scope", "openid offline_access identity.verify")
		again := decodeTokens(t, st, body)
		if aud := ts.verify(t, again.AccessToken, jose.ES256).Audience; strings.Join(aud, " ") != "idv-api billing" {
			t.Errorf("refresh after a narrowed one: aud = %v, want the grant's [idv-api billing]", aud)
		}
	})
}
