package authz_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
)

const fapiRedirect = "https://bank.example/cb"

// fapiClientMetadata is a FAPI 2.0 client: private_key_jwt with key k,
// an https redirect URI.
func fapiClientMetadata(t testing.TB, k jose.JSONWebKey) map[string]any {
	return map[string]any{"client_name": "Bank", "token_endpoint_auth_method": "private_key_jwt",
		"grant_types": []string{"authorization_code", "refresh_token"}, "redirect_uris": []string{fapiRedirect},
		"scope": "openid offline_access", "jwks": json.RawMessage(jwksJSON(t, pub(k)))}
}

// TestFAPI2Registration: under IDVAUTH_PROFILE=fapi2 each rule a client
// registration can break is refused, 400 naming the rule, and nothing is
// stored; discovery says what the profile enforces; a client registered
// with a secret before the switch (the demo client) is refused at the
// token endpoint, naming the rule.
func TestFAPI2Registration(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		// The demo clients (client_secret_basic) are registered before
		// the profile is switched on: a replica with it shares the store.
		plain := startServer(t, codeFlowConfig(cfg))
		cfg.Profile = "fapi2"
		ts := startServer(t, codeFlowConfig(cfg), serverOptions{ReplicaOf: plain.harnessServer})
		meta := ts.discovery(t)
		methods, _ := json.Marshal(meta["token_endpoint_auth_methods_supported"])
		if strings.Contains(string(methods), "client_secret") || strings.Contains(string(methods), `"none"`) || !strings.Contains(string(methods), "private_key_jwt") ||
			meta["require_pushed_authorization_requests"] != true || !slices.Equal(anyStrings(meta["id_token_signing_alg_values_supported"]), []string{"ES256", "PS256"}) {
			t.Errorf("fapi2 discovery: methods %s, require PAR %v, ID token algs %v", methods, meta["require_pushed_authorization_requests"], meta["id_token_signing_alg_values_supported"])
		}
		k := mustKey(t, jose.ES256)
		before := ts.listClients(t)
		for _, tc := range []struct {
			name   string
			change map[string]any
			rule   string
		}{
			{"client_secret_basic", map[string]any{"token_endpoint_auth_method": "client_secret_basic", "jwks": nil}, "token_endpoint_auth_method"},
			{"client_secret_post", map[string]any{"token_endpoint_auth_method": "client_secret_post", "jwks": nil}, "token_endpoint_auth_method"},
			{"public client", map[string]any{"token_endpoint_auth_method": "none", "jwks": nil}, "token_endpoint_auth_method"},
			{"token endpoint aud", map[string]any{"token_endpoint_audience_allowed": true}, "token_endpoint_audience_allowed"},
			{"PKCE off", map[string]any{"require_pkce": false}, "require_pkce"},
			{"http redirect", map[string]any{"redirect_uris": []string{"http://bank.example/cb"}}, "https"},
			{"RS256 ID tokens", map[string]any{"id_token_signed_response_alg": "RS256"}, "id_token_signed_response_alg"},
			{"unknown profile", map[string]any{"profile": "fapi1"}, "profile"},
		} {
			in := fapiClientMetadata(t, k)
			for key, v := range tc.change {
				if v == nil {
					delete(in, key)
				} else {
					in[key] = v
				}
			}
			st, body := ts.adminJSON(t, "POST", "/admin/clients", in)
			var e struct {
				Desc string `json:"error_description"`
			}
			_ = json.Unmarshal(body, &e)
			if st != http.StatusBadRequest || !strings.Contains(e.Desc, tc.rule) {
				t.Errorf("%s: register = %d %s, want 400 naming %s", tc.name, st, body, tc.rule)
			}
		}
		if after := ts.listClients(t); after != before {
			t.Errorf("refused registrations changed the client list")
		}
		svc := ts.Demo.Service
		st, _, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
		if st != http.StatusUnauthorized || !strings.Contains(string(body), "invalid_client") || !strings.Contains(string(body), "FAPI 2.0") {
			t.Errorf("a client_secret_basic client under fapi2 = %d %s, want 401 invalid_client naming FAPI 2.0", st, body)
		}
	})
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestFAPI2Flow: a compliant client (private_key_jwt + DPoP + PAR)
// completes the flow end to end with x/oauth2, under the server's profile
// and under its own; the rules a request can break are refused on the
// way, each naming the rule: a request by value, an assertion whose aud
// is the token endpoint, a token request without a proof (the code stays
// usable), a refresh without one. The ID token is ES256; the code comes
// back with iss. A client that registered PS256 gets PS256 ID tokens.
func TestFAPI2Flow(t *testing.T) {
	for _, mode := range []string{"server", "client", "server-ps256"} {
		t.Run(mode, func(t *testing.T) {
			backends(t, func(t *testing.T, cfg authz.Config) {
				in := map[string]any{}
				if mode == "client" {
					in["profile"] = "fapi2"
				} else {
					cfg.Profile = "fapi2"
				}
				if mode == "server-ps256" {
					in["id_token_signed_response_alg"] = "PS256"
				}
				fapi2Flow(t, cfg, in)
			})
		})
	}
}

func fapi2Flow(t *testing.T, cfg authz.Config, extra map[string]any) {
	ts := startServer(t, codeFlowConfig(cfg), serverOptions{NoDemo: true})
	ts.createUser(t, "ada")
	k := mustKey(t, jose.ES256)
	in := fapiClientMetadata(t, k)
	for key, v := range extra {
		in[key] = v
	}
	jc := ts.createClient(t, in)
	c := webClient{ClientJSON: jc, cfg: &oauth2.Config{ClientID: jc.ClientID, RedirectURL: fapiRedirect, Scopes: []string{"openid", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.Public + "/oauth2/authorize", TokenURL: ts.Public + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}}
	assertion := func(aud string) []oauth2.AuthCodeOption {
		return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("client_assertion_type", jwtBearer),
			oauth2.SetAuthURLParam("client_assertion", signAssertion(t, k, assertionClaims(jc.ClientID, aud)))}
	}
	b := newBrowser(t)
	v := oauth2.GenerateVerifier()

	// By value: refused, naming PAR.
	res := redirectedToClient(t, b.signIn(ts, authURL(c, "state-fapi-1", v, "n"), "ada", "allow"), fapiRedirect)
	if res.query.Get("error") != "invalid_request" || !strings.Contains(res.query.Get("error_description"), "FAPI 2.0") || res.query.Get("code") != "" {
		t.Errorf("fapi2 request by value = %s, want invalid_request naming FAPI 2.0 and PAR", res.loc)
	}
	push := func(aud string) (int, parAnswer) {
		params := parParams(c, "state-fapi-2", v, "n")
		params.Set("client_assertion_type", jwtBearer)
		params.Set("client_assertion", signAssertion(t, k, assertionClaims(jc.ClientID, aud)))
		st, _, body := post(t, ts.Public+"/oauth2/par", "", "", params)
		var a parAnswer
		_ = json.Unmarshal(body, &a)
		return st, a
	}
	if st, a := push(ts.Public + "/oauth2/token"); st != http.StatusUnauthorized || a.Error != "invalid_client" {
		t.Errorf("assertion with the token endpoint as aud = %d %+v, want 401 invalid_client", st, a)
	}
	st, a := push(ts.Public)
	if st != http.StatusCreated {
		t.Fatalf("compliant push = %d %+v", st, a)
	}
	res = redirectedToClient(t, b.signIn(ts, ts.byReference(jc.ClientID, a.RequestURI), "ada", "allow"), fapiRedirect)
	code := res.query.Get("code")
	if code == "" || res.query.Get("iss") != ts.Public {
		t.Fatalf("compliant pushed request = %s, want a code and iss", res.loc)
	}

	// Without a proof (nor a certificate): refused, naming the rule; the
	// code stays for the request with one.
	_, err := c.cfg.Exchange(t.Context(), code, append(assertion(ts.Public), oauth2.VerifierOption(v))...)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_request" || !strings.Contains(re.ErrorDescription, "sender-constrained") {
		t.Fatalf("fapi2 redemption without a proof = %v, want invalid_request naming sender-constrained tokens", err)
	}
	d := newDPoPKey(t)
	tok, err := c.cfg.Exchange(dpopContext(t, d), code, append(assertion(ts.Public), oauth2.VerifierOption(v))...)
	if err != nil || tok.TokenType != "DPoP" || ts.jktOf(t, tok.AccessToken) != d.jkt {
		t.Fatalf("compliant redemption = %v, %v; want a DPoP token", tok, err)
	}
	idt, _ := tok.Extra("id_token").(string)
	alg := jose.ES256
	if extra["id_token_signed_response_alg"] == "PS256" {
		alg = jose.PS256
	}
	ts.verifyIDToken(t, idt, jc.ClientID, alg)
	if st, _, e := ts.userinfoCall(t, "DPoP "+tok.AccessToken, d.proof(http.MethodGet, ts.Public+"/userinfo", map[string]any{"ath": ath(tok.AccessToken)})); st != http.StatusOK {
		t.Errorf("userinfo with the fapi2 token = %d %s", st, e)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"client_assertion_type": {jwtBearer}, "client_assertion": {signAssertion(t, k, assertionClaims(jc.ClientID, ts.Public))}}
	st, _, body := post(t, ts.Public+"/oauth2/token", "", "", refresh)
	if st != http.StatusBadRequest || !strings.Contains(string(body), "invalid_dpop_proof") {
		t.Errorf("fapi2 refresh without a proof = %d, want invalid_dpop_proof", st)
	}
	refresh.Set("client_assertion", signAssertion(t, k, assertionClaims(jc.ClientID, ts.Public)))
	req := formRequest(t, ts.Public+"/oauth2/token", "", "", refresh)
	req.Header.Set("DPoP", d.proof(http.MethodPost, ts.Public+"/oauth2/token", nil))
	if st, _, _ := do(t, req); st != http.StatusOK {
		t.Errorf("fapi2 refresh with a proof = %d", st)
	}
}
