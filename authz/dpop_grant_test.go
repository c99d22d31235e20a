package authz_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

// dpopContext is a context whose x/oauth2 requests carry proofs of d.
func dpopContext(t testing.TB, d *dpopKey) context.Context {
	return context.WithValue(t.Context(), oauth2.HTTPClient, &http.Client{Transport: d})
}

// tokenCall posts form to the token endpoint as c, with proof in the DPoP
// header unless it is "", and returns the status and the answer.
func (ts *testServer) tokenCall(t testing.TB, c webClient, form url.Values, proof string) (int, map[string]any) {
	t.Helper()
	id := c.ClientID
	if c.TokenEndpointAuthMethod == "none" {
		form.Set("client_id", c.ClientID)
		id = ""
	}
	req := formRequest(t, ts.Public+"/oauth2/token", id, c.ClientSecret, form)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	st, _, body := do(t, req)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("token answer %d %s: %v", st, body, err)
	}
	return st, m
}

// jktOf returns the cnf.jkt of the access token tok (signed by ts).
func (ts *testServer) jktOf(t testing.TB, tok string) string {
	t.Helper()
	ts.verify(t, tok, jose.ES256)
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Cnf map[string]string `json:"cnf"`
	}
	if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	return claims.Cnf["jkt"]
}

// wantProofRefused checks a token answer is 400 invalid_dpop_proof.
func wantProofRefused(t testing.TB, what string, st int, m map[string]any) {
	t.Helper()
	if st != http.StatusBadRequest || m["error"] != "invalid_dpop_proof" || m["access_token"] != nil {
		t.Errorf("%s = %d %v (%v), want 400 invalid_dpop_proof", what, st, m["error"], m["error_description"])
	}
}

// TestDPoPCodeFlow: a code bound with dpop_jkt (RFC 9449 section 10) is
// redeemed by x/oauth2 only with a proof of that key, without being used
// up by the refused attempts; the tokens are DPoP tokens with cnf.jkt; a
// bound grant's refresh needs a proof, of the same key for a public
// client (section 5) and of any key for a confidential one; a malformed
// dpop_jkt is refused.
func TestDPoPCodeFlow(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, b := startCodeFlow(t, cfg)
		d, other := newDPoPKey(t), newDPoPKey(t)
		tokenURL := ts.Public + "/oauth2/token"

		v := oauth2.GenerateVerifier()
		code := redirectedToClient(t, b.signIn(ts, authURL(c, "state-dpop-1", v, "n", oauth2.SetAuthURLParam("dpop_jkt", d.jkt)), "ada", "allow"), redirectURI).query.Get("code")
		redeem := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {v}}
		st, m := ts.tokenCall(t, c, redeem, "")
		wantProofRefused(t, "bound code without a proof", st, m)
		st, m = ts.tokenCall(t, c, redeem, other.proof(http.MethodPost, tokenURL, nil))
		wantProofRefused(t, "bound code with another key's proof", st, m)
		tok, err := c.cfg.Exchange(dpopContext(t, d), code, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatalf("bound code with its key's proof: %v", err)
		}
		if tok.TokenType != "DPoP" || ts.jktOf(t, tok.AccessToken) != d.jkt {
			t.Errorf("token_type %q cnf.jkt %q, want DPoP bound to %s", tok.TokenType, ts.jktOf(t, tok.AccessToken), d.jkt)
		}
		intro, _ := ts.introspect(t, tok.AccessToken)
		if cnf, _ := intro["cnf"].(map[string]any); intro["token_type"] != "DPoP" || cnf["jkt"] != d.jkt {
			t.Errorf("introspection = %v, want token_type DPoP and cnf.jkt", intro)
		}

		// A confidential client's bound grant: a refresh needs a proof,
		// and may move to a new key.
		refresh := func(rt string) url.Values { return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}} }
		st, m = ts.tokenCall(t, c, refresh(tok.RefreshToken), "")
		wantProofRefused(t, "confidential bound refresh without a proof", st, m)
		st, m = ts.tokenCall(t, c, refresh(tok.RefreshToken), other.proof(http.MethodPost, tokenURL, nil))
		if at, _ := m["access_token"].(string); st != http.StatusOK || m["token_type"] != "DPoP" || ts.jktOf(t, at) != other.jkt {
			t.Fatalf("confidential refresh with a new key = %d %v %v, want a DPoP token bound to it", st, m["error"], m["token_type"])
		}

		// A public client: the refresh token is bound to the key of the
		// code's redemption.
		pub := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Public App", TokenEndpointAuthMethod: "none"})
		v = oauth2.GenerateVerifier()
		code = redirectedToClient(t, b.signIn(ts, authURL(pub, "state-dpop-2", v, "n"), "ada", "allow"), redirectURI).query.Get("code")
		ptok, err := pub.cfg.Exchange(dpopContext(t, d), code, oauth2.VerifierOption(v))
		if err != nil || ptok.TokenType != "DPoP" || ts.jktOf(t, ptok.AccessToken) != d.jkt {
			t.Fatalf("public client's redemption with a proof = %v, %v; want a DPoP token", ptok, err)
		}
		st, m = ts.tokenCall(t, pub, refresh(ptok.RefreshToken), "")
		wantProofRefused(t, "public refresh without a proof", st, m)
		st, m = ts.tokenCall(t, pub, refresh(ptok.RefreshToken), other.proof(http.MethodPost, tokenURL, nil))
		wantProofRefused(t, "public refresh with another key", st, m)
		st, m = ts.tokenCall(t, pub, refresh(ptok.RefreshToken), d.proof(http.MethodPost, tokenURL, nil))
		if at, _ := m["access_token"].(string); st != http.StatusOK || ts.jktOf(t, at) != d.jkt || m["refresh_token"] == nil {
			t.Fatalf("public refresh with its key = %d %v, want a DPoP token", st, m["error"])
		}

		// A malformed dpop_jkt goes back to the client as invalid_request.
		res := redirectedToClient(t, b.get(authURL(c, "state-dpop-3", v, "n", oauth2.SetAuthURLParam("dpop_jkt", "short"))), redirectURI)
		if res.query.Get("error") != "invalid_request" || !strings.Contains(res.query.Get("error_description"), "dpop_jkt") {
			t.Errorf("malformed dpop_jkt = %s, want invalid_request naming dpop_jkt", res.loc)
		}
	})
}

// TestDPoPBoundAccessTokensClient: a client registered with
// dpop_bound_access_tokens (RFC 9449 section 5.2) gets no token without a
// proof, and its code stays usable for a request with one.
func TestDPoPBoundAccessTokensClient(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, _, b := startCodeFlow(t, cfg)
		c := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Bound", DPoPBoundAccessTokens: true})
		if !c.DPoPBoundAccessTokens {
			t.Fatalf("registered client = %+v, want dpop_bound_access_tokens", c.ClientJSON)
		}
		v := oauth2.GenerateVerifier()
		code := redirectedToClient(t, b.signIn(ts, authURL(c, "state-bound-1", v, "n"), "ada", "allow"), redirectURI).query.Get("code")
		_, err := c.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(v))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_dpop_proof" || !strings.Contains(re.ErrorDescription, "dpop_bound_access_tokens") {
			t.Fatalf("exchange without a proof = %v, want invalid_dpop_proof naming dpop_bound_access_tokens", err)
		}
		d := newDPoPKey(t)
		if tok, err := c.cfg.Exchange(dpopContext(t, d), code, oauth2.VerifierOption(v)); err != nil || tok.TokenType != "DPoP" {
			t.Fatalf("exchange with a proof = %v, %v; want a DPoP token", tok, err)
		}
	})
}

// TestDPoPPushedRequest: a proof at /oauth2/par binds the code to its key
// (RFC 9449 section 10.1); a dpop_jkt beside it must name the same key.
func TestDPoPPushedRequest(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, b := startCodeFlow(t, cfg)
		d, other := newDPoPKey(t), newDPoPKey(t)
		parURL := ts.Public + "/oauth2/par"
		v := oauth2.GenerateVerifier()
		push := func(params url.Values, proof string) (int, parAnswer) {
			req := formRequest(t, parURL, c.ClientID, c.ClientSecret, params)
			req.Header.Set("DPoP", proof)
			st, _, body := do(t, req)
			var a parAnswer
			_ = json.Unmarshal(body, &a)
			return st, a
		}
		params := parParams(c, "state-par-dpop-1", v, "n")
		params.Set("dpop_jkt", other.jkt)
		before := ts.countTokens(t)
		if st, a := push(params, d.proof(http.MethodPost, parURL, nil)); st != http.StatusBadRequest || a.Error != "invalid_dpop_proof" {
			t.Errorf("push with a dpop_jkt of another key than the proof's = %d %+v, want invalid_dpop_proof", st, a)
		}
		if st, a := push(parParams(c, "state-par-dpop-3", v, "n"), d.proof(http.MethodPost, ts.Public+"/oauth2/token", nil)); st != http.StatusBadRequest || a.Error != "invalid_dpop_proof" {
			t.Errorf("push with a proof for the token endpoint = %d %+v, want invalid_dpop_proof", st, a)
		}
		if n := ts.countTokens(t); n != before {
			t.Errorf("records after refused pushes = %d, want %d", n, before)
		}
		st, a := push(parParams(c, "state-par-dpop-2", v, "n"), d.proof(http.MethodPost, parURL, nil))
		if st != http.StatusCreated {
			t.Fatalf("push with a proof = %d %+v", st, a)
		}
		code := redirectedToClient(t, b.signIn(ts, ts.byReference(c.ClientID, a.RequestURI), "ada", "allow"), redirectURI).query.Get("code")
		if _, err := c.cfg.Exchange(dpopContext(t, other), code, oauth2.VerifierOption(v)); err == nil {
			t.Fatal("code of a push with a proof redeemed with another key")
		}
		if tok, err := c.cfg.Exchange(dpopContext(t, d), code, oauth2.VerifierOption(v)); err != nil || ts.jktOf(t, tok.AccessToken) != d.jkt {
			t.Fatalf("code of a push with a proof, redeemed with its key = %v, %v", tok, err)
		}
	})
}
