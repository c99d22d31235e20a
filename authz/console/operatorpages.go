package console

import (
	"net/http"

	"github.com/idvauth/idvauth/authz/adminapi"
)

// operatorData is the page data of the operators' and the four-eyes
// requests' pages, under one field so that its names meet no other
// page's.
type operatorData struct {
	Ops opsView
}

// opsView is what the operator and request pages show.
type opsView struct {
	// Target is the operator a page is about.
	Target *adminapi.OperatorJSON
	// Enrollment is a new enrollment link, shown once.
	Enrollment *adminapi.Enrollment
	// Held is the request the caller's action was just held as
	// (four-eyes, HTTP 202).
	Held *adminapi.RequestJSON
	// Requests are the pending four-eyes requests.
	Requests []requestRow
	// Roles are the roles an operator may have, most powerful first.
	Roles []string
}

// operatorRoutes adds the operators' and the four-eyes requests' routes.
// The list of operators (GET /console/operators) is in routes.
func (h *Handler) operatorRoutes(m *http.ServeMux, v views) {
	o := operatorViews{v}
	m.Handle("POST "+Prefix+"/operators", h.signedIn(o.createOperator))
	m.Handle("GET "+Prefix+"/operators/{id}", h.signedIn(o.operator))
	m.Handle("POST "+Prefix+"/operators/{id}/role", h.signedIn(o.changeRole))
	m.Handle("POST "+Prefix+"/operators/{id}/disable", h.signedIn(o.disableOperator))
	m.Handle("POST "+Prefix+"/operators/{id}/enable", h.signedIn(o.enableOperator))
	m.Handle("POST "+Prefix+"/operators/{id}/mfa-reset", h.signedIn(o.resetOperatorMFA))
	m.Handle("GET "+Prefix+"/requests", h.signedIn(o.requests))
	m.Handle("POST "+Prefix+"/requests/{id}/approve", h.signedIn(o.approve))
	m.Handle("POST "+Prefix+"/requests/{id}/reject", h.signedIn(o.reject))
}
