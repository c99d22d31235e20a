package authz_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
)

// raceAnswer is one answer of a raced request.
type raceAnswer struct {
	status int
	body   []byte
}

// raceRequests sends n copies of the request that mk builds at once, over
// n connections of their own, and returns the answers.
func raceRequests(t testing.TB, n int, mk func() *http.Request) []raceAnswer {
	t.Helper()
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = mk()
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	t.Cleanup(hc.CloseIdleConnections)
	out := make([]raceAnswer, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := hc.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			out[i].status = resp.StatusCode
			out[i].body, errs[i] = io.ReadAll(resp.Body)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("raced request: %v", err)
		}
	}
	return out
}

// checkRace checks the answers of a race: at most one (exactly one when
// one is true) is a 200, and every other one is wantStatus with error
// wantErr, never a 5xx. It returns the winning answer's body, or nil.
func checkRace(t testing.TB, what string, answers []raceAnswer, one bool, wantStatus int, wantErr string) []byte {
	t.Helper()
	var won []byte
	wins := 0
	for _, a := range answers {
		if a.status == http.StatusOK {
			wins++
			won = a.body
			continue
		}
		if e, _ := oauthErr(t, a.body); a.status != wantStatus || e != wantErr {
			t.Errorf("%s: a loser got %d %s, want %d %s", what, a.status, a.body, wantStatus, wantErr)
		}
	}
	if wins > 1 || one && wins != 1 {
		t.Errorf("%s: %d of %d won, want %s", what, wins, len(answers), map[bool]string{true: "exactly 1", false: "at most 1"}[one])
	}
	return won
}

// raceN is how many requests each race sends at once (the attack run of
// issue 17 sent 20).
const raceN = 20

// TestRacedRedemptionsAreRefusedNotFailed sends many uses of one code,
// one refresh token and one client assertion at once: the losers are
// refused as a client error (the grant's reuse rules decide what the
// winner keeps), never answered with a server error.
func TestRacedRedemptionsAreRefusedNotFailed(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, b := startCodeFlow(t, cfg)
		tokenURL := ts.Public + "/oauth2/token"
		v := oauth2.GenerateVerifier()

		code := newCode(t, ts, b, c, v)
		answers := raceRequests(t, raceN, func() *http.Request {
			return formRequest(t, tokenURL, c.ClientID, c.ClientSecret, url.Values{"grant_type": {"authorization_code"},
				"code": {code}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {v}})
		})
		if won := checkRace(t, "code", answers, false, http.StatusBadRequest, "invalid_grant"); won != nil {
			// A raced code is a reused code: what it issued is revoked.
			tok := decodeTokens(t, http.StatusOK, won)
			ts.requireInactive(t, tok.AccessToken)
		}

		first := ts.redeemOK(t, c, newCode(t, ts, b, c, v), v)
		answers = raceRequests(t, raceN, func() *http.Request {
			return formRequest(t, tokenURL, c.ClientID, c.ClientSecret, url.Values{"grant_type": {"refresh_token"},
				"refresh_token": {first.RefreshToken}})
		})
		if won := checkRace(t, "refresh", answers, false, http.StatusBadRequest, "invalid_grant"); won != nil {
			tok := decodeTokens(t, http.StatusOK, won)
			ts.requireInactive(t, tok.AccessToken)
		}

		key := mustKey(t, jose.ES256)
		jc := ts.createClient(t, map[string]any{"client_id": "race-jwt", "token_endpoint_auth_method": "private_key_jwt",
			"scope": "identity.verify", "jwks": json.RawMessage(jwksJSON(t, pub(key)))})
		a := signAssertion(t, key, assertionClaims(jc.ClientID, ts.Public))
		answers = raceRequests(t, raceN, func() *http.Request { return formRequest(t, tokenURL, "", "", assertionForm(a)) })
		checkRace(t, "assertion", answers, true, http.StatusUnauthorized, "invalid_client")
	})
}
