package adminapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Audit events of operators.
const (
	EventOperatorCreated  = "operator.created"
	EventOperatorUpdated  = "operator.updated"
	EventOperatorMFAReset = "operator.mfa_reset"
	// The console's events about an operator's own account: enrollment
	// (link used, factor confirmed), sign-in (password step failures,
	// second step failures, success) and sign-out.
	EventOperatorEnrolled     = "operator.enrolled"
	EventOperatorEnrollFailed = "operator.enroll_failed"
	EventOperatorSignedIn     = "operator.signed_in"
	EventOperatorSignInFailed = "operator.sign_in_failed"
	EventOperatorMFAFailed    = "operator.mfa_failed"
	EventOperatorSignedOut    = "operator.signed_out"
)

// OperatorJSON is an operator as the admin API shows them: never the
// password, the second factor's secret or the enrollment token.
type OperatorJSON struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Role     string `json:"role"`
	Disabled bool   `json:"disabled"`
	// MFAEnrolled says whether the operator has a second factor.
	MFAEnrolled bool `json:"mfa_enrolled"`
	// EnrollmentPending says whether an enrollment link is waiting to
	// be used.
	EnrollmentPending bool  `json:"enrollment_pending"`
	CreatedAt         int64 `json:"created_at"`
	UpdatedAt         int64 `json:"updated_at"`
}

// OperatorInput is what POST /admin/operators takes.
type OperatorInput struct {
	Username string `json:"username"`
	Role     string `json:"role"`
}

// OperatorUpdate is what PUT /admin/operators/{id} takes: each field
// given is changed, the others are kept.
type OperatorUpdate struct {
	Role     *string `json:"role,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// OperatorList is the answer of GET /admin/operators.
type OperatorList struct {
	Operators []OperatorJSON `json:"operators"`
}

// Enrollment is the answer of POST /admin/operators and of POST
// /admin/operators/{id}/mfa/reset: the operator, and the single-use link
// with which they set their password and second factor, shown once.
type Enrollment struct {
	Operator OperatorJSON `json:"operator"`
	// EnrollmentURL is valid once, until EnrollmentExpiresAt (Unix
	// seconds).
	EnrollmentURL       string `json:"enrollment_url"`
	EnrollmentExpiresAt int64  `json:"enrollment_expires_at"`
}

// ListOperators returns every operator, by username (GET /admin/operators).
func (c *Client) ListOperators(ctx context.Context) (OperatorList, []byte, error) {
	return call[OperatorList](ctx, c, http.MethodGet, "/admin/operators", nil, nil)
}

// CreateOperator creates an operator and its enrollment link (POST
// /admin/operators).
func (c *Client) CreateOperator(ctx context.Context, in OperatorInput) (Enrollment, []byte, error) {
	return call[Enrollment](ctx, c, http.MethodPost, "/admin/operators", nil, in)
}

// GetOperator returns one operator (GET /admin/operators/{id}).
func (c *Client) GetOperator(ctx context.Context, id string) (OperatorJSON, []byte, error) {
	return call[OperatorJSON](ctx, c, http.MethodGet, route("operators", id), nil, nil)
}

// UpdateOperator changes an operator's role or disables them (PUT
// /admin/operators/{id}).
func (c *Client) UpdateOperator(ctx context.Context, id string, in OperatorUpdate) (OperatorJSON, []byte, error) {
	return call[OperatorJSON](ctx, c, http.MethodPut, route("operators", id), nil, in)
}

// ResetOperatorMFA removes an operator's password and second factor and
// makes a new enrollment link (POST /admin/operators/{id}/mfa/reset).
func (c *Client) ResetOperatorMFA(ctx context.Context, id string) (Enrollment, []byte, error) {
	return call[Enrollment](ctx, c, http.MethodPost, route("operators", id, "/mfa/reset"), nil, nil)
}

// WriteOperatorList prints an OperatorList as a table, an operator a line.
func WriteOperatorList(w io.Writer, l OperatorList) error {
	tw := NewTable(w)
	fmt.Fprintln(tw, "ID\tUSERNAME\tROLE\tSTATE\tMFA\tCREATED")
	for _, o := range l.Operators {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, Cell(o.Username), o.Role, operatorState(o), yesNo(o.MFAEnrolled), UnixTime(o.CreatedAt))
	}
	return tw.Flush()
}

// WriteOperator prints an operator as a two-column table.
func WriteOperator(w io.Writer, o OperatorJSON) error {
	tw := NewTable(w)
	fmt.Fprintf(tw, "id\t%s\nusername\t%s\nrole\t%s\nstate\t%s\nmfa\t%s\ncreated\t%s\nupdated\t%s\n", o.ID, Cell(o.Username), o.Role,
		operatorState(o), yesNo(o.MFAEnrolled), UnixTime(o.CreatedAt), UnixTime(o.UpdatedAt))
	return tw.Flush()
}

// WriteEnrollment prints an operator and their enrollment link, with the
// note that it is shown once.
func WriteEnrollment(w io.Writer, e Enrollment) error {
	if err := WriteOperator(w, e.Operator); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nEnrollment link (single use, valid until %s; shown once, send it to %s privately):\n  %s\n",
		UnixTime(e.EnrollmentExpiresAt), Cell(e.Operator.Username), e.EnrollmentURL)
	return err
}

func operatorState(o OperatorJSON) string {
	switch {
	case o.Disabled:
		return "disabled"
	case o.EnrollmentPending:
		return "enrolling"
	case !o.MFAEnrolled:
		return "not enrolled"
	}
	return "active"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
