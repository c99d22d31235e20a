package adminapi

import (
	"context"
	"net/http"
)

// UserPatch is what PATCH /admin/users/{id} takes: the fields to change;
// an absent (nil) field stays as it is.
type UserPatch struct {
	Username *string `json:"username,omitempty"`
	Name     *string `json:"name,omitempty"`
	Email    *string `json:"email,omitempty"`
}

// PasswordResetLink is the answer of POST /admin/users/{id}/password-reset:
// a link, usable once until ExpiresAt (Unix seconds), at which the person
// sets a new password. Hand it to them by a channel you trust.
type PasswordResetLink struct {
	UserID    string `json:"user_id"`
	Link      string `json:"link"`
	ExpiresAt int64  `json:"expires_at"`
}

// UpdateUser changes a person's username, name or email (PATCH
// /admin/users/{id}); 409 if the username or email is another person's.
func (c *Client) UpdateUser(ctx context.Context, id string, in UserPatch) (UserJSON, []byte, error) {
	return call[UserJSON](ctx, c, http.MethodPatch, route("users", id), nil, in)
}

// PasswordReset makes a single-use password-reset link for a person (POST
// /admin/users/{id}/password-reset), valid 30 minutes.
func (c *Client) PasswordReset(ctx context.Context, id string) (PasswordResetLink, []byte, error) {
	return call[PasswordResetLink](ctx, c, http.MethodPost, route("users", id, "/password-reset"), nil, nil)
}
