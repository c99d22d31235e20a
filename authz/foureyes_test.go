package authz_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/storage"
)

// fourEyes is a server with four-eyes on, and a way to make operators.
type fourEyes struct {
	*testServer
	issuer keyClient
}

func startFourEyes(t *testing.T, cfg authz.Config) *fourEyes {
	t.Helper()
	cfg.Argon2, cfg.FourEyes = fastArgon2, true
	ts := startServer(t, cfg, serverOptions{NoDemo: true})
	return &fourEyes{testServer: ts, issuer: ts.consoleStandIn(t)}
}

// operator makes an operator of role in the store (as the bootstrap on
// the database does: granting a role through the API is held under
// four-eyes) and returns its audit actor and a token with the role's
// scopes.
func (fe *fourEyes) operator(t *testing.T, role string) (string, string) {
	t.Helper()
	ctx := context.Background()
	o, _, err := operators.Create(ctx, fe.Srv.StoreForTest(), "op"+randomSuffix(), role, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := authz.OperatorToken(ctx, fe.Srv, fe.issuer.ClientID, o.ID, adminauth.RoleScopes(role)...)
	if err != nil {
		t.Fatal(err)
	}
	return adminauth.OperatorActor(o.ID), tok
}

// call makes an admin call with tok and decodes a 2xx answer into a T;
// it fails the test unless the status is want.
func feCall[T any](t *testing.T, fe *fourEyes, tok, method, path string, in any, want int) T {
	t.Helper()
	code, body := fe.bearerDo(t, tok, method, path, in)
	if code != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, code, body, want)
	}
	var v T
	if code/100 == 2 && len(body) > 0 {
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, body)
		}
	}
	return v
}

// feRefused checks that a call with tok is refused with status and code.
func feRefused(t *testing.T, fe *fourEyes, tok, method, path string, in any, status int, code string) {
	t.Helper()
	got, body := fe.bearerDo(t, tok, method, path, in)
	var e struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
	}
	if got != status || json.Unmarshal(body, &e) != nil || e.Error != code || e.Desc == "" {
		t.Errorf("%s %s = %d %s, want %d %s with a description", method, path, got, body, status, code)
	}
}

// auditEntries returns the entries of type typ, read with the break-glass
// token.
func (fe *fourEyes) auditEntries(t *testing.T, typ string) []adminapi.AuditEntryJSON {
	t.Helper()
	page := adminCall[adminapi.AuditPage](t, fe.testServer, http.MethodGet, "/admin/audit?limit=1000&type="+typ, nil, http.StatusOK)
	var out []adminapi.AuditEntryJSON
	for _, e := range page.Entries {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// TestFourEyes: with IDVAUTH_FOUR_EYES=on, erasing a person is held as a
// request; the one who asked cannot approve it, nor can a caller without
// the action's scope; a second operator's approval erases the person
// once, audited with both operators; a second approval is refused; a
// request whose target has gone ends failed; rejection and expiry end a
// request without acting.
func TestFourEyes(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		fe := startFourEyes(t, cfg)
		alice, aliceTok := fe.operator(t, adminauth.Admin)
		bob, bobTok := fe.operator(t, adminauth.Admin)
		_, supportTok := fe.operator(t, adminauth.Support)
		person := newTestUser(t, fe.testServer)

		// Request: held, nothing done.
		req := feCall[adminapi.RequestJSON](t, fe, aliceTok, http.MethodPost, "/admin/users/"+person.ID+"/erase", nil, http.StatusAccepted)
		if req.State != adminapi.RequestPending || req.Action != adminapi.ActionUserErase || req.Target != person.ID || req.RequestedBy != alice ||
			!strings.HasPrefix(req.ID, "req_") || req.ExpiresAt-req.CreatedAt != int64((24*time.Hour).Seconds()) {
			t.Fatalf("held request = %+v; want a pending user.erase of %s by %s, for 24 hours", req, person.ID, alice)
		}
		adminCall[adminapi.UserJSON](t, fe.testServer, http.MethodGet, "/admin/users/"+person.ID, nil, http.StatusOK)

		// Self-approval, and an approver without the action's scope: refused, nothing done.
		feRefused(t, fe, aliceTok, http.MethodPost, "/admin/requests/"+req.ID+"/approve", nil, http.StatusForbidden, "self_approval")
		feRefused(t, fe, supportTok, http.MethodPost, "/admin/requests/"+req.ID+"/approve", nil, http.StatusForbidden, "insufficient_scope")
		feRefused(t, fe, supportTok, http.MethodPost, "/admin/requests/"+req.ID+"/reject", nil, http.StatusForbidden, "insufficient_scope")
		if got := feCall[adminapi.RequestJSON](t, fe, supportTok, http.MethodGet, "/admin/requests/"+req.ID, nil, http.StatusOK); got.State != adminapi.RequestPending {
			t.Fatalf("request after refused approvals = %+v, want pending", got)
		}
		adminCall[adminapi.UserJSON](t, fe.testServer, http.MethodGet, "/admin/users/"+person.ID, nil, http.StatusOK)

		// A second request for the same person, to approve after the first.
		again := feCall[adminapi.RequestJSON](t, fe, aliceTok, http.MethodDelete, "/admin/users/"+person.ID, nil, http.StatusAccepted)

		// The second operator approves: done, once.
		d := feCall[adminapi.RequestDecision](t, fe, bobTok, http.MethodPost, "/admin/requests/"+req.ID+"/approve", nil, http.StatusOK)
		var erased adminapi.UserErasure
		if d.Request.State != adminapi.RequestApproved || d.Request.DecidedBy != bob || d.Status != http.StatusOK ||
			json.Unmarshal(d.Answer, &erased) != nil || !erased.Erased || erased.UserID != person.ID {
			t.Fatalf("approval = %+v (answer %s); want approved by %s with the erasure's answer", d, d.Answer, bob)
		}
		adminCall[adminapi.Error](t, fe.testServer, http.MethodGet, "/admin/users/"+person.ID, nil, http.StatusNotFound)
		feRefused(t, fe, bobTok, http.MethodPost, "/admin/requests/"+req.ID+"/approve", nil, http.StatusConflict, "request_decided")
		feRefused(t, fe, aliceTok, http.MethodPost, "/admin/requests/"+req.ID+"/reject", nil, http.StatusConflict, "request_decided")
		if es := fe.auditEntries(t, adminapi.EventUserErased); len(es) != 1 || es[0].Actor != bob || es[0].Subject != person.ID ||
			es[0].Details["requested_by"] != alice || es[0].Details["four_eyes_request"] != req.ID {
			t.Errorf("user.erased entries = %+v; want one, by %s, naming %s and the request", es, bob, alice)
		}
		if es := fe.auditEntries(t, adminapi.EventRequestCreated); len(es) != 2 || es[0].Actor != alice || es[0].Details["four_eyes_request"] != req.ID {
			t.Errorf("four_eyes.requested entries = %+v; want two by %s, the first for %s", es, alice, req.ID)
		}
		if es := fe.auditEntries(t, adminapi.EventRequestApproved); len(es) != 1 || es[0].Actor != bob || es[0].Details["requested_by"] != alice ||
			es[0].Details["action"] != adminapi.ActionUserErase || es[0].Details["target"] != person.ID {
			t.Errorf("four_eyes.approved entries = %+v; want one by %s naming %s, the action and its target", es, bob, alice)
		}

		// Its target gone, the second request fails cleanly and ends failed.
		feRefused(t, fe, bobTok, http.MethodPost, "/admin/requests/"+again.ID+"/approve", nil, http.StatusNotFound, "not_found")
		failed := feCall[adminapi.RequestJSON](t, fe, bobTok, http.MethodGet, "/admin/requests/"+again.ID, nil, http.StatusOK)
		if failed.State != adminapi.RequestFailed || !strings.HasPrefix(failed.Result, "404") {
			t.Errorf("request of a person gone = %+v, want failed with its 404", failed)
		}
		if es := fe.auditEntries(t, adminapi.EventRequestFailed); len(es) != 1 || es[0].Actor != bob {
			t.Errorf("four_eyes.failed entries = %+v; want one by %s", es, bob)
		}

		// Rejection: the action never runs; the requester may withdraw.
		c := newTestClient(t, fe.testServer)
		del := feCall[adminapi.RequestJSON](t, fe, aliceTok, http.MethodDelete, "/admin/clients/"+c.ClientID, nil, http.StatusAccepted)
		rej := feCall[adminapi.RequestDecision](t, fe, bobTok, http.MethodPost, "/admin/requests/"+del.ID+"/reject", nil, http.StatusOK)
		if rej.Request.State != adminapi.RequestRejected || rej.Request.DecidedBy != bob || rej.Status != 0 {
			t.Errorf("rejection = %+v, want rejected by %s and no action", rej, bob)
		}
		feRefused(t, fe, bobTok, http.MethodPost, "/admin/requests/"+del.ID+"/approve", nil, http.StatusConflict, "request_decided")
		adminCall[adminapi.ClientJSON](t, fe.testServer, http.MethodGet, "/admin/clients/"+c.ClientID, nil, http.StatusOK)
		withdrawn := feCall[adminapi.RequestJSON](t, fe, aliceTok, http.MethodDelete, "/admin/clients/"+c.ClientID, nil, http.StatusAccepted)
		if d := feCall[adminapi.RequestDecision](t, fe, aliceTok, http.MethodPost, "/admin/requests/"+withdrawn.ID+"/reject", nil, http.StatusOK); d.Request.DecidedBy != alice {
			t.Errorf("withdrawal = %+v, want rejected by %s", d, alice)
		}
		if es := fe.auditEntries(t, adminapi.EventRequestRejected); len(es) != 2 {
			t.Errorf("four_eyes.rejected entries = %d, want 2", len(es))
		}

		// Expiry: a request made 25 hours ago shows expired, and cannot be approved.
		ctx := context.Background()
		old := storage.Approval{ID: "req_old" + randomSuffix(), Action: adminapi.ActionClientDelete, Target: c.ClientID, Method: http.MethodDelete,
			Path: "/admin/clients/" + c.ClientID, RequestedBy: alice, CreatedAt: time.Now().Add(-25 * time.Hour).Truncate(time.Second),
			ExpiresAt: time.Now().Add(-time.Hour).Truncate(time.Second), State: storage.ApprovalPending}
		if err := fe.Srv.StoreForTest().CreateApproval(ctx, old); err != nil {
			t.Fatal(err)
		}
		feRefused(t, fe, bobTok, http.MethodPost, "/admin/requests/"+old.ID+"/approve", nil, http.StatusGone, "request_expired")
		if got := feCall[adminapi.RequestJSON](t, fe, bobTok, http.MethodGet, "/admin/requests/"+old.ID, nil, http.StatusOK); got.State != adminapi.RequestExpired {
			t.Errorf("request made 25 hours ago = %+v, want expired", got)
		}
		expired := feCall[adminapi.RequestList](t, fe, bobTok, http.MethodGet, "/admin/requests?state=expired", nil, http.StatusOK)
		if len(expired.Requests) != 1 || expired.Requests[0].ID != old.ID {
			t.Errorf("expired requests = %+v, want %s alone", expired, old.ID)
		}
		adminCall[adminapi.ClientJSON](t, fe.testServer, http.MethodGet, "/admin/clients/"+c.ClientID, nil, http.StatusOK)
		all := feCall[adminapi.RequestList](t, fe, supportTok, http.MethodGet, "/admin/requests", nil, http.StatusOK)
		if len(all.Requests) != 5 {
			t.Errorf("GET /admin/requests = %d requests, want 5", len(all.Requests))
		}
	})
}

// TestFourEyesConcurrentApprovals: of two operators approving one
// request at once, exactly one runs the action; the other is refused.
func TestFourEyesConcurrentApprovals(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		fe := startFourEyes(t, cfg)
		_, aliceTok := fe.operator(t, adminauth.Admin)
		_, bobTok := fe.operator(t, adminauth.Admin)
		_, carolTok := fe.operator(t, adminauth.Owner)
		c := newTestClient(t, fe.testServer)
		req := feCall[adminapi.RequestJSON](t, fe, aliceTok, http.MethodDelete, "/admin/clients/"+c.ClientID, nil, http.StatusAccepted)
		codes := make([]int, 2)
		var wg sync.WaitGroup
		for i, tok := range []string{bobTok, carolTok} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _ = fe.bearerDo(t, tok, http.MethodPost, "/admin/requests/"+req.ID+"/approve", nil)
			}()
		}
		wg.Wait()
		if !(codes[0] == 200 && codes[1] == 409) && !(codes[0] == 409 && codes[1] == 200) {
			t.Errorf("concurrent approvals = %v, want one 200 and one 409", codes)
		}
		if es := fe.auditEntries(t, adminapi.EventClientDeleted); len(es) != 1 {
			t.Errorf("client.deleted entries = %d, want 1: the action runs once", len(es))
		}
		adminCall[adminapi.Error](t, fe.testServer, http.MethodGet, "/admin/clients/"+c.ClientID, nil, http.StatusNotFound)
	})
}

// TestFourEyesActions: which calls are held (a key retired with its
// tokens, owner or admin granted, a client deleted) and which run at once
// (a key retired alone, a lesser role, a refused call); an owner's
// approval of a grant gives the role.
func TestFourEyesActions(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		fe := startFourEyes(t, cfg)
		_, adminTok := fe.operator(t, adminauth.Admin)
		_, ownerTok := fe.operator(t, adminauth.Owner)
		target := newTestOperator(t, fe.testServer) // support, made with the break-glass token

		keys := adminCall[adminapi.KeyList](t, fe.testServer, http.MethodPost, "/admin/keys/rotate", map[string]any{}, http.StatusOK)
		kid := keys.Keys[0].KID
		held := feCall[adminapi.RequestJSON](t, fe, adminTok, http.MethodPost, "/admin/keys/"+kid+"/retire", adminapi.RetireKeyRequest{RevokeTokens: true}, http.StatusAccepted)
		var body adminapi.RetireKeyRequest
		if held.Action != adminapi.ActionKeyRetire || held.Target != kid || json.Unmarshal(held.Body, &body) != nil || !body.RevokeTokens {
			t.Errorf("held retirement = %+v", held)
		}
		feCall[adminapi.KeyList](t, fe, adminTok, http.MethodPost, "/admin/keys/"+kid+"/retire", adminapi.RetireKeyRequest{}, http.StatusOK)
		feRefused(t, fe, adminTok, http.MethodPost, "/admin/keys/no-such-kid/retire", adminapi.RetireKeyRequest{RevokeTokens: true}, http.StatusNotFound, "not_found")
		feRefused(t, fe, adminTok, http.MethodPost, "/admin/keys/"+kid+"/retire", map[string]any{"revoke_tokens": true, "extra": 1}, http.StatusBadRequest, "invalid_request")
		feRefused(t, fe, adminTok, http.MethodDelete, "/admin/clients/no-such-client", nil, http.StatusNotFound, "not_found")
		feRefused(t, fe, adminTok, http.MethodPost, "/admin/users/no-such-person/erase", nil, http.StatusNotFound, "not_found")

		grant := feCall[adminapi.RequestJSON](t, fe, ownerTok, http.MethodPut, "/admin/operators/"+target.ID, map[string]any{"role": "owner"}, http.StatusAccepted)
		if got := adminCall[adminapi.OperatorJSON](t, fe.testServer, http.MethodGet, "/admin/operators/"+target.ID, nil, http.StatusOK); got.Role != adminauth.Support {
			t.Fatalf("role while the grant waits = %q, want support", got.Role)
		}
		feCall[adminapi.RequestJSON](t, fe, ownerTok, http.MethodPost, "/admin/operators", adminapi.OperatorInput{Username: "newadmin" + randomSuffix(), Role: adminauth.Admin}, http.StatusAccepted)
		feCall[adminapi.Enrollment](t, fe, ownerTok, http.MethodPost, "/admin/operators", adminapi.OperatorInput{Username: "newaud" + randomSuffix(), Role: adminauth.Auditor}, http.StatusCreated)
		feCall[adminapi.OperatorJSON](t, fe, ownerTok, http.MethodPut, "/admin/operators/"+target.ID, map[string]any{"role": "auditor"}, http.StatusOK)
		// An admin holds no admin:operators:write: only an owner approves a grant.
		feRefused(t, fe, adminTok, http.MethodPost, "/admin/requests/"+grant.ID+"/approve", nil, http.StatusForbidden, "insufficient_scope")
		// Nor does the break-glass token, or a client: a second pair of eyes
		// is a second operator.
		feRefused(t, fe, testAdminToken, http.MethodPost, "/admin/requests/"+grant.ID+"/approve", nil, http.StatusForbidden, "operator_required")
		_, secondOwnerTok := fe.operator(t, adminauth.Owner)
		feCall[adminapi.RequestDecision](t, fe, secondOwnerTok, http.MethodPost, "/admin/requests/"+grant.ID+"/approve", nil, http.StatusOK)
		if got := adminCall[adminapi.OperatorJSON](t, fe.testServer, http.MethodGet, "/admin/operators/"+target.ID, nil, http.StatusOK); got.Role != adminauth.Owner {
			t.Errorf("role after the approval = %q, want owner", got.Role)
		}
		// Rights by the back door are grants too: a new enrollment link of
		// an owner (whoever holds it becomes them), and enabling a
		// disabled owner. A support operator's reset is not held.
		reset := feCall[adminapi.RequestJSON](t, fe, ownerTok, http.MethodPost, "/admin/operators/"+target.ID+"/mfa/reset", nil, http.StatusAccepted)
		if reset.Action != adminapi.ActionOperatorGrant || reset.Target != target.ID {
			t.Errorf("held MFA reset of an owner = %+v", reset)
		}
		feCall[adminapi.OperatorJSON](t, fe, ownerTok, http.MethodPut, "/admin/operators/"+target.ID, map[string]any{"disabled": true}, http.StatusOK)
		feCall[adminapi.RequestJSON](t, fe, ownerTok, http.MethodPut, "/admin/operators/"+target.ID, map[string]any{"disabled": false}, http.StatusAccepted)
		if got := adminCall[adminapi.OperatorJSON](t, fe.testServer, http.MethodGet, "/admin/operators/"+target.ID, nil, http.StatusOK); !got.Disabled {
			t.Errorf("an owner's re-enabling was carried out before any approval")
		}
		plain := newTestOperator(t, fe.testServer)
		feCall[adminapi.Enrollment](t, fe, ownerTok, http.MethodPost, "/admin/operators/"+plain.ID+"/mfa/reset", nil, http.StatusOK)

		// Bad input to the requests' routes: a clear 4xx, nothing changed.
		before := feCall[adminapi.RequestList](t, fe, adminTok, http.MethodGet, "/admin/requests", nil, http.StatusOK)
		feRefused(t, fe, adminTok, http.MethodGet, "/admin/requests?state=bogus", nil, http.StatusBadRequest, "invalid_request")
		feRefused(t, fe, adminTok, http.MethodGet, "/admin/requests?limit=3", nil, http.StatusBadRequest, "invalid_request")
		feRefused(t, fe, adminTok, http.MethodGet, "/admin/requests/req_none", nil, http.StatusNotFound, "not_found")
		feRefused(t, fe, adminTok, http.MethodPost, "/admin/requests/req_none/approve", nil, http.StatusNotFound, "not_found")
		feRefused(t, fe, adminTok, http.MethodPost, "/admin/requests/req_none/reject", nil, http.StatusNotFound, "not_found")
		feRefused(t, fe, testAdminToken, http.MethodGet, "/admin/requests/"+held.ID+"/approve", nil, http.StatusMethodNotAllowed, "method_not_allowed")
		feRefused(t, fe, testAdminToken, http.MethodDelete, "/admin/requests/"+held.ID, nil, http.StatusMethodNotAllowed, "method_not_allowed")
		feRefused(t, fe, testAdminToken, http.MethodPut, "/admin/requests", nil, http.StatusMethodNotAllowed, "method_not_allowed")
		feRefused(t, fe, "", http.MethodPost, "/admin/requests/"+held.ID+"/approve", nil, http.StatusUnauthorized, "unauthorized")
		after := feCall[adminapi.RequestList](t, fe, adminTok, http.MethodGet, "/admin/requests", nil, http.StatusOK)
		if b, a := mustJSON(t, before), mustJSON(t, after); b != a {
			t.Errorf("refused calls changed the requests:\n%s\n%s", b, a)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An operator cannot approve their own request through a client they
// register for the purpose: only an operator approves.
func TestFourEyesClientCannotApprove(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		fe := startFourEyes(t, cfg)
		_, aliceTok := fe.operator(t, adminauth.Admin)
		person := newTestUser(t, fe.testServer)
		req := feCall[adminapi.RequestJSON](t, fe, aliceTok, http.MethodPost, "/admin/users/"+person.ID+"/erase", nil, http.StatusAccepted)
		key := mustKey(t, jose.ES256)
		c := feCall[adminapi.ClientJSON](t, fe, aliceTok, http.MethodPost, "/admin/clients", map[string]any{
			"token_endpoint_auth_method": "private_key_jwt", "scope": adminauth.PeopleErase,
			"audience": []string{fe.adminAudience(t)}, "jwks": json.RawMessage(jwksJSON(t, pub(key)))}, http.StatusCreated)
		tok := fe.keyClientTokenFor(t, keyClient{c, key}, adminauth.PeopleErase, "")
		feRefused(t, fe, tok, http.MethodPost, "/admin/requests/"+req.ID+"/approve", nil, http.StatusForbidden, "operator_required")
		if code, _ := fe.bearerDo(t, aliceTok, http.MethodGet, "/admin/users/"+person.ID, nil); code != http.StatusOK {
			t.Errorf("the person after the refused approval: GET = %d, want 200", code)
		}
	})
}
