package storage

import (
	"context"
	"crypto/sha256"
	"time"
)

// Operator is an account of someone who runs idvauth: it signs in to the
// admin console and the admin API, never to a client application. It is
// kept apart from the people (User) who sign in to client applications,
// so that no public endpoint can make a person an operator.
type Operator struct {
	// ID is the opaque, server-made identifier: the sub of the
	// operator's tokens and the actor of their audit entries.
	ID string
	// Username is what the operator types to sign in; unique among
	// operators (a person may have the same one).
	Username string
	// Role names the operator's admin scopes (owner, admin, support,
	// auditor).
	Role string
	// PasswordHash is the PHC-formatted argon2id hash of the password;
	// empty until the operator has enrolled.
	PasswordHash string
	// Disabled operators are refused everywhere, at once.
	Disabled bool
	// TOTPSecret is the operator's authenticator-app secret, sealed by
	// the server as people's factor secrets are (never in the clear);
	// nil until enrolled. TOTPCounter is the last accepted time step.
	TOTPSecret  []byte
	TOTPCounter int64
	// EnrollmentDigest is the SHA-256 of the single-use enrollment token
	// (never the token), valid until EnrollmentExpiresAt; nil when no
	// enrollment is pending.
	EnrollmentDigest    []byte
	EnrollmentExpiresAt time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// UsedEnrollment is the marker that UseEnrollment leaves of a used link
// with digest: shorter than a digest, so no link matches it, and bound to
// that link, so that only the enrollment it started can end, and not
// once a newer link replaced it.
func UsedEnrollment(digest []byte) []byte {
	sum := sha256.Sum256(append([]byte("idvauth used enrollment\x00"), digest...))
	return sum[:16]
}

// EnrollmentPending reports whether o has an enrollment link not used yet.
func (o Operator) EnrollmentPending() bool { return len(o.EnrollmentDigest) == sha256.Size }

// OperatorCredentials are what an operator signs in with, and the
// enrollment that sets them.
type OperatorCredentials struct {
	PasswordHash        string
	TOTPSecret          []byte
	TOTPCounter         int64
	EnrollmentDigest    []byte
	EnrollmentExpiresAt time.Time
}

// OperatorStore keeps operators.
type OperatorStore interface {
	// CreateOperator stores a new operator; ErrAlreadyExists if the ID or
	// the username is taken.
	CreateOperator(ctx context.Context, o Operator) error
	// GetOperator returns the operator with id or ErrNotFound: one read
	// of the primary key, made on every admin request.
	GetOperator(ctx context.Context, id string) (Operator, error)
	// GetOperatorByUsername returns the operator with username or
	// ErrNotFound.
	GetOperatorByUsername(ctx context.Context, username string) (Operator, error)
	// ListOperators returns every operator ordered by username.
	ListOperators(ctx context.Context) ([]Operator, error)
	// SetOperatorCredentials sets the operator id's credentials c (and
	// UpdatedAt to now), changing nothing else: a role change or a
	// disable made meanwhile stays. With a non-empty enrollment (the
	// marker UseEnrollment left: the end of the enrollment that link
	// started), it changes only an enabled operator with no second
	// factor whose EnrollmentDigest is still that marker (no newer link
	// since), else ErrConflict. ErrNotFound if there is no such operator.
	SetOperatorCredentials(ctx context.Context, id string, c OperatorCredentials, enrollment []byte, now time.Time) error
	// UseEnrollment uses the pending enrollment whose token has digest,
	// if it has not expired at now: it replaces the digest with
	// UsedEnrollment(digest), and returns the operator so changed, in one
	// atomic step: of concurrent calls exactly one succeeds. ErrNotFound
	// if there is no such pending enrollment (used, replaced or expired).
	UseEnrollment(ctx context.Context, digest []byte, now time.Time) (Operator, error)
	// AdvanceOperatorTOTP sets the operator id's TOTPCounter to counter
	// and UpdatedAt to now, only if counter is greater than the stored
	// one, and changes nothing else: of concurrent sign-ins with one code
	// exactly one succeeds, and the others get ErrConflict. ErrNotFound if
	// there is no such operator.
	AdvanceOperatorTOTP(ctx context.Context, id string, counter int64, now time.Time) error
	// SetOperatorAccess sets the operator id's Role and Disabled (and
	// UpdatedAt to now), changing nothing else, unless it was an enabled
	// owner and none other remains: then ErrConflict. Of concurrent
	// changes that would each leave the other owner alone, one fails. ErrNotFound if there
	// is no such operator.
	SetOperatorAccess(ctx context.Context, id, role string, disabled bool, now time.Time) error
}
