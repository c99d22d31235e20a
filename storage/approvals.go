package storage

import (
	"context"
	"time"
)

// The states of an Approval.
const (
	// ApprovalPending waits for a second operator until ExpiresAt.
	ApprovalPending = "pending"
	// ApprovalApproved was approved, and its action ran (or is running).
	ApprovalApproved = "approved"
	// ApprovalRejected was rejected: its action never runs.
	ApprovalRejected = "rejected"
	// ApprovalExpired was not decided before ExpiresAt.
	ApprovalExpired = "expired"
	// ApprovalFailed was approved, but its action failed (its target was
	// gone, say): it did not happen and the request is closed.
	ApprovalFailed = "failed"
)

// Approval is a sensitive admin call held until a second operator
// approves it (four-eyes): who asked for what, and what became of it.
type Approval struct {
	// ID is "req_" and random.
	ID string
	// Action names the kind of call ("user.erase", "client.delete").
	Action string
	// Target is the ID of what the call acts on (a person, a client, a
	// key, an operator).
	Target string
	// Method and Path are the admin call to run once approved
	// ("DELETE", "/admin/clients/c1"); Body is its JSON body (nil for
	// none). Only calls whose input holds no secret are held.
	Method string
	Path   string
	Body   []byte
	// RequestedBy is the audit actor of the caller who asked.
	RequestedBy string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	// State is one of the Approval* states.
	State string
	// DecidedBy is the audit actor who approved or rejected it, and
	// DecidedAt when; empty and zero while pending or once expired.
	DecidedBy string
	DecidedAt time.Time
	// Result says how the approved action ended ("200", or the error of
	// a failed one); empty before.
	Result string
}

// ApprovalFilter selects approvals for ListApprovals.
type ApprovalFilter struct {
	// State keeps those of one state; "" keeps all.
	State string
	// Limit bounds the answer; at most MaxApprovalPage, which a zero or
	// larger one means.
	Limit int
}

// MaxApprovalPage is the most approvals ListApprovals returns at once.
const MaxApprovalPage = 500

// ApprovalStore keeps the requests of four-eyes approvals.
type ApprovalStore interface {
	// CreateApproval stores a new request; ErrAlreadyExists if its ID is
	// taken.
	CreateApproval(ctx context.Context, a Approval) error
	// GetApproval returns the request id or ErrNotFound.
	GetApproval(ctx context.Context, id string) (Approval, error)
	// ListApprovals returns the requests f selects, newest first.
	ListApprovals(ctx context.Context, f ApprovalFilter) ([]Approval, error)
	// DecideApproval moves the request id from pending to state
	// (ApprovalApproved or ApprovalRejected), decided by by at at, if it
	// is pending and has not expired at at, and returns it as it is now:
	// one atomic step, so that of concurrent decisions exactly one wins.
	// ErrConflict if it is not pending or has expired; ErrNotFound if
	// there is no such request.
	DecideApproval(ctx context.Context, id, state, by string, at time.Time) (Approval, error)
	// FinishApproval records how the action of the approved request id
	// ended: state stays ApprovalApproved or becomes ApprovalFailed, and
	// result is kept. ErrConflict if the request is not approved.
	FinishApproval(ctx context.Context, id, state, result string) error
	// ExpireApprovals marks every pending request whose ExpiresAt is not
	// after now expired, and returns how many.
	ExpireApprovals(ctx context.Context, now time.Time) (int, error)
}
