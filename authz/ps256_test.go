package authz_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

// TestPS256IDTokens: a client registered with id_token_signed_response_alg
// PS256 gets ID tokens (first and refreshed) and logout tokens signed
// with RSASSA-PSS by a key of its own in the JWKS (kty RSA, alg PS256),
// verified with go-jose; discovery offers PS256; an algorithm the ring
// does not have is refused at registration, naming the ones it has.
func TestPS256IDTokens(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		var skew atomic.Int64
		rp := newRelyingParty(t, false)
		ts, user, _, b := startCodeFlow(t, logoutConfig(cfg, &skew))
		md := ts.discovery(t)
		if got := anyStrings(md["id_token_signing_alg_values_supported"]); len(got) != 3 || got[0] != "RS256" || got[2] != "PS256" {
			t.Errorf("id_token_signing_alg_values_supported = %v, want [RS256 ES256 PS256]", got)
		}
		code, body := ts.adminJSON(t, "POST", "/admin/clients", map[string]any{"client_name": "HS", "grant_types": []string{"authorization_code"},
			"redirect_uris": []string{redirectURI}, "scope": "openid", "id_token_signed_response_alg": "PS384"})
		if code != http.StatusBadRequest || !strings.Contains(string(body), "PS256") {
			t.Errorf("id_token_signed_response_alg PS384 = %d %s, want 400 naming the supported ones", code, body)
		}
		c := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "PSS RP", IDTokenSignedResponseAlg: "PS256", BackchannelLogoutURI: rp.srv.URL})
		if c.IDTokenSignedResponseAlg != "PS256" {
			t.Fatalf("registered id_token_signed_response_alg = %q, want PS256", c.IDTokenSignedResponseAlg)
		}
		tok := signInTokens(t, ts, b, c)
		if _, err := jwt.ParseSigned(tok.IDToken, []jose.SignatureAlgorithm{jose.RS256}); err == nil {
			t.Error("the PS256 client's ID token parses as RS256")
		}
		ts.verifyIDToken(t, tok.IDToken, c.ClientID, jose.PS256)
		parsed, _ := jwt.ParseSigned(tok.IDToken, []jose.SignatureAlgorithm{jose.PS256})
		set := ts.jwks(t)
		k := set.Key(parsed.Headers[0].KeyID)
		if len(k) != 1 || k[0].Algorithm != "PS256" || k[0].Use != "sig" {
			t.Fatalf("the signing key in the JWKS = %+v, want one with alg PS256", k)
		}
		if _, isRSA := k[0].Key.(interface{ Size() int }); !isRSA {
			t.Errorf("the PS256 key is a %T, want an RSA key", k[0].Key)
		}
		st, body := ts.refresh(t, c, tok.RefreshToken)
		ts.verifyIDToken(t, decodeTokens(t, st, body).IDToken, c.ClientID, jose.PS256)

		lp := b.get(ts.Public + "/logout")
		if p := b.submit(ts.Public, lp.onlyForm(t), nil); p.status != http.StatusOK {
			t.Fatalf("logout = %d", p.status)
		}
		raw := rp.next(t)
		lt, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.PS256})
		if err != nil {
			t.Fatalf("logout token of the PS256 client does not parse as PS256: %v", err)
		}
		var lc jwt.Claims
		if err := lt.Claims(k[0].Key, &lc); err != nil || lc.Subject != user.ID {
			t.Errorf("logout token: %v, sub %q; want verified with the PS256 key, about %s", err, lc.Subject, user.ID)
		}
	})
}
