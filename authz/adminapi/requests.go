package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Audit events of four-eyes requests.
const (
	EventRequestCreated  = "four_eyes.requested"
	EventRequestApproved = "four_eyes.approved"
	EventRequestRejected = "four_eyes.rejected"
	EventRequestFailed   = "four_eyes.failed"
)

// Actions a four-eyes request holds (RequestJSON.Action).
const (
	// ActionUserErase: POST /admin/users/{id}/erase or DELETE
	// /admin/users/{id}.
	ActionUserErase = "user.erase"
	// ActionKeyRetire: POST /admin/keys/{kid}/retire with revoke_tokens.
	ActionKeyRetire = "key.retire"
	// ActionOperatorGrant: POST /admin/operators or PUT
	// /admin/operators/{id} that gives the role owner or admin.
	ActionOperatorGrant = "operator.grant"
	// ActionClientDelete: DELETE /admin/clients/{id}.
	ActionClientDelete = "client.delete"
)

// States of a four-eyes request (RequestJSON.State).
const (
	RequestPending  = "pending"
	RequestApproved = "approved"
	RequestRejected = "rejected"
	RequestExpired  = "expired"
	RequestFailed   = "failed"
)

// RequestStates lists the states, in the order of a request's life.
func RequestStates() []string {
	return []string{RequestPending, RequestApproved, RequestRejected, RequestExpired, RequestFailed}
}

// RequestJSON is a four-eyes request as the admin API shows it: a
// sensitive call held, with IDVAUTH_FOUR_EYES=on, until a second
// operator approves it (HTTP 202 answers it).
type RequestJSON struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	// Target is the ID of what the action acts on (a person, a key, a
	// client, an operator; the username of an operator to create).
	Target string `json:"target"`
	// Method, Path and Body are the admin call that approval runs.
	Method      string          `json:"method"`
	Path        string          `json:"path"`
	Body        json.RawMessage `json:"body,omitempty"`
	RequestedBy string          `json:"requested_by"`
	CreatedAt   int64           `json:"created_at"`
	// ExpiresAt is when the request can no longer be approved (24 hours
	// after it was made).
	ExpiresAt int64  `json:"expires_at"`
	State     string `json:"state"`
	DecidedBy string `json:"decided_by,omitempty"`
	DecidedAt int64  `json:"decided_at,omitempty"`
	// Result says how an approved action ended: its HTTP status, and its
	// error if it failed.
	Result string `json:"result,omitempty"`
}

// RequestList is the answer of GET /admin/requests, newest first.
type RequestList struct {
	Requests []RequestJSON `json:"requests"`
}

// RequestDecision is the answer of POST /admin/requests/{id}/approve and
// /reject: the request as decided, and for an approval the answer of the
// action it ran (its status and body, the same as a direct call's).
type RequestDecision struct {
	Request RequestJSON     `json:"request"`
	Status  int             `json:"status,omitempty"`
	Answer  json.RawMessage `json:"answer,omitempty"`
}

// Pending is the error of a call that the server held for a second
// operator's approval (four-eyes, HTTP 202): it has not happened yet.
// Raw is the answer as sent.
type Pending struct {
	Request RequestJSON
	Raw     []byte
}

// Error tells what was held and how to approve it.
func (p *Pending) Error() string {
	return fmt.Sprintf("admin API: four-eyes: %s of %s is held as request %s until %s; another operator approves it with: idvauth requests approve %s",
		p.Request.Action, Cell(p.Request.Target), p.Request.ID, UnixTime(p.Request.ExpiresAt), p.Request.ID)
}

// ListRequests returns the four-eyes requests in state ("" for all),
// newest first (GET /admin/requests).
func (c *Client) ListRequests(ctx context.Context, state string) (RequestList, []byte, error) {
	var q url.Values
	if state != "" {
		q = url.Values{"state": {state}}
	}
	return call[RequestList](ctx, c, http.MethodGet, "/admin/requests", q, nil)
}

// GetRequest returns one four-eyes request (GET /admin/requests/{id}).
func (c *Client) GetRequest(ctx context.Context, id string) (RequestJSON, []byte, error) {
	return call[RequestJSON](ctx, c, http.MethodGet, route("requests", id), nil, nil)
}

// ApproveRequest approves a four-eyes request and runs its action, once
// (POST /admin/requests/{id}/approve). The caller must not be the one who
// asked, and must hold the scope of the action.
func (c *Client) ApproveRequest(ctx context.Context, id string) (RequestDecision, []byte, error) {
	return call[RequestDecision](ctx, c, http.MethodPost, route("requests", id, "/approve"), nil, nil)
}

// RejectRequest rejects a four-eyes request: its action never runs (POST
// /admin/requests/{id}/reject).
func (c *Client) RejectRequest(ctx context.Context, id string) (RequestDecision, []byte, error) {
	return call[RequestDecision](ctx, c, http.MethodPost, route("requests", id, "/reject"), nil, nil)
}

// WriteRequestList prints a RequestList as a table, a request a line.
func WriteRequestList(w io.Writer, l RequestList) error {
	tw := NewTable(w)
	fmt.Fprintln(tw, "ID\tACTION\tTARGET\tSTATE\tREQUESTED BY\tDECIDED BY\tEXPIRES")
	for _, r := range l.Requests {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Action, Cell(r.Target), r.State, Cell(r.RequestedBy), Cell(r.DecidedBy), UnixTime(r.ExpiresAt))
	}
	return tw.Flush()
}

// WriteRequest prints a request as a two-column table.
func WriteRequest(w io.Writer, r RequestJSON) error {
	tw := NewTable(w)
	body := "-"
	if len(r.Body) > 0 {
		body = Cell(string(r.Body))
	}
	fmt.Fprintf(tw, "id\t%s\naction\t%s\ntarget\t%s\ncall\t%s %s\nbody\t%s\nstate\t%s\nrequested by\t%s\ncreated\t%s\nexpires\t%s\ndecided by\t%s\ndecided\t%s\nresult\t%s\n",
		r.ID, r.Action, Cell(r.Target), r.Method, Cell(r.Path), body, r.State, Cell(r.RequestedBy), UnixTime(r.CreatedAt), UnixTime(r.ExpiresAt),
		Cell(r.DecidedBy), UnixTime(r.DecidedAt), Cell(r.Result))
	return tw.Flush()
}

// WriteRequestDecision prints a decided request, then the answer of the
// action an approval ran.
func WriteRequestDecision(w io.Writer, d RequestDecision) error {
	if err := WriteRequest(w, d.Request); err != nil {
		return err
	}
	if d.Status != 0 {
		answer := "(no body)"
		if len(d.Answer) > 0 {
			answer = string(d.Answer)
		}
		if _, err := fmt.Fprintf(w, "\nThe action answered HTTP %d: %s\n", d.Status, answer); err != nil {
			return err
		}
	}
	return nil
}
