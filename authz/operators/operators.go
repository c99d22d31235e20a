// Package operators manages the accounts of the people who run idvauth:
// creating one with its single-use enrollment link, changing its role,
// disabling it, resetting its second factor, and the /admin/operators
// routes that do so. Operators are kept apart from the people who sign in
// to client applications (storage.OperatorStore, not storage.UserStore):
// no public endpoint reaches this package.
//
// Who may call which route, and what each role may do, is decided in
// authz/internal/adminauth; this package only checks the data.
package operators

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// EnrollmentTTL is how long an enrollment link is valid.
const EnrollmentTTL = 30 * time.Minute

// EnrollPath is where an enrollment link leads, on the admin listener.
const EnrollPath = "/console/enroll"

// MaxUsernameLen bounds an operator's username.
const MaxUsernameLen = 64

// Store is what this package reads and writes.
type Store interface {
	CreateOperator(ctx context.Context, o storage.Operator) error
	GetOperator(ctx context.Context, id string) (storage.Operator, error)
	ListOperators(ctx context.Context) ([]storage.Operator, error)
	SetOperatorCredentials(ctx context.Context, id string, c storage.OperatorCredentials, enrollment []byte, now time.Time) error
	SetOperatorAccess(ctx context.Context, id, role string, disabled bool, now time.Time) error
}

// ErrInvalid is wrapped by the errors of input that breaks a rule.
var ErrInvalid = errors.New("invalid operator")

// CheckUsername checks an operator's username: 1 to 64 characters,
// letters, digits and . _ - @ only.
func CheckUsername(u string) error {
	if u == "" || len(u) > MaxUsernameLen {
		return fmt.Errorf("%w: username must be 1 to %d characters", ErrInvalid, MaxUsernameLen)
	}
	for _, r := range u {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("._-@", r) {
			return fmt.Errorf("%w: username may hold letters, digits and . _ - @ only", ErrInvalid)
		}
	}
	return nil
}

// CheckRole checks a role name.
func CheckRole(role string) error {
	if !adminauth.ValidRole(role) {
		return fmt.Errorf("%w: role must be one of %s", ErrInvalid, strings.Join(adminauth.Roles(), ", "))
	}
	return nil
}

// Create stores a new operator of role with a pending enrollment, and
// returns it with the enrollment token (shown once: only its digest is
// stored). storage.ErrAlreadyExists if the username is taken.
func Create(ctx context.Context, st Store, username, role string, now time.Time) (storage.Operator, string, error) {
	if err := CheckUsername(username); err != nil {
		return storage.Operator{}, "", err
	}
	if err := CheckRole(role); err != nil {
		return storage.Operator{}, "", err
	}
	now = now.UTC().Truncate(time.Second)
	o := storage.Operator{ID: "op_" + web.Random(16), Username: username, Role: role, CreatedAt: now, UpdatedAt: now}
	token := startEnrollment(&o, now)
	if err := st.CreateOperator(ctx, o); err != nil {
		return storage.Operator{}, "", fmt.Errorf("operators: create: %w", err)
	}
	return o, token, nil
}

// startEnrollment gives o a new enrollment, valid EnrollmentTTL from now,
// and returns its token.
func startEnrollment(o *storage.Operator, now time.Time) string {
	token := web.RandomToken()
	sum := sha256.Sum256([]byte(token))
	o.EnrollmentDigest, o.EnrollmentExpiresAt = sum[:], now.Add(EnrollmentTTL)
	return token
}

// EnrollmentURL is the enrollment link of token on the admin listener at
// base ("https://admin.example.com").
func EnrollmentURL(base, token string) string {
	return strings.TrimRight(base, "/") + EnrollPath + "?token=" + token
}

// JSON is o as the admin API shows it.
func JSON(o storage.Operator) adminapi.OperatorJSON {
	return adminapi.OperatorJSON{ID: o.ID, Username: o.Username, Role: o.Role, Disabled: o.Disabled,
		MFAEnrolled: len(o.TOTPSecret) > 0, EnrollmentPending: o.EnrollmentPending(),
		CreatedAt: o.CreatedAt.Unix(), UpdatedAt: o.UpdatedAt.Unix()}
}

// EnrollmentJSON is the answer that shows o's enrollment token once.
func EnrollmentJSON(o storage.Operator, base, token string) adminapi.Enrollment {
	return adminapi.Enrollment{Operator: JSON(o), EnrollmentURL: EnrollmentURL(base, token), EnrollmentExpiresAt: o.EnrollmentExpiresAt.Unix()}
}

var errLastOwner = web.NewError(http.StatusConflict, "last_owner",
	"This is the last enabled owner: make another operator owner first.")

// Auditor appends audit entries.
type Auditor interface {
	Append(ctx context.Context, e storage.AuditEntry) error
}

// Bootstrap creates an operator of role directly in the store st (the
// first owner, before anyone can call the admin API) and returns it with
// its single-use enrollment link on the admin listener at adminURL. The
// creation is audited on a, by the system.
func Bootstrap(ctx context.Context, st Store, a Auditor, username, role, adminURL string, now time.Time) (adminapi.Enrollment, error) {
	o, token, err := Create(ctx, st, username, role, now)
	if err != nil {
		return adminapi.Enrollment{}, err
	}
	e := storage.AuditEntry{Type: adminapi.EventOperatorCreated, Actor: audit.System, Subject: o.ID,
		Details: map[string]string{"role": o.Role, "via": "database"}}
	if err := a.Append(ctx, e); err != nil {
		return adminapi.Enrollment{}, fmt.Errorf("operator %s created, but its audit entry could not be written: %w", o.ID, err)
	}
	return EnrollmentJSON(o, adminURL, token), nil
}
