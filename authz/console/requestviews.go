package console

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
)

// requestRow is a pending four-eyes request as the requests page shows
// it.
type requestRow struct {
	adminapi.RequestJSON
	// Requester names who asked: an operator's username, else the
	// request's actor.
	Requester string
	// Mine says the signed-in operator asked: they may withdraw it
	// (reject), never approve it.
	Mine bool
	// CanDecide says the signed-in operator's role holds the scope of the
	// request's action.
	CanDecide bool
}

// requestScopes are the scopes of the actions of requests, as the admin
// API checks them (authz/foureyes): here they only decide which buttons a
// page shows.
var requestScopes = map[string]string{
	adminapi.ActionUserErase:     adminauth.PeopleErase,
	adminapi.ActionKeyRetire:     adminauth.KeysWrite,
	adminapi.ActionOperatorGrant: adminauth.OperatorsWrite,
	adminapi.ActionClientDelete:  adminauth.ClientsWrite,
}

func (h operatorViews) requests(w http.ResponseWriter, r *http.Request, c *op) {
	h.requestList(w, r, c, http.StatusOK, nil, "")
}

// requestList shows the pending requests, with held (the caller's action
// just held) and notice.
func (h operatorViews) requestList(w http.ResponseWriter, r *http.Request, c *op, status int, held *adminapi.RequestJSON, notice string) {
	ctx, cancel := within(r)
	defer cancel()
	l, _, err := c.api.ListRequests(ctx, adminapi.RequestPending)
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	d := c.data("Pending requests")
	d.Ops.Held, d.Notice = held, notice
	names := map[string]string{}
	me := adminauth.OperatorActor(c.o.ID)
	for _, q := range l.Requests {
		name, ok := names[q.RequestedBy]
		if !ok {
			name = q.RequestedBy
			if id, isOp := strings.CutPrefix(q.RequestedBy, "operator:"); isOp {
				// The operators' list needs the owner's scope; who asked
				// is shown to every operator who may see the request.
				if o, err := h.cfg.Store.GetOperator(ctx, id); err == nil {
					name = o.Username
				}
			}
			names[q.RequestedBy] = name
		}
		scope, known := requestScopes[q.Action]
		d.Ops.Requests = append(d.Ops.Requests, requestRow{RequestJSON: q, Requester: name, Mine: q.RequestedBy == me,
			CanDecide: known && c.can[scope]})
	}
	h.render(w, r, status, "requests", d)
}

// approve approves a request, which runs its action once. An operator
// made by it gets their enrollment link shown here, once.
func (h operatorViews) approve(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	dec, _, err := c.api.ApproveRequest(ctx, r.PathValue("id"))
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	var e adminapi.Enrollment
	if dec.Request.Action == adminapi.ActionOperatorGrant && dec.Status/100 == 2 &&
		json.Unmarshal(dec.Answer, &e) == nil && e.EnrollmentURL != "" {
		h.showEnrollment(w, r, c, http.StatusOK, "Approved: operator created", e)
		return
	}
	notice := "Approved: the action ran and answered HTTP " + strconv.Itoa(dec.Status) + "."
	if dec.Status/100 != 2 {
		notice = "Approved, but the action failed (HTTP " + strconv.Itoa(dec.Status) + "): " + dec.Request.Result
	}
	h.requestList(w, r, c, http.StatusOK, nil, notice)
}

// reject rejects a request (or withdraws the caller's own): its action
// never runs.
func (h operatorViews) reject(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	if _, _, err := c.api.RejectRequest(ctx, r.PathValue("id")); err != nil {
		h.apiError(w, r, c, err)
		return
	}
	h.requestList(w, r, c, http.StatusOK, nil, "Rejected: the action will not run.")
}
