package foureyes

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/storage"
)

// Routes returns the routes of /admin/requests by pattern, in the form of
// the operators' routes (the admin API wraps both alike). s may be nil to
// learn the patterns (the routes then must not be called).
func Routes(s *Service) map[string]operators.Route {
	return map[string]operators.Route{
		"/admin/requests":              s.list,
		"/admin/requests/{id}":         s.one,
		"/admin/requests/{id}/approve": s.approve,
		"/admin/requests/{id}/reject":  s.reject,
	}
}

// Refusals of the routes.
var (
	errSelf = web.NewError(http.StatusForbidden, "self_approval",
		"The caller who asked for this action cannot approve it: another operator must.")
	errExpired = web.NewError(http.StatusGone, "request_expired",
		"This request was not approved within its 24 hours and has expired; ask again if the action is still needed.")
)

func methodNotAllowed(w http.ResponseWriter, allow string) (operators.Result, error) {
	w.Header().Set("Allow", allow)
	return operators.Result{}, web.NewError(http.StatusMethodNotAllowed, "method_not_allowed", "Allowed methods: "+allow+".")
}

// expire marks the requests that expired by now, so that every answer
// shows them so.
func (s *Service) expire(r *http.Request) error {
	_, err := s.cfg.Store.ExpireApprovals(r.Context(), s.now())
	return err
}

// list serves GET /admin/requests[?state=S].
func (s *Service) list(w http.ResponseWriter, r *http.Request) (operators.Result, error) {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, "GET")
	}
	q := r.URL.Query()
	for k := range q {
		if k != "state" {
			return operators.Result{}, web.NewError(http.StatusBadRequest, "invalid_request", "Unknown query parameter "+strconv.Quote(web.Truncate(k, 40))+"; only state is taken.")
		}
	}
	state := q.Get("state")
	if len(q["state"]) > 1 || (state != "" && !slices.Contains(adminapi.RequestStates(), state)) {
		return operators.Result{}, web.NewError(http.StatusBadRequest, "invalid_request",
			"state must be one of "+strings.Join(adminapi.RequestStates(), ", ")+".")
	}
	if err := s.expire(r); err != nil {
		return operators.Result{}, err
	}
	all, err := s.cfg.Store.ListApprovals(r.Context(), storage.ApprovalFilter{State: state})
	if err != nil {
		return operators.Result{}, err
	}
	out := adminapi.RequestList{Requests: make([]adminapi.RequestJSON, 0, len(all))}
	for _, a := range all {
		out.Requests = append(out.Requests, JSON(a))
	}
	return operators.Result{Status: http.StatusOK, Body: out}, nil
}

// one serves GET /admin/requests/{id}.
func (s *Service) one(w http.ResponseWriter, r *http.Request) (operators.Result, error) {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, "GET")
	}
	if err := s.expire(r); err != nil {
		return operators.Result{}, err
	}
	a, err := s.cfg.Store.GetApproval(r.Context(), r.PathValue("id"))
	if err != nil {
		return operators.Result{}, err
	}
	return operators.Result{Status: http.StatusOK, Body: JSON(a)}, nil
}

// decidable returns the pending request of r's path that caller may
// decide: it holds the scope of its action, and, to approve, is an
// operator who did not ask for it.
func (s *Service) decidable(w http.ResponseWriter, r *http.Request, caller adminauth.Principal, approve bool) (storage.Approval, error) {
	if r.Method != http.MethodPost {
		_, err := methodNotAllowed(w, "POST")
		return storage.Approval{}, err
	}
	if err := s.expire(r); err != nil {
		return storage.Approval{}, err
	}
	a, err := s.cfg.Store.GetApproval(r.Context(), r.PathValue("id"))
	if err != nil {
		return storage.Approval{}, err
	}
	if err := stateError(a); err != nil {
		return storage.Approval{}, err
	}
	if scope := scopes[a.Action]; !caller.Allows(scope) {
		return storage.Approval{}, web.NewError(http.StatusForbidden, "insufficient_scope",
			"Deciding on this request needs the scope of its action, "+scope+".")
	}
	if approve && caller.Kind != adminauth.KindOperator {
		// A second pair of eyes is a second person: a client (which the
		// requester may have registered for the purpose) or the
		// break-glass token (whoever holds it) cannot be one.
		return storage.Approval{}, errNotOperator
	}
	if approve && caller.Actor == a.RequestedBy {
		return storage.Approval{}, errSelf
	}
	return a, nil
}

var errNotOperator = web.NewError(http.StatusForbidden, "operator_required",
	"Only an operator, signed in with their own account, approves a four-eyes request: not a client, not the break-glass token.")

// stateError is the refusal to decide on a, which is no longer pending;
// nil if it is.
func stateError(a storage.Approval) error {
	switch a.State {
	case storage.ApprovalPending:
		return nil
	case storage.ApprovalExpired:
		return errExpired
	}
	return web.NewError(http.StatusConflict, "request_decided", fmt.Sprintf("This request was %s by %s already.", a.State, a.DecidedBy))
}

// decide moves a to state as caller's decision, and returns it as
// decided. Of concurrent decisions one wins; the others are refused as if
// they came after it.
func (s *Service) decide(r *http.Request, caller adminauth.Principal, a storage.Approval, state string) (storage.Approval, error) {
	d, err := s.cfg.Store.DecideApproval(r.Context(), a.ID, state, caller.Actor, s.now())
	if errors.Is(err, storage.ErrConflict) {
		cur, gerr := s.cfg.Store.GetApproval(r.Context(), a.ID)
		if gerr != nil {
			return storage.Approval{}, gerr
		}
		if cur.State == storage.ApprovalPending { // it expired between the reads
			return storage.Approval{}, errExpired
		}
		return storage.Approval{}, stateError(cur)
	}
	return d, err
}

func principal(r *http.Request) adminauth.Principal {
	p, _ := adminauth.PrincipalOf(r.Context())
	return p
}

// details is the audit details of a decision on a.
func details(a storage.Approval) map[string]string {
	return map[string]string{"four_eyes_request": a.ID, "action": a.Action, "target": a.Target, "requested_by": a.RequestedBy}
}

// approve serves POST /admin/requests/{id}/approve: the action runs once,
// as the approver. If it fails (its target is gone, say), the request
// ends failed and the answer is the action's refusal.
func (s *Service) approve(w http.ResponseWriter, r *http.Request) (operators.Result, error) {
	caller := principal(r)
	a, err := s.decidable(w, r, caller, true)
	if err != nil {
		return operators.Result{}, err
	}
	if a, err = s.decide(r, caller, a, storage.ApprovalApproved); err != nil {
		return operators.Result{}, err
	}
	status, body := s.cfg.Run(r, caller, a)
	d := details(a)
	d["action_status"] = strconv.Itoa(status)
	if status/100 == 2 {
		a.Result = strconv.Itoa(status)
		if err := s.cfg.Store.FinishApproval(r.Context(), a.ID, storage.ApprovalApproved, a.Result); err != nil {
			return operators.Result{}, fmt.Errorf("foureyes: request %s approved and done, but not recorded so: %w", a.ID, err)
		}
		out := adminapi.RequestDecision{Request: JSON(a), Status: status}
		if len(body) > 0 && json.Valid(body) {
			out.Answer = json.RawMessage(body)
		}
		s.cfg.Log.Info("four-eyes request approved", web.RequestField(r.Context()), zap.String("four_eyes_request", a.ID), zap.String("action", a.Action))
		return operators.Result{Status: http.StatusOK, Body: out, Event: adminapi.EventRequestApproved, Subject: a.Target, Details: d}, nil
	}
	refusal := &web.Error{Status: status}
	if json.Unmarshal(body, refusal) != nil || refusal.Code == "" {
		refusal.Code, refusal.Description = "action_failed", http.StatusText(status)
	}
	a.State, a.Result = storage.ApprovalFailed, web.Truncate(strconv.Itoa(status)+" "+refusal.Code+": "+refusal.Description, 500)
	if err := s.cfg.Store.FinishApproval(r.Context(), a.ID, a.State, a.Result); err != nil {
		return operators.Result{}, fmt.Errorf("foureyes: request %s failed, and could not be recorded so: %w", a.ID, err)
	}
	s.cfg.Log.Info("four-eyes request approved, its action failed", web.RequestField(r.Context()), zap.String("four_eyes_request", a.ID),
		zap.String("action", a.Action), zap.Int("status", status))
	refusal.Description = "The request was approved but its action failed, so the request is closed as failed: " + refusal.Description
	if status < 400 || status > 599 {
		status = http.StatusBadGateway
	}
	return operators.Result{Status: status, Body: refusal, Event: adminapi.EventRequestFailed, Subject: a.Target, Details: d}, nil
}

// reject serves POST /admin/requests/{id}/reject: the action never runs.
// The one who asked may reject (withdraw) their own request.
func (s *Service) reject(w http.ResponseWriter, r *http.Request) (operators.Result, error) {
	caller := principal(r)
	a, err := s.decidable(w, r, caller, false)
	if err != nil {
		return operators.Result{}, err
	}
	if a, err = s.decide(r, caller, a, storage.ApprovalRejected); err != nil {
		return operators.Result{}, err
	}
	s.cfg.Log.Info("four-eyes request rejected", web.RequestField(r.Context()), zap.String("four_eyes_request", a.ID), zap.String("action", a.Action))
	return operators.Result{Status: http.StatusOK, Body: adminapi.RequestDecision{Request: JSON(a)},
		Event: adminapi.EventRequestRejected, Subject: a.Target, Details: details(a)}, nil
}
