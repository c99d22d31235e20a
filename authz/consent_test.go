package authz_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// withdraw withdraws a person's consents on ts (to clientID, or to all
// when empty) and returns the answer.
func (ts *testServer) withdraw(t testing.TB, userID, clientID string) adminapi.ConsentWithdrawal {
	t.Helper()
	path := "/admin/users/" + userID + "/consents"
	if clientID != "" {
		path += "?" + url.Values{"client_id": {clientID}}.Encode()
	}
	code, body := ts.adminJSON(t, http.MethodDelete, path, nil)
	var out adminapi.ConsentWithdrawal
	if err := json.Unmarshal(body, &out); code != http.StatusOK || err != nil {
		t.Fatalf("DELETE %s = %d %s", path, code, body)
	}
	return out
}

// requireRefreshRefused checks that rt no longer refreshes: invalid_grant.
func (ts *testServer) requireRefreshRefused(t testing.TB, c webClient, rt string) {
	t.Helper()
	st, body := ts.refresh(t, c, rt)
	if code, _ := oauthErr(t, body); st != http.StatusBadRequest || code != "invalid_grant" {
		t.Fatalf("refresh after withdrawal = %d %s, want 400 invalid_grant", st, body)
	}
}

// requireActive checks that introspection finds tok active.
func (ts *testServer) requireActive(t testing.TB, tok string) {
	t.Helper()
	if m, raw := ts.introspect(t, tok); m["active"] != true {
		t.Fatalf("introspect = %s, want active", raw)
	}
}

// TestConsentWithdrawalEndsGrants: withdrawing a person's consent to one
// client ends that client's grants at once (access token inactive,
// refresh token and unredeemed code refused), leaves another client's
// alone, and says in its answer and audit entry how many tokens went;
// withdrawing all ends every grant.
func TestConsentWithdrawalEndsGrants(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, user, c, b := startCodeFlow(t, cfg)
		other := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Other app"})
		v := oauth2.GenerateVerifier()
		toks := ts.redeemOK(t, c, newCode(t, ts, b, c, v), v)
		pending := newCode(t, ts, b, c, v)
		otherToks := ts.redeemOK(t, other, newCode(t, ts, b, other, v), v)

		// The access token, refresh token and pending code of c: 3.
		if got := ts.withdraw(t, user.ID, c.ClientID); got.Withdrawn != 1 || got.TokensRevoked != 3 {
			t.Errorf("withdraw from one client = %+v, want 1 consent and 3 tokens", got)
		}
		ts.requireInactive(t, toks.AccessToken)
		ts.requireRefreshRefused(t, c, toks.RefreshToken)
		if st, body := ts.redeem(t, c, pending, v); st != http.StatusBadRequest {
			t.Errorf("code issued before the withdrawal = %d %s, want refused", st, body)
		}
		ts.requireActive(t, otherToks.AccessToken)
		entries := ts.auditAll(t, url.Values{"type": {adminapi.EventConsentWithdrawn}})
		if len(entries) != 1 || entries[0].Details["tokens_revoked"] != "3" || entries[0].ClientID != c.ClientID {
			t.Errorf("consent.withdrawn entries = %+v, want one for %s with tokens_revoked 3", entries, c.ClientID)
		}

		// All: the other client's grant ends too.
		if got := ts.withdraw(t, user.ID, ""); got.Withdrawn != 1 || got.TokensRevoked != 2 {
			t.Errorf("withdraw from all = %+v, want 1 consent and 2 tokens", got)
		}
		ts.requireInactive(t, otherToks.AccessToken)
		ts.requireRefreshRefused(t, other, otherToks.RefreshToken)
	})
}

// TestConsentWithdrawalOnEveryReplica: a withdrawal on one replica ends
// the grant on another at once (the revocation lives in the database).
func TestConsentWithdrawalOnEveryReplica(t *testing.T) {
	cfg := codeFlowConfig(authz.Config{DatabaseURL: pgtest.URL(t), Issuer: sharedIssuer})
	a := startServer(t, cfg)
	b := startServer(t, cfg, serverOptions{ReplicaOf: a.harnessServer})
	user := a.createUser(t, "ada")
	c := a.createWebClient(t, adminapi.ClientJSON{})
	v := oauth2.GenerateVerifier()
	toks := a.redeemOK(t, c, newCode(t, a, newBrowser(t), c, v), v)
	b.requireActive(t, toks.AccessToken)

	if got := b.withdraw(t, user.ID, c.ClientID); got.TokensRevoked != 2 {
		t.Errorf("withdraw on B = %+v, want 2 tokens revoked", got)
	}
	a.requireInactive(t, toks.AccessToken)
	a.requireRefreshRefused(t, c, toks.RefreshToken)
}
