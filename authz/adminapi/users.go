package adminapi

import (
	"context"
	"net/http"
	"net/url"
)

// UserJSON is a person as the admin API shows them: never the password or
// its hash.
type UserJSON struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	CreatedAt int64  `json:"created_at"`
	UpdatedAt int64  `json:"updated_at"`
}

// UserInput is what POST /admin/users takes.
type UserInput struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Name     string `json:"name"`
	Email    string `json:"email"`
}

// UserList is the answer of GET /admin/users.
type UserList struct {
	Users []UserJSON `json:"users"`
}

// ConsentWithdrawal is the answer of DELETE /admin/users/{id}/consents.
type ConsentWithdrawal struct {
	UserID    string `json:"user_id"`
	Withdrawn int    `json:"withdrawn"`
	// TokensRevoked is how many usable access tokens, refresh tokens and
	// authorization codes of the withdrawn grants were revoked.
	TokensRevoked int `json:"tokens_revoked"`
}

// MFAReset is the answer of POST /admin/users/{id}/mfa/reset: every
// second factor and recovery code of the person was removed.
type MFAReset struct {
	UserID string `json:"user_id"`
	// FactorsRemoved is how many factors went (recovery codes not
	// counted).
	FactorsRemoved int `json:"factors_removed"`
	// SessionsEnded is how many of the person's browser sessions ended
	// with the reset.
	SessionsEnded int `json:"sessions_ended"`
}

// UserErasure is the answer of POST /admin/users/{id}/erase.
type UserErasure struct {
	UserID string `json:"user_id"`
	Erased bool   `json:"erased"`
}

// UserExport is everything idvauth holds about one person (GDPR article
// 15), as GET /admin/users/{id}/export answers it. Token values and their
// signatures are not kept, so they are not here; the password hash is
// held but not exported.
type UserExport struct {
	User     UserJSON      `json:"user"`
	Password string        `json:"password"`
	Consents []ConsentJSON `json:"consents"`
	Sessions []SessionJSON `json:"sessions"`
	// Factors are the person's second factors (never their secrets);
	// RecoveryCodesLeft how many unused recovery codes they hold (kept
	// as digests: the codes themselves are not held).
	Factors           []FactorJSON      `json:"factors"`
	RecoveryCodesLeft int               `json:"recovery_codes_left"`
	Tokens            []TokenRecordJSON `json:"tokens"`
	// Audit holds the audit entries about the person.
	Audit []AuditEntryJSON `json:"audit"`
}

// ConsentJSON is one consent in a person's export.
type ConsentJSON struct {
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope"`
	GrantedAt string `json:"granted_at"`
}

// SessionJSON is one browser session in a person's export; AMR are the
// methods it was authenticated with.
type SessionJSON struct {
	AuthTime  string   `json:"auth_time"`
	ExpiresAt string   `json:"expires_at"`
	AMR       []string `json:"amr,omitempty"`
}

// FactorJSON is one second factor in a person's export.
type FactorJSON struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at,omitempty"`
}

// TokenRecordJSON is the record of one token in a person's export.
type TokenRecordJSON struct {
	Kind       string   `json:"kind"`
	ClientID   string   `json:"client_id"`
	Scope      string   `json:"scope,omitempty"`
	Audience   []string `json:"aud,omitempty"`
	JTI        string   `json:"jti,omitempty"`
	IssuedAt   string   `json:"issued_at"`
	ExpiresAt  string   `json:"expires_at"`
	ConsumedAt string   `json:"consumed_at,omitempty"`
}

// CreateUser registers a person (POST /admin/users). The server checks
// the password and keeps only a hash of it.
func (c *Client) CreateUser(ctx context.Context, in UserInput) (UserJSON, []byte, error) {
	return call[UserJSON](ctx, c, http.MethodPost, "/admin/users", nil, in)
}

// ListUsers returns every person, by username (GET /admin/users).
func (c *Client) ListUsers(ctx context.Context) (UserList, []byte, error) {
	return call[UserList](ctx, c, http.MethodGet, "/admin/users", nil, nil)
}

// GetUser returns one person (GET /admin/users/{id}).
func (c *Client) GetUser(ctx context.Context, id string) (UserJSON, []byte, error) {
	return call[UserJSON](ctx, c, http.MethodGet, route("users", id), nil, nil)
}

// DeleteUser deletes a person with their consents (DELETE
// /admin/users/{id}); their sessions end and their tokens are revoked.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, route("users", id), nil, nil)
	return err
}

// WithdrawConsents withdraws what person id consented to (DELETE
// /admin/users/{id}/consents): to clientID only, or to every client if
// clientID is "".
func (c *Client) WithdrawConsents(ctx context.Context, id, clientID string) (ConsentWithdrawal, []byte, error) {
	var q url.Values
	if clientID != "" {
		q = url.Values{"client_id": {clientID}}
	}
	return call[ConsentWithdrawal](ctx, c, http.MethodDelete, route("users", id, "/consents"), q, nil)
}

// ResetMFA removes every second factor of a person (POST
// /admin/users/{id}/mfa/reset): they set one up again at their next
// sign-in that needs one.
func (c *Client) ResetMFA(ctx context.Context, id string) (MFAReset, []byte, error) {
	return call[MFAReset](ctx, c, http.MethodPost, route("users", id, "/mfa/reset"), nil, nil)
}

// EraseUser erases a person for good (POST /admin/users/{id}/erase).
func (c *Client) EraseUser(ctx context.Context, id string) (UserErasure, []byte, error) {
	return call[UserErasure](ctx, c, http.MethodPost, route("users", id, "/erase"), nil, nil)
}

// ExportUser returns everything held about a person (GET
// /admin/users/{id}/export). It holds personal data.
func (c *Client) ExportUser(ctx context.Context, id string) (UserExport, []byte, error) {
	return call[UserExport](ctx, c, http.MethodGet, route("users", id, "/export"), nil, nil)
}
