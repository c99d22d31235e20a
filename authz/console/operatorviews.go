package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
)

// operatorViews are the pages that manage operators (an owner's, by
// admin:operators:write) and decide on four-eyes requests. Like every
// page they act through the admin API as the signed-in operator: the
// API's role rules and four-eyes hold apply, the pages only show them.
type operatorViews struct{ views }

// createOperator creates an operator from the form and shows their
// enrollment link, once; under four-eyes granting owner or admin is held.
func (h operatorViews) createOperator(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	in := adminapi.OperatorInput{Username: strings.TrimSpace(r.PostForm.Get("username")), Role: r.PostForm.Get("role")}
	e, _, err := c.api.CreateOperator(ctx, in)
	if h.held(w, r, c, err) {
		return
	}
	var ae *adminapi.Error
	if errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusConflict) {
		h.operatorList(w, r, c, ae.Status, ae.Description)
		return
	} else if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	h.showEnrollment(w, r, c, http.StatusCreated, "Operator created", e)
}

// operatorList is the list of operators with msg as its error.
func (h operatorViews) operatorList(w http.ResponseWriter, r *http.Request, c *op, status int, msg string) {
	ctx, cancel := within(r)
	defer cancel()
	l, _, err := c.api.ListOperators(ctx)
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	d := c.data("Operators")
	d.Operators, d.Error = l.Operators, msg
	h.render(w, r, status, "operators", d)
}

// showEnrollment shows an operator with their new enrollment link, once.
func (h operatorViews) showEnrollment(w http.ResponseWriter, r *http.Request, c *op, status int, title string, e adminapi.Enrollment) {
	d := c.data(title)
	d.Ops.Target, d.Ops.Enrollment, d.Ops.Roles, d.Script = &e.Operator, &e, adminauth.Roles(), h.pages.scriptPath
	h.render(w, r, status, "operator", d)
}

func (h operatorViews) operator(w http.ResponseWriter, r *http.Request, c *op) {
	h.operatorPage(w, r, c, "")
}

// operatorPage shows the operator of r's path, with notice.
func (h operatorViews) operatorPage(w http.ResponseWriter, r *http.Request, c *op, notice string) {
	ctx, cancel := within(r)
	defer cancel()
	o, _, err := c.api.GetOperator(ctx, r.PathValue("id"))
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	d := c.data("Operator " + o.Username)
	d.Ops.Target, d.Ops.Roles, d.Notice = &o, adminauth.Roles(), notice
	h.render(w, r, http.StatusOK, "operator", d)
}

// changeRole gives the operator the form's role; under four-eyes
// granting owner or admin is held.
func (h operatorViews) changeRole(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	role := r.PostForm.Get("role")
	o, _, err := c.api.UpdateOperator(ctx, r.PathValue("id"), adminapi.OperatorUpdate{Role: &role})
	if h.held(w, r, c, err) {
		return
	} else if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	if h.toDashboardIfSelf(w, r, c, o.ID) {
		return
	}
	h.operatorPage(w, r, c, "The role of "+o.Username+" is now "+o.Role+".")
}

// toDashboardIfSelf sends an operator who changed their own role or
// state to the dashboard: their token may no longer read operators, and
// the header shows their new role. False if id is another operator.
func (h operatorViews) toDashboardIfSelf(w http.ResponseWriter, r *http.Request, c *op, id string) bool {
	if id != c.o.ID {
		return false
	}
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
	return true
}

// confirmed reads the operator of r's path and checks that the form's
// confirmation is their username; if not ok it has answered.
func (h operatorViews) confirmed(w http.ResponseWriter, r *http.Request, c *op, what string) (adminapi.OperatorJSON, bool) {
	ctx, cancel := within(r)
	defer cancel()
	o, _, err := c.api.GetOperator(ctx, r.PathValue("id"))
	if err != nil {
		h.apiError(w, r, c, err)
		return o, false
	}
	if r.PostForm.Get("confirm") != o.Username {
		d := c.data("Not " + what)
		d.Error = "Type the username exactly to confirm. Nothing was " + what + "."
		h.render(w, r, http.StatusBadRequest, "message", d)
		return o, false
	}
	return o, true
}

// disableOperator disables an operator once their username was typed to
// confirm: their console session ends at once, their tokens stop working.
func (h operatorViews) disableOperator(w http.ResponseWriter, r *http.Request, c *op) {
	o, ok := h.confirmed(w, r, c, "disabled")
	if !ok {
		return
	}
	h.setDisabled(w, r, c, o.ID, true, o.Username+" is disabled and signed out of the console.")
}

func (h operatorViews) enableOperator(w http.ResponseWriter, r *http.Request, c *op) {
	h.setDisabled(w, r, c, r.PathValue("id"), false, "The operator is enabled again.")
}

func (h operatorViews) setDisabled(w http.ResponseWriter, r *http.Request, c *op, id string, disabled bool, notice string) {
	ctx, cancel := within(r)
	defer cancel()
	_, _, err := c.api.UpdateOperator(ctx, id, adminapi.OperatorUpdate{Disabled: &disabled})
	if h.held(w, r, c, err) {
		return
	} else if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	if h.toDashboardIfSelf(w, r, c, id) {
		return
	}
	h.operatorPage(w, r, c, notice)
}

// resetOperatorMFA removes an operator's password and second factor
// once their username was typed to confirm, and shows the new enrollment
// link, once.
func (h operatorViews) resetOperatorMFA(w http.ResponseWriter, r *http.Request, c *op) {
	o, ok := h.confirmed(w, r, c, "reset")
	if !ok {
		return
	}
	ctx, cancel := within(r)
	defer cancel()
	e, _, err := c.api.ResetOperatorMFA(ctx, o.ID)
	if h.held(w, r, c, err) {
		return
	} else if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	h.showEnrollment(w, r, c, http.StatusOK, "New enrollment link", e)
}

// held answers an action the admin API held for a second operator's
// approval (four-eyes, HTTP 202) with the pending requests, that one
// shown first; false if err is no such hold.
func (h operatorViews) held(w http.ResponseWriter, r *http.Request, c *op, err error) bool {
	var p *adminapi.Pending
	if !errors.As(err, &p) {
		return false
	}
	h.requestList(w, r, c, http.StatusAccepted, &p.Request, "")
	return true
}
